"""The wire format the extension (and `codesight collect`) sends: version 1.

One schema for REST and WebSocket. A batch is validated event by event so that
one bad event never costs the valid ones beside it; errors name the field as
``events[<index>].<path>``.

Version 1 grows additively: new event types and new optional fields only, so every
payload an older extension sent still validates (tests/fixtures/sessions hold real ones).
Values are masked in the browser (extension/privacy.js) before they get here.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

WIRE_VERSION = 1

# Largest accepted screenshot data URL: a 1440x900 WebP at quality 0.8 is ~150 kB.
MAX_IMAGE_DATA_URL_CHARS = 8_000_000
# Largest accepted DOM snapshot (gzip, base64): a typical shop page is 10-60 kB compressed.
MAX_SNAPSHOT_DATA_URL_CHARS = 8_000_000
# Largest accepted audio segment (WebM/Opus, base64): 30 s at 24 kbit/s is ~120 kB.
MAX_AUDIO_DATA_URL_CHARS = 8_000_000
# Bounds of the columns numbers are stored in (events.seq, screenshots.for_seq are bigint; screenshots.width
# and height integer), https://www.postgresql.org/docs/current/datatype-numeric.html#DATATYPE-INT: a larger
# value passes JSON but fails the insert, so it is refused here with the field named.
MAX_BIGINT = 2**63 - 1
MAX_INTEGER = 2**31 - 1
# Last millisecond of year 9999: Python's datetime (events.t is stored as one) ends there.
MAX_EPOCH_MS = 253_402_300_799_999
# Deepest nesting of lists and objects in an event (a fingerprint's is about 5): far deeper JSON would
# exhaust Python's recursion limit somewhere between here and the jsonb column.
MAX_NESTING_DEPTH = 64


class WireModel(BaseModel):
    # NaN and Infinity (which Python's JSON reader accepts, JSON.stringify never sends) cannot go into jsonb.
    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False)


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


FieldCategory = Literal[
    "password",
    "hidden",
    "file",
    "payment",
    "email",
    "phone",
    "name",
    "address",
    "personal",
    "search",
    "number",
    "choice",
    "text",
]


class FieldSummary(WireModel):
    tag: str = ""
    type: str | None = None
    name: str | None = None
    autocomplete: str | None = None
    label: str | None = None
    category: FieldCategory | None = Field(default=None, description="what kind of data it holds (privacy.js)")
    sensitive: bool | None = None
    required: bool | None = None


class FormSummary(WireModel):
    """A form's metadata: where it goes and what it asks for, never what was typed."""

    id: str | None = None
    name: str | None = None
    action: str | None = None
    method: str = "get"
    fields: list[FieldSummary] = Field(default_factory=list)
    submit: str | None = None


class ProductRegion(WireModel):
    name: str
    price: str


class PageStructure(WireModel):
    headings: list[str] = Field(default_factory=list)
    landmarks: list[str] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)
    outline: str = ""
    forms: list[FormSummary] = Field(default_factory=list)
    products: list[ProductRegion] = Field(default_factory=list)


class EventBase(WireModel):
    seq: int = Field(ge=0, le=MAX_BIGINT)
    t: int = Field(ge=0, le=MAX_EPOCH_MS, description="milliseconds since the Unix epoch")
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


class DoubleClickEvent(EventBase):
    type: Literal["dblclick"]
    target: ElementSummary
    selectors: SelectorRecord
    x: float | None = None
    y: float | None = None


class InputEvent(EventBase):
    type: Literal["input"]
    selectors: SelectorRecord
    field: FieldSummary
    value: str = Field(default="", max_length=2000, description="already masked in the browser")
    trigger: Literal["input", "change", "select"] | None = Field(
        default=None, description="typing settled, the field changed (blur, checkbox), or a <select> choice"
    )


class SubmitEvent(EventBase):
    type: Literal["submit"]
    form: FormSummary
    selectors: SelectorRecord | None = None
    submitter: str | None = Field(default=None, max_length=200)


