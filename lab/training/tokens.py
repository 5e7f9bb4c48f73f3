"""Token counts of chat-format examples: the one place that counts them.

Text is counted with tiktoken in the model's encoding (o200k_base for GPT-4o, GPT-4.1 and later,
cl100k_base for GPT-4 and GPT-3.5), from the files `lab.training.encodings` installs; messages,
names and tool definitions are framed as OpenAI's cookbook counts them
(https://cookbook.openai.com/examples/how_to_count_tokens_with_tiktoken, `num_tokens_from_messages`
and `num_tokens_for_tools`, whose figures match the API's `usage.prompt_tokens`); images cost what
OpenAI's vision guide says for the model and the image's size. When the encoding files are missing,
text falls back to about 4 characters per token and `token_counting` says so.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import structlog
import tiktoken
from PIL import Image, UnidentifiedImageError

from lab.config import get_settings, point_tiktoken_at
from lab.training import encodings

log = structlog.get_logger(__name__)

DEFAULT_MODEL = "gpt-4o-2024-08-06"
# Models tiktoken does not know (Azure deployments, compatible endpoints) count in the encoding of every
# model that fine-tunes today.
DEFAULT_ENCODING = "o200k_base"
# Without encoding files: about 4 characters per token of English text
# (https://help.openai.com/en/articles/4936856-what-are-tokens-and-how-to-count-them).
CHARS_PER_TOKEN = 4

# num_tokens_from_messages: every message costs 3 tokens of framing, a `name` 1 more, and every reply is
# primed with 3 (<|start|>assistant<|message|>), for gpt-3.5-turbo-0125, gpt-4-0613 and gpt-4o alike.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3
# num_tokens_for_tools: tokens around each function (7 for gpt-4o / gpt-4o-mini, 10 for gpt-4 / gpt-3.5),
# around its properties, per property, per enum and enum item, and after the last function.
FUNCTION_INIT_TOKENS = {"o200k_base": 7, "cl100k_base": 10}
PROPERTIES_INIT_TOKENS = 3
PROPERTY_KEY_TOKENS = 3
ENUM_INIT_TOKENS = -3
ENUM_ITEM_TOKENS = 3
FUNCTIONS_END_TOKENS = 12

# Image costs, "Calculating costs" in https://developers.openai.com/api/docs/guides/images-vision.
# Tile-based models: (base, per 512-px tile) tokens after fitting 2048 x 2048 and scaling the shortest side
# to 768 px; `detail: low` costs the base alone. Longest matching prefix of the base model wins.
IMAGE_TILE_COSTS: dict[str, tuple[int, int]] = {
    "gpt-4o-mini": (2833, 5667),
    "gpt-4o": (85, 170),
    "gpt-4.1": (85, 170),
    "gpt-4.5": (85, 170),
    "o1": (75, 150),
    "o3": (75, 150),
    "gpt-5": (70, 140),
}
# Patch-based models: one token per 32-px patch, at most 1536 patches, times the model's multiplier.
IMAGE_PATCH_MULTIPLIERS: dict[str, float] = {
    "gpt-4.1-mini": 1.62,
    "gpt-4.1-nano": 2.46,
    "o4-mini": 1.72,
    "gpt-5-mini": 1.62,
    "gpt-5-nano": 2.46,
}
PATCH_PX = 32
MAX_PATCHES = 1536
TILE_PX = 512
FIT_PX = 2048
SHORT_SIDE_PX = 768
# Images whose size cannot be read (remote URLs) are taken as a desktop screenshot, what the extension captures.
ASSUMED_IMAGE_SIZE = (1440, 900)


@dataclass(frozen=True)
class TokenCounting:
    """How tokens are counted for a model: exactly with an encoding, or approximated, and why."""

    encoding: str
    exact: bool
    note: str


def encoding_name(model: str) -> str:
    """tiktoken's encoding for a model; fine-tuned names (`ft:gpt-4o-...`, `gpt-4o-....ft-x`) included.
    Models of older encodings (none fine-tunes today) and unknown ones count in DEFAULT_ENCODING."""
    try:
        name = tiktoken.encoding_name_for_model(model)
    except KeyError:
        return DEFAULT_ENCODING
    return name if name in encodings.ENCODINGS else DEFAULT_ENCODING


@lru_cache(maxsize=4)
def _encoding(name: str) -> tiktoken.Encoding | None:
    cache_dir = get_settings().tiktoken_cache_dir
    if not encodings.is_installed(cache_dir, name):
        log.warning("tokens.approximated", encoding=name, missing=str(encodings.cache_path(cache_dir, name)))
        return None
    point_tiktoken_at(cache_dir)
    return tiktoken.get_encoding(name)


def token_counting(model: str = DEFAULT_MODEL) -> TokenCounting:
    """Whether tokens of `model` count exactly here; the note is meant for people."""
    name = encoding_name(model)
    if _encoding(name) is not None:
        return TokenCounting(name, True, f"tokens counted with tiktoken's {name}")
    where = get_settings().tiktoken_cache_dir
    return TokenCounting(
        name,
        False,
        f"tokens approximated at {CHARS_PER_TOKEN} characters per token: tiktoken's {name} data is not in {where}; "
        "run `make setup` (or `npm install && python -m lab.training.install_encodings`) to count exactly",
    )


def _text_counter(model: str) -> Callable[[str], int]:
    encoding = _encoding(encoding_name(model))
    if encoding is None:
        return lambda text: math.ceil(len(text) / CHARS_PER_TOKEN)
    return lambda text: len(encoding.encode(text, disallowed_special=()))


def text_tokens(text: str, model: str = DEFAULT_MODEL) -> int:
    """Tokens of a piece of text for `model`."""
    return _text_counter(model)(text)


# --- images -------------------------------------------------------------------------------


def _base_model(model: str) -> str:
    if model.startswith("ft:"):
        return model.split(":")[1]
    return model.split(".ft-")[0]


def _by_prefix(table: dict[str, Any], model: str) -> Any:
    matches = [prefix for prefix in table if _base_model(model).startswith(prefix)]
    return table[max(matches, key=len)] if matches else None


def image_size(url: str) -> tuple[int, int] | None:
    """Width and height of a `data:` URL's image, read from its header; None for anything else."""
    if not url.startswith("data:") or "," not in url:
        return None
    try:
        with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1], validate=False))) as image:
            return image.size
    except (binascii.Error, UnidentifiedImageError, OSError, ValueError):
        return None


