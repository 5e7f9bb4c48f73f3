"""Token counts of chat-format examples: the one place that estimates them.

tiktoken would count exactly but downloads its encodings at run time, which this project cannot
rely on (offline installs, sandboxed workers). `estimate_tokens` therefore approximates: about
4 characters per token for English text (OpenAI's rule of thumb,
https://help.openai.com/en/articles/4936856-what-are-tokens-and-how-to-count-them), the
cookbook's per-message overhead, and a fixed cost per image. Swap tiktoken in here, and only
here, when encodings can be shipped with the install.
"""

from __future__ import annotations

import json
import math
from typing import Any

CHARS_PER_TOKEN = 4
# Every message costs 3 tokens of framing, a `name` 1 more, and every reply is primed with 3
# (num_tokens_from_messages in https://cookbook.openai.com/examples/chat_finetuning_data_prep).
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3
# gpt-4o image cost (https://developers.openai.com/api/docs/guides/images-vision, "Calculating costs"):
# `detail: low` is 85 tokens; high/auto is 85 + 170 per 512 px tile after scaling the shortest side
# to 768 px. A desktop screenshot (1440x900 -> 1229x768) is 3 x 2 tiles: 85 + 6 x 170 = 1105.
LOW_DETAIL_IMAGE_TOKENS = 85
SCREENSHOT_IMAGE_TOKENS = 1105


def text_tokens(text: str) -> int:
    """Approximate tokens of a piece of text."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def _image_tokens(part: dict[str, Any]) -> int:
    image = part.get("image_url")
    detail = image.get("detail") if isinstance(image, dict) else None
    return LOW_DETAIL_IMAGE_TOKENS if detail == "low" else SCREENSHOT_IMAGE_TOKENS


def _content_tokens(content: object) -> int:
    if isinstance(content, str):
        return text_tokens(content)
    if not isinstance(content, list):
        return 0
    total = 0
    for part in content:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "image_url":
            total += _image_tokens(part)
        elif isinstance(part.get("text"), str):
            total += text_tokens(part["text"])
        elif isinstance(part.get("refusal"), str):
            total += text_tokens(part["refusal"])
    return total


def estimate_tokens(example: object) -> int:
    """Approximate tokens one training example costs (messages, tool calls, tool definitions, images)."""
    if not isinstance(example, dict):
        return 0
    total = REPLY_PRIMING_TOKENS
    messages = example.get("messages")
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, dict):
            continue
        total += TOKENS_PER_MESSAGE + _content_tokens(message.get("content"))
        if isinstance(message.get("name"), str):
            total += TOKENS_PER_NAME + text_tokens(message["name"])
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                total += text_tokens(str(function.get("name", ""))) + text_tokens(str(function.get("arguments", "")))
    if example.get("tools"):
        total += text_tokens(json.dumps(example["tools"], separators=(",", ":")))
    return total


def image_count(example: object) -> int:
    """How many image parts an example holds, in any message."""
    if not isinstance(example, dict) or not isinstance(example.get("messages"), list):
        return 0
    return sum(
        1
        for message in example["messages"]
        if isinstance(message, dict) and isinstance(message.get("content"), list)
        for part in message["content"]
        if isinstance(part, dict) and part.get("type") == "image_url"
    )