class NavigationEvent(EventBase):
    type: Literal["navigation"]
    from_url: str | None = None
    kind: Literal["load", "reload", "back_forward", "history", "push", "replace", "pop", "navigate", "hash"] = "load"


class ScrollEvent(EventBase):
    type: Literal["scroll"]
    y: int
    x: int = 0
    direction: Literal["up", "down"] | None = None
    depth_pct: float = Field(ge=0, le=100, description="bottom of the viewport as a share of the page height")
    max_depth_pct: float = Field(default=0, ge=0, le=100, description="deepest so far on this page")
    page_height: int | None = Field(default=None, ge=0)
    viewport_h: int | None = Field(default=None, ge=0)


class DwellEvent(EventBase):
    """The pointer rested on an interactive element (hesitation) before leaving or clicking it."""

    type: Literal["dwell"]
    target: ElementSummary
    selectors: SelectorRecord | None = None
    duration_ms: int = Field(ge=0)
    ended_by: Literal["leave", "click"] = "leave"


class KeyEvent(EventBase):
    type: Literal["key"]
    key: Literal["Enter", "Escape", "Tab"]
    modifiers: list[Literal["shift", "ctrl", "alt", "meta"]] = Field(default_factory=list)
    target: ElementSummary = Field(default_factory=ElementSummary)
    field: FieldSummary | None = None
    selectors: SelectorRecord | None = None


class VisibilityEvent(EventBase):
    type: Literal["visibility"]
    state: Literal["visible", "hidden"]


class ModalEvent(EventBase):
    type: Literal["modal"]
    state: Literal["open", "close"]
    modal_id: int = Field(ge=0, description="pairs an open with its close within one page")
    kind: Literal["dialog", "aria", "cookie", "overlay"]
    title: str = Field(default="", max_length=500)
    text: str = Field(default="", max_length=2000)
    buttons: list[str] = Field(default_factory=list)
    fields: int = Field(default=0, ge=0)
    selectors: SelectorRecord | None = None
    open_ms: int | None = Field(default=None, ge=0)


class ScreenshotEvent(EventBase):
    type: Literal["screenshot"]
    reason: Literal["click", "navigation", "modal", "submit", "manual"]
    for_seq: int | None = Field(default=None, ge=0, le=MAX_BIGINT)
    image: str = Field(
        pattern=r"^data:image/webp;base64,",
        max_length=MAX_IMAGE_DATA_URL_CHARS,
        description="WebP only, as a data URL",
    )
    width: int = Field(gt=0, le=MAX_INTEGER)
    height: int = Field(gt=0, le=MAX_INTEGER)
    burst: int | None = Field(default=None, ge=0, description="seq of the page whose navigation burst this frame is")
    frame: int | None = Field(default=None, ge=0, description="index among the burst's kept frames")
    stable: bool | None = Field(default=None, description="the frame from which the page stopped changing")
    dhash: str | None = Field(default=None, pattern=r"^[0-9a-f]{16,256}$", description="perceptual hash (hex)")
    masked_boxes: int | None = Field(default=None, ge=0, description="boxes of personal data painted over")


class SnapshotEvent(EventBase):
    """The page's DOM, serialized with form values masked, gzip-compressed: replay's stored snapshot."""

    type: Literal["snapshot"]
    for_seq: int | None = Field(default=None, ge=0, description="seq of the page event it belongs to")
    data: str = Field(pattern=r"^data:application/gzip;base64,", max_length=MAX_SNAPSHOT_DATA_URL_CHARS)
    raw_chars: int | None = Field(default=None, ge=0)
    size_bytes: int | None = Field(default=None, ge=0)
    nodes: int | None = Field(default=None, ge=0)
    truncated: bool = False


class AudioEvent(EventBase):
    """One standalone WebM/Opus segment of the participant's microphone (only when they turned audio on)."""

    type: Literal["audio"]
    data: str = Field(pattern=r"^data:audio/webm(;codecs=opus)?;base64,", max_length=MAX_AUDIO_DATA_URL_CHARS)
    mime: str = "audio/webm;codecs=opus"
    duration_ms: int = Field(ge=0)
    segment: int = Field(ge=0)