def image_tokens(width: int, height: int, model: str = DEFAULT_MODEL, detail: str = "auto") -> int:
    """What one image of that size costs `model` (OpenAI's vision guide; unknown models as gpt-4o)."""
    multiplier = _by_prefix(IMAGE_PATCH_MULTIPLIERS, model)
    if multiplier is not None:
        return math.ceil(_patches(width, height) * multiplier)
    base, per_tile = _by_prefix(IMAGE_TILE_COSTS, model) or IMAGE_TILE_COSTS["gpt-4o"]
    if detail == "low":
        return int(base)
    w, h = float(width), float(height)
    if max(w, h) > FIT_PX:
        w, h = w * FIT_PX / max(w, h), h * FIT_PX / max(w, h)
    if min(w, h) > SHORT_SIDE_PX:
        w, h = w * SHORT_SIDE_PX / min(w, h), h * SHORT_SIDE_PX / min(w, h)
    return int(base + per_tile * math.ceil(w / TILE_PX) * math.ceil(h / TILE_PX))


def _patches(width: int, height: int) -> int:
    patches = math.ceil(width / PATCH_PX) * math.ceil(height / PATCH_PX)
    if patches <= MAX_PATCHES:
        return patches
    shrink = math.sqrt(PATCH_PX * PATCH_PX * MAX_PATCHES / (width * height))
    w, h = width * shrink / PATCH_PX, height * shrink / PATCH_PX
    shrink *= min(math.floor(w) / w, math.floor(h) / h)
    return min(MAX_PATCHES, math.ceil(int(width * shrink) / PATCH_PX) * math.ceil(int(height * shrink) / PATCH_PX))


