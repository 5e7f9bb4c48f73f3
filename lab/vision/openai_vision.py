"""Intent from pixels: the official OpenAI client, chat completions with the WebP frame as a data URL.

The answer is structured output (`response_format` json_schema, strict) and is checked again
against `IntentAnswer`; a refusal or an answer outside the schema fails loudly.
"""

from __future__ import annotations

import base64
import json
from typing import Literal, cast

import openai
from openai.types.chat import ChatCompletionMessageParam
from openai.types.shared_params import ResponseFormatJSONSchema
from pydantic import ValidationError

from lab.privacy.scrub import scrub_text
from lab.vision.intent import OPENAI_SOURCE_PREFIX, IntentAnswer, ScreenInput, ScreenIntent, intent_json_schema

SYSTEM_PROMPT = (
    "You look at a screenshot of a shopping website taken just before a shopper acted. "
    "Say what the shopper is trying to do at this step (a short imperative phrase such as "
    "'add the product to the cart'), what kind of page is on screen, how a person would name "
    "the element the shopper acts on, and how confident you are (0 to 1)."
)
# "low" sends the frame as one 512x512 tile (85 tokens): enough to read page type and layout
# at a fraction of the cost (https://platform.openai.com/docs/guides/images-vision#low-or-high-fidelity-image-understanding).
IMAGE_DETAIL: Literal["low"] = "low"
# Enough for the four short fields of the schema.
MAX_COMPLETION_TOKENS = 300


class VisionAnswerError(RuntimeError):
    """The vision model refused or answered outside the schema."""


def webp_data_url(data: bytes) -> str:
    return "data:image/webp;base64," + base64.b64encode(data).decode("ascii")


def step_hint(screen: ScreenInput) -> str:
    """The text the model gets next to the frame: the page and what the shopper then did."""
    what = screen.target_role or screen.target_tag or "element"
    label = screen.field_label or screen.target_text
    done = {
        "click": f'clicked {what} "{label}"',
        "fill": f'typed into {what} "{label}"',
        "select": f'chose an option in {what} "{label}"',
        "navigate": f"went to {screen.destination_url}",
    }[screen.action]
    lines = [f"Page URL: {screen.url}"]
    if screen.title:
        lines.append(f"Page title: {screen.title}")
    lines.append(f"Next, the shopper {' '.join(done.split())}.")
    return scrub_text("\n".join(lines))


class OpenAIScreenAnalyzer:
    """Reads a step's intent from its before-action frame with an OpenAI vision model."""

    def __init__(self, client: openai.AsyncOpenAI, model: str) -> None:
        self.client = client
        self.model = model

    @property
    def source(self) -> str:
        return OPENAI_SOURCE_PREFIX + self.model

    async def analyze(self, screen: ScreenInput) -> ScreenIntent:
        if not screen.image_webp:
            raise ValueError("image_webp: the OpenAI analyzer needs the step's screenshot")
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": step_hint(screen)},
                    {
                        "type": "image_url",
                        "image_url": {"url": webp_data_url(screen.image_webp), "detail": IMAGE_DETAIL},
                    },
                ],
            },
        ]
        response = await self.client.chat.completions.create(
            model=self.model,
            messages=messages,
            response_format=cast(ResponseFormatJSONSchema, intent_json_schema()),
            max_completion_tokens=MAX_COMPLETION_TOKENS,
        )
        message = response.choices[0].message
        if getattr(message, "refusal", None):
            raise VisionAnswerError(f"{self.model} refused to describe the frame: {message.refusal}")
        try:
            answer = IntentAnswer.model_validate(json.loads(message.content or ""))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise VisionAnswerError(f"{self.model} answered outside the intent schema: {message.content!r}") from exc
        return ScreenIntent(**answer.model_dump(), source=self.source)