WireEvent = Annotated[
    PageEvent
    | ClickEvent
    | DoubleClickEvent
    | InputEvent
    | SubmitEvent
    | NavigationEvent
    | ScrollEvent
    | DwellEvent
    | KeyEvent
    | VisibilityEvent
    | ModalEvent
    | ScreenshotEvent
    | SnapshotEvent
    | AudioEvent,
    Field(discriminator="type"),
]
EVENT_TYPES = (
    "page",
    "click",
    "dblclick",
    "input",
    "submit",
    "navigation",
    "scroll",
    "dwell",
    "key",
    "visibility",
    "modal",
    "screenshot",
    "snapshot",
    "audio",
)
# Events whose binary payload (a data URL) goes to the blob store, not into the events table.
BLOB_FIELDS: dict[str, str] = {"screenshot": "image", "snapshot": "data", "audio": "data"}

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

    @model_validator(mode="before")
    @classmethod
    def _replace_nul(cls, data: Any) -> Any:
        """A NUL or lone surrogate in any field becomes U+FFFD, as in events: Postgres cannot store it.

        See `_storable`.
        """
        return _storable(data)


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


class EnvelopeError(ValueError):
    """The batch as a whole is malformed (not its events); the message starts with the field."""


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


# Postgres text and jsonb cannot hold U+0000, which a page can (textContent, input values set by
# script): it would fail the whole batch on every resend. It becomes U+FFFD, as the HTML parser
# turns a NUL in markup into U+FFFD (https://html.spec.whatwg.org/#parse-error-unexpected-null-character).
# So does a lone UTF-16 surrogate, which the extension sends whenever `text.slice(0, n)` cuts an emoji in
# half (JSON.stringify writes it as "\ud83d"): jsonb refuses it and a text column cannot encode it in UTF-8.
# It becomes U+FFFD too, as the browser's own TextEncoder does (https://encoding.spec.whatwg.org/#utf-8-encode).
NUL = "\x00"
NUL_REPLACEMENT = "\ufffd"
_UNSTORABLE_CHARS = re.compile("[\x00\ud800-\udfff]")


class TooDeepError(ValueError):
    """Lists and objects nested deeper than MAX_NESTING_DEPTH."""


def _storable(value: Any, depth: int = 0) -> Any:
    """`value` with every NUL and lone surrogate in its strings (keys too) replaced; untouched when it has none.

    Raises TooDeepError when it nests deeper than MAX_NESTING_DEPTH.
    """
    if isinstance(value, str):
        return _UNSTORABLE_CHARS.sub(NUL_REPLACEMENT, value)
    if isinstance(value, dict | list) and depth >= MAX_NESTING_DEPTH:
        raise TooDeepError(f"lists and objects nested deeper than {MAX_NESTING_DEPTH} levels")
    if isinstance(value, dict):
        return {_storable(k): _storable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v, depth + 1) for v in value]
    return value


def parse_batch(body: object) -> tuple[list[Any], list[EventError]]:
    """Validate a batch event by event: the valid events and one error per invalid one.

    Raises EnvelopeError (a ValueError) naming the field when the envelope itself is malformed.
    """
    if not isinstance(body, dict):
        raise EnvelopeError("body: expected a JSON object with 'v' and 'events'")
    version = body.get("v", WIRE_VERSION)
    if version != WIRE_VERSION:
        raise EnvelopeError(f"v: unsupported wire version {version!r}; this server speaks {WIRE_VERSION}")
    raw_events = body.get("events")
    if not isinstance(raw_events, list):
        raise EnvelopeError("events: expected a list of events")
    events: list[Any] = []
    errors: list[EventError] = []
    for index, raw in enumerate(raw_events):
        seq = raw.get("seq") if isinstance(raw, dict) and isinstance(raw.get("seq"), int) else None
        try:
            events.append(_event_adapter.validate_python(_storable(raw)))
        except TooDeepError as exc:
            errors.append(EventError(index=index, seq=seq, field=f"events[{index}]", message=str(exc)))
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
