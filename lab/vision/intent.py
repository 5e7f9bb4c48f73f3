"""What a key screenshot says about the shopper's intent: the shared shape of every analyzer's answer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lab.insights.pages import PAGE_KINDS, PageKind

ScreenAction = Literal["click", "fill", "select", "navigate"]
DOM_HEURISTIC_SOURCE = "dom-heuristic"
OPENAI_SOURCE_PREFIX = "openai:"


@dataclass(frozen=True)
class ScreenInput:
    """One step to explain: the page it happened on, the element acted on, and its before-action frame."""

    action: ScreenAction
    url: str
    title: str = ""
    headings: tuple[str, ...] = ()
    outline: str = ""
    target_tag: str = ""
    target_text: str = ""
    target_role: str | None = None
    field_label: str | None = None
    value: str | None = None
    destination_url: str | None = None
    image_webp: bytes | None = None


@dataclass(frozen=True)
class ScreenIntent:
    """An analyzer's reading of one step; `source` says which analyzer ("dom-heuristic", "openai:<model>")."""

    intent: str
    page_type: PageKind
    target_description: str
    confidence: float
    source: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScreenIntent:
        answer = IntentAnswer.model_validate({key: value for key, value in data.items() if key != "source"})
        return cls(**answer.model_dump(), source=str(data["source"]))


class IntentAnswer(BaseModel):
    """The structured output a vision model must return (also the JSON schema sent to it)."""

    model_config = ConfigDict(extra="forbid")

    intent: str = Field(min_length=1, max_length=200, description="what the shopper is trying to do at this step")
    page_type: PageKind = Field(description="the kind of shop page on screen")
    target_description: str = Field(
        min_length=1, max_length=200, description="the element the shopper acts on, as a person would name it"
    )
    confidence: float = Field(ge=0, le=1, description="how sure the reading is, 0 to 1")


def intent_json_schema() -> dict[str, Any]:
    """`response_format` for chat completions: strict JSON schema of `IntentAnswer`.

    Strict mode wants every property required and no extra ones
    (https://platform.openai.com/docs/guides/structured-outputs#supported-schemas); the
    length and range bounds are checked on our side, since strict mode does not take them all.
    """
    return {
        "type": "json_schema",
        "json_schema": {
            "name": "screen_intent",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {
                    "intent": {"type": "string", "description": "what the shopper is trying to do at this step"},
                    "page_type": {"type": "string", "enum": list(PAGE_KINDS)},
                    "target_description": {
                        "type": "string",
                        "description": "the element the shopper acts on, as a person would name it",
                    },
                    "confidence": {"type": "number", "description": "how sure the reading is, 0 to 1"},
                },
                "required": ["intent", "page_type", "target_description", "confidence"],
                "additionalProperties": False,
            },
        },
    }
