"""A session's events as plain data, and tolerant readers of the fields insights need.

The wire format grows (hover, dwell, scroll, keys, modal, ...) while this code runs on
sessions of every age, so readers look for a field under the names a capture may use and
return None when it is absent; an event type nobody here knows is simply ignored.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

# Events that are something the shopper did to the page (the steps an agent must learn).
ACTION_TYPES = frozenset({"click", "dblclick", "input", "submit", "key", "keys"})
# Events that say the pointer rested on an element; the wire's `dwell` is only sent for
# interactive elements, with `ended_by: "click"` when the rest ended in a click on it.
HOVER_TYPES = frozenset({"dwell", "hover", "mouseover"})
DWELL_TYPE = "dwell"
VISIBILITY_TYPE = "visibility"
# A new document or SPA view: the page event carries title and structure.
PAGE_TYPE = "page"
NAVIGATION_TYPE = "navigation"
SCROLL_TYPE = "scroll"
SUBMIT_TYPE = "submit"

# Field names a capture may use, in order of preference.
DURATION_KEYS = ("duration_ms", "dwell_ms", "hover_ms", "ms", "duration")
SCROLL_PERCENT_KEYS = ("depth_pct", "max_depth_pct", "depth_percent", "percent", "scroll_pct")
SCROLL_FRACTION_KEYS = ("depth", "max_depth", "fraction")
INTERACTIVE_TAGS = frozenset({"a", "button", "input", "select", "textarea", "summary", "label", "option", "details"})
INTERACTIVE_ROLES = frozenset(
    {
        "button",
        "link",
        "checkbox",
        "radio",
        "switch",
        "tab",
        "menuitem",
        "menuitemcheckbox",
        "menuitemradio",
        "option",
        "combobox",
        "listbox",
        "textbox",
        "searchbox",
        "slider",
        "spinbutton",
    }
)
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class JourneyEvent:
    """One captured event: its wire type, order, time (ms since the epoch), URL and payload."""

    seq: int
    type: str
    t_ms: int
    url: str
    payload: Mapping[str, Any] = field(default_factory=dict)


def page_key(url: str) -> str:
    """What identifies a page for 'visited before': host, path and query; the fragment is dropped."""
    parts = urlsplit(url)
    path = parts.path or "/"
    return f"{parts.netloc}{path}?{parts.query}" if parts.query else f"{parts.netloc}{path}"


def collapse(text: object) -> str:
    return _SPACE.sub(" ", str(text or "")).strip()


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def duration_ms(event: JourneyEvent) -> int | None:
    """How long a hover or dwell lasted, when the event says so (never negative)."""
    for key in DURATION_KEYS:
        number = _number(event.payload.get(key))
        if number is not None:
            return max(0, round(number))
    return None


def scroll_depth_pct(event: JourneyEvent) -> float | None:
    """How far down the page a scroll event reached, in percent of the page (0-100).

    The deepest of the percent fields present (the wire sends `depth_pct` and `max_depth_pct`);
    fraction fields (0-1) are scaled; else the depth is computed from the scroll offset,
    viewport and page heights when all three are there.
    """
    payload = event.payload
    percents = [n for key in SCROLL_PERCENT_KEYS if (n := _number(payload.get(key))) is not None]
    percents += [
        n * 100 if n <= 1 else n for key in SCROLL_FRACTION_KEYS if (n := _number(payload.get(key))) is not None
    ]
    if not percents:
        y = _first_number(payload, ("y", "scroll_y"))
        viewport = _first_number(payload, ("viewport_h", "viewport_height"))
        height = _first_number(payload, ("page_height", "page_h", "document_height"))
        if y is None or viewport is None or not height:
            return None
        percents = [(y + viewport) / height * 100]
    return min(100.0, max(0.0, max(percents)))


def _first_number(payload: Mapping[str, Any], keys: tuple[str, ...]) -> float | None:
    for key in keys:
        number = _number(payload.get(key))
        if number is not None:
            return number
    return None


def target_of(event: JourneyEvent) -> Mapping[str, Any]:
    """The element an event is about: its `target` summary, else its form `field` summary."""
    for key in ("target", "field", "element"):
        value = event.payload.get(key)
        if isinstance(value, Mapping):
            return value
    return {}


def target_text(event: JourneyEvent) -> str:
    target = target_of(event)
    return collapse(target.get("text") or target.get("label") or target.get("name") or "")


def first_selector(event: JourneyEvent) -> str | None:
    selectors = event.payload.get("selectors")
    candidates = selectors.get("candidates") if isinstance(selectors, Mapping) else None
    if isinstance(candidates, list) and candidates and isinstance(candidates[0], Mapping):
        selector = candidates[0].get("selector")
        return str(selector) if selector else None
    return None


def names_element(event: JourneyEvent) -> bool:
    """Whether an event says which element it is about (a selector, or a tag, role or text)."""
    return bool(first_selector(event)) or _summary_key(event) is not None


def same_element(a: JourneyEvent, b: JourneyEvent) -> bool:
    """Whether two events are about one element: the same best selector, or the same tag, role and text."""
    sa, sb = first_selector(a), first_selector(b)
    if sa and sb and sa == sb:
        return True
    ka, kb = _summary_key(a), _summary_key(b)
    return ka is not None and ka == kb


def _summary_key(event: JourneyEvent) -> str | None:
    target = target_of(event)
    tag, role, text = collapse(target.get("tag")).lower(), collapse(target.get("role")), target_text(event)
    return f"{tag}|{role}|{text}" if (tag or role or text) else None


def is_interactive(event: JourneyEvent) -> bool:
    """Whether the element an event is about is one a shopper can act on (link, button, field...).

    An explicit `interactive` flag wins; the wire's dwell events are interactive by definition.
    """
    target = target_of(event)
    flag = target.get("interactive", event.payload.get("interactive"))
    if isinstance(flag, bool):
        return flag
    if event.type == DWELL_TYPE:
        return True
    tag = collapse(target.get("tag")).lower()
    role = collapse(target.get("role")).lower()
    return tag in INTERACTIVE_TAGS or role in INTERACTIVE_ROLES


def events_from_wire(raw: list[Mapping[str, Any]]) -> list[JourneyEvent]:
    """JourneyEvents from wire-format dicts (`type`, `seq`, `t`, `url`, the rest is payload), in seq order."""
    events = [
        JourneyEvent(
            seq=int(item["seq"]),
            type=str(item["type"]),
            t_ms=int(item["t"]),
            url=str(item.get("url") or ""),
            payload={k: v for k, v in item.items() if k not in ("seq", "type", "t", "url")},
        )
        for item in raw
    ]
    return sorted(events, key=lambda e: e.seq)