def _image_part_tokens(part: dict[str, Any], model: str) -> int:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    detail = image.get("detail") if isinstance(image, dict) else None
    size = image_size(url) if isinstance(url, str) else None
    detail = detail if isinstance(detail, str) else "auto"
    return image_tokens(*(size or ASSUMED_IMAGE_SIZE), model=model, detail=detail)


# --- examples -----------------------------------------------------------------------------


def _content_tokens(content: object, text: Callable[[str], int], model: str) -> int:
    if isinstance(content, str):
        return text(content)
    if not isinstance(content, list):
        return 0
    total = 0
    for part in content:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "image_url":
            total += _image_part_tokens(part, model)
        elif isinstance(part.get("text"), str):
            total += text(part["text"])
        elif isinstance(part.get("refusal"), str):
            total += text(part["refusal"])
    return total


def _message_tokens(message: dict[str, Any], text: Callable[[str], int], model: str) -> int:
    total = TOKENS_PER_MESSAGE + _content_tokens(message.get("content"), text, model)
    if isinstance(message.get("role"), str):
        total += text(message["role"])
    if isinstance(message.get("name"), str):
        total += TOKENS_PER_NAME + text(message["name"])
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            total += text(str(function.get("name", ""))) + text(str(function.get("arguments", "")))
    return total


def _properties_tokens(properties: dict[str, Any], text: Callable[[str], int]) -> int:
    """num_tokens_for_tools over a `properties` object; nested objects and arrays of objects (which the
    cookbook's flat example does not have) are counted the same way, one level down."""
    total = PROPERTIES_INIT_TOKENS
    for key, schema in properties.items():
        schema = schema if isinstance(schema, dict) else {}
        total += PROPERTY_KEY_TOKENS
        if isinstance(schema.get("enum"), list):
            total += ENUM_INIT_TOKENS + sum(ENUM_ITEM_TOKENS + text(str(item)) for item in schema["enum"])
        description = str(schema.get("description", "")).removesuffix(".")
        total += text(f"{key}:{schema.get('type', '')}:{description}")
        items = schema.get("items")
        nested = schema.get("properties") or (items.get("properties") if isinstance(items, dict) else None)
        if isinstance(nested, dict) and nested:
            total += _properties_tokens(nested, text)
    return total


def _tools_tokens(tools: list[Any], text: Callable[[str], int], encoding: str) -> int:
    functions: list[dict[str, Any]] = [
        tool["function"] for tool in tools if isinstance(tool, dict) and isinstance(tool.get("function"), dict)
    ]
    if not functions:
        return 0
    total = FUNCTIONS_END_TOKENS
    for function in functions:
        total += FUNCTION_INIT_TOKENS.get(encoding, FUNCTION_INIT_TOKENS[DEFAULT_ENCODING])
        description = str(function.get("description", "")).removesuffix(".")
        total += text(f"{function.get('name', '')}:{description}")
        parameters = function.get("parameters")
        properties = parameters.get("properties") if isinstance(parameters, dict) else None
        if isinstance(properties, dict) and properties:
            total += _properties_tokens(properties, text)
    return total


def estimate_tokens(example: object, model: str = DEFAULT_MODEL) -> int:
    """Tokens one training example costs `model`: messages, tool calls, tool definitions and images."""
    if not isinstance(example, dict):
        return 0
    text = _text_counter(model)
    total = REPLY_PRIMING_TOKENS
    messages = example.get("messages")
    for message in messages if isinstance(messages, list) else ():
        if isinstance(message, dict):
            total += _message_tokens(message, text, model)
    if isinstance(example.get("tools"), list):
        total += _tools_tokens(example["tools"], text, encoding_name(model))
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
