"""The wire format the extension (and `codesight collect`) sends: version 1.

One schema for REST and WebSocket. A batch is validated event by event so that
one bad event never costs the valid ones beside it; errors name the field as
``events[<index>].<path>``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

WIRE_VERSION = 1

# Largest accepted screenshot data URL: a 1440x900 WebP at quality 0.8 is ~150 kB.
MAX_IMAGE_DATA_URL_CHARS = 8_000_000


class WireModel(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class SelectorCandidateWire(WireModel):
    kind: str = Field(min_length=1, max_length=40)
    selector: str = Field(min_length=1, max_length=4000)
    score: float


class SelectorRecord(WireModel):
    """What `codesightSelectors.generate(element)` returns, ranked best first."""

    candidates: list[SelectorCandidateWire] = Field(min_length=1)
    fingerprint: dict[str, Any] = Field(default_factory=dict)


class ElementSummary(WireModel):
    tag: str = ""
    text: str = ""
    role: str | None = None


class FieldSummary(WireModel):
    tag: str = ""
    type: str | None = None
    name: str | None = None
    autocomplete: str | None = None
    label: str | None = None


class PageStructure(WireModel):
    headings: list[str] = Field(default_factory=list)
    landmarks: list[str] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)
    outline: str = ""


class EventBase(WireModel):
    seq: int = Field(ge=0)
    t: int = Field(ge=0, description="milliseconds since the Unix epoch")
    url: str = Field(min_length=1, max_length=8000)


class PageEvent(EventBase):
    type: Literal["page"]
    title: str = ""
    structure: PageStructure = Field(default_factory=PageStructure)
    viewport: dict[str, int] = Field(default_factory=dict)


class ClickEvent(EventBase):
    type: Literal["click"]
    target: ElementSummary
    selectors: SelectorRecord
    x: float | None = None
    y: float | None = None


class InputEvent(EventBase):
    type: Literal["input"]
    selectors: SelectorRecord
    field: FieldSummary
    value: str = Field(default="", max_length=2000, description="already masked in the browser")


class NavigationEvent(EventBase):
    type: Literal["navigation"]
    from_url: str | None = None
    kind: Literal["load", "history", "hash"] = "load"


class ScreenshotEvent(EventBase):
    type: Literal["screenshot"]
    reason: Literal["click", "navigation", "modal", "submit", "manual"]
    for_seq: int | None = Field(default=None, ge=0)
    image: str = Field(
        pattern=r"^data:image/webp;base64,",
        max_length=MAX_IMAGE_DATA_URL_CHARS,
        description="WebP only, as a data URL",
    )
    width: int = Field(gt=0)
    height: int = Field(gt=0)


WireEvent = Annotated[
    PageEvent | ClickEvent | InputEvent | NavigationEvent | ScreenshotEvent,
    Field(discriminator="type"),
]
EVENT_TYPES = ("page", "click", "input", "navigation", "screenshot")

_event_adapter: TypeAdapter[WireEvent] = TypeAdapter(WireEvent)


class SessionOpen(BaseModel):
    """Body of `POST /api/v1/sessions`."""

    model_config = ConfigDict(extra="forbid")

    v: Literal[1] = 1
    mode: Literal["human", "automated"] = "human"
    site: str = Field(min_length=1, max_length=200)
    site_version: str | None = Field(default=None, max_length=50)
    start_url: str | None = Field(default=None, max_length=8000)
    user_agent: str | None = Field(default=None, max_length=1000)


class SessionOpened(BaseModel):
    id: str
    ws_url: str


class EventError(BaseModel):
    index: int
    seq: int | None
    field: str
    message: str


class BatchAck(BaseModel):
    """Reply to a batch; `ack_seq` is the highest seq of the batch now stored."""

    type: Literal["ack"] = "ack"
    ack_seq: int | None
    accepted: list[int]
    duplicates: list[int] = Field(default_factory=list)
    errors: list[EventError] = Field(default_factory=list)


class ParsedBatch(BaseModel):
    events: list[Any]
    errors: list[EventError]


def _field_path(index: int, loc: tuple[int | str, ...]) -> str:
    path = f"events[{index}]"
    # pydantic puts the discriminator's value ("click", ...) first; an unknown or missing
    # tag comes with an empty location and is a problem with `type` itself.
    if not loc:
        return f"{path}.type"
    parts = loc[1:] if loc[0] in EVENT_TYPES else loc
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def parse_batch(body: object) -> tuple[list[Any], list[EventError]]:
    """Validate a batch event by event: the valid events and one error per invalid one.

    Raises ValueError naming the field when the envelope itself is malformed.
    """
    if not isinstance(body, dict):
        raise ValueError("body: expected a JSON object with 'v' and 'events'")
    version = body.get("v", WIRE_VERSION)
    if version != WIRE_VERSION:
        raise ValueError(f"v: unsupported wire version {version!r}; this server speaks {WIRE_VERSION}")
    raw_events = body.get("events")
    if not isinstance(raw_events, list):
        raise ValueError("events: expected a list of events")
    events: list[Any] = []
    errors: list[EventError] = []
    for index, raw in enumerate(raw_events):
        seq = raw.get("seq") if isinstance(raw, dict) and isinstance(raw.get("seq"), int) else None
        try:
            events.append(_event_adapter.validate_python(raw))
        except ValidationError as exc:
            first = exc.errors()[0]
            errors.append(
                EventError(
                    index=index,
                    seq=seq,
                    field=_field_path(index, tuple(first["loc"])),
                    message=first["msg"],
                )
            )
    return events, errors
