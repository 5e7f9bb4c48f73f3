"""Pure: turn a session's rows into the plain inputs of quality grading, training and archiving."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from lab.db.models import Event, Page
from lab.insights.behaviour import is_user_navigation, step_insights
from lab.insights.events import JourneyEvent
from lab.pipeline.rows import SessionRows
from lab.quality.score import ClickFacts, PageFacts, SessionFacts
from lab.quality.screenshots import ScreenshotStats
from lab.training.examples import Action, ActionStep, PageContext, SelectorChoice, describe_action
from lab.vision.intent import ScreenInput

CLICK_SCREENSHOT_REASON = "click"
# Events whose element carries a selector record on the wire.
SELECTOR_EVENT_TYPES = frozenset({"click", "dblclick", "input"})
# Events that may become training examples (see `example_action`).
ACTION_EVENT_TYPES = frozenset({"click", "input", "navigation"})
# A click on one of these only focuses a field (roles from the generator's fingerprint).
FIELD_ROLES = frozenset({"textbox", "searchbox", "combobox", "listbox", "spinbutton"})
FIELD_TAGS = frozenset({"input", "textarea", "select"})
# Field categories whose values the browser never sends (extension/privacy.js NEVER_CAPTURED).
NEVER_CAPTURED_CATEGORIES = frozenset({"password", "hidden", "file", "payment"})


def candidate_reliability(rows: SessionRows) -> dict[int, float | None]:
    """Reliability per candidate id: the stored score, else the share of replay conditions unique and correct."""
    results: dict[int, list[bool]] = defaultdict(list)
    for result in rows.replay_results:
        results[result.candidate_id].append(result.matched_count == 1 and result.correct)
    reliability: dict[int, float | None] = {}
    for candidate in rows.candidates:
        assert candidate.id is not None
        outcomes = results.get(candidate.id)
        if candidate.reliability is not None:
            reliability[candidate.id] = candidate.reliability
        else:
            reliability[candidate.id] = sum(outcomes) / len(outcomes) if outcomes else None
    return reliability


def page_of_event(rows: SessionRows) -> dict[int, Page]:
    """The page each event happened on, by event seq: its page_id, else the last page opened before it."""
    by_id = {page.id: page for page in rows.pages}
    pages: dict[int, Page] = {}
    current: Page | None = None
    pages_by_seq = {page.seq: page for page in rows.pages}
    for event in rows.events:
        current = pages_by_seq.get(event.seq, current)
        page = by_id.get(event.page_id) if event.page_id else current
        if page is not None:
            pages[event.seq] = page
    return pages


def _payload_candidates(event: Event) -> list[SelectorChoice]:
    selectors = event.payload.get("selectors") or {}
    return [
        SelectorChoice(kind=str(c.get("kind", "")), selector=str(c.get("selector", "")), rank=rank)
        for rank, c in enumerate(selectors.get("candidates") or [])
        if isinstance(c, dict)
    ]


def event_selectors(rows: SessionRows) -> dict[int, list[SelectorChoice]]:
    """Selector choices by rank per event id (clicks and form inputs): stored candidates, else the wire payload's."""
    reliability = candidate_reliability(rows)
    stored: dict[int, list[SelectorChoice]] = defaultdict(list)
    for c in rows.candidates:
        assert c.id is not None
        stored[c.event_id].append(
            SelectorChoice(kind=c.kind, selector=c.value, rank=c.rank, reliability=reliability[c.id])
        )
    choices: dict[int, list[SelectorChoice]] = {}
    for event in rows.events:
        if event.type in SELECTOR_EVENT_TYPES and event.id is not None:
            choices[event.id] = sorted(stored.get(event.id) or _payload_candidates(event), key=lambda c: c.rank)
    return choices


def session_facts(rows: SessionRows, stats: Mapping[uuid.UUID, ScreenshotStats]) -> SessionFacts:
    """Quality facts; `stats` holds the pixel statistics of each screenshot row by id."""
    pages = page_of_event(rows)
    seq_of_event_id = {event.id: event.seq for event in rows.events}
    shot_pages: set[uuid.UUID] = set()
    for shot in rows.screenshots:
        seq = seq_of_event_id.get(shot.event_id)
        page = pages.get(seq) if seq is not None else None
        if page is not None:
            shot_pages.add(page.id)
    selectors = event_selectors(rows)
    clicks = []
    for event in rows.events:
        if event.type != "click" or event.id is None:
            continue
        choices = selectors.get(event.id, [])
        judged = [c.reliability for c in choices if c.reliability is not None]
        clicks.append(
            ClickFacts(
                seq=event.seq,
                selector_kinds=frozenset(c.kind for c in choices),
                best_reliability=max(judged) if judged else None,
            )
        )
    return SessionFacts(
        event_seqs=[event.seq for event in rows.events],
        pages=[PageFacts(seq=page.seq, has_screenshot=page.id in shot_pages) for page in rows.pages],
        clicks=clicks,
        screenshots=[stats[shot.id] for shot in rows.screenshots if shot.id in stats],
        ended=rows.session.ended_at is not None,
    )


def journey_events(rows: SessionRows) -> list[JourneyEvent]:
    """The session's events as the insights read them (wire payloads, times in ms), in seq order."""
    return [
        JourneyEvent(seq=e.seq, type=e.type, t_ms=round(e.t.timestamp() * 1000), url=e.url, payload=e.payload)
        for e in rows.events
    ]


def _page_context(page: Page | None, fallback_url: str) -> PageContext:
    if page is None:
        return PageContext(url=fallback_url)
    structure = page.structure or {}
    return PageContext(
        url=page.url,
        title=page.title,
        outline=str(structure.get("outline") or ""),
        headings=tuple(str(h) for h in structure.get("headings") or ()),
        landmarks=tuple(str(lm) for lm in structure.get("landmarks") or ()),
    )


def example_action(event: Event, events: list[JourneyEvent], index: int) -> Action | None:
    """The tool an event teaches, or None when it teaches none.

    Clicks teach `click`; form inputs teach `select` (a <select>) or `fill`, except checkboxes and
    radios, whose click is the action; navigations teach `navigate` when the shopper made them.
    """
    if event.type == "click":
        return "click"
    if event.type == "input":
        field = event.payload.get("field") or {}
        if str(field.get("type") or "").lower() in ("checkbox", "radio"):
            return None
        is_select = str(field.get("tag") or "").lower() == "select" or event.payload.get("trigger") == "select"
        return "select" if is_select else "fill"
    if event.type == "navigation" and is_user_navigation(events, index):
        return "navigate"
    return None


def input_value(payload: Mapping[str, Any]) -> str:
    """The value a fill/select teaches: the browser-masked value, or for a sensitive field the
    browser sent nothing for (passwords, cards), a mask naming its category."""
    value = str(payload.get("value") or "")
    field = payload.get("field") or {}
    category = str(field.get("category") or "")
    if not value and (field.get("sensitive") or category in NEVER_CAPTURED_CATEGORIES):
        return f"[{category or 'redacted'}]"
    return value


@dataclass(frozen=True)
class FrameRef:
    """The screenshot shown with a step: its blob key, and whether it is the step's own before-click frame."""

    blob_key: str
    own: bool


def action_frames(rows: SessionRows, seqs: Iterable[int]) -> dict[int, FrameRef]:
    """The frame for each action seq: a click's own before-click screenshot, else the latest
    screenshot taken on the same page before the action."""
    pages = page_of_event(rows)
    seq_of_event_id = {event.id: event.seq for event in rows.events}
    own = {
        shot.for_seq: shot.blob_key
        for shot in rows.screenshots
        if shot.reason == CLICK_SCREENSHOT_REASON and shot.for_seq is not None
    }
    # (moment, page id, key): a frame shows the page as it was at its `for_seq`, else when it was taken.
    taken: list[tuple[int, uuid.UUID, str]] = []
    for shot in rows.screenshots:
        seq = seq_of_event_id.get(shot.event_id)
        page = pages.get(seq) if seq is not None else None
        if seq is not None and page is not None:
            taken.append((shot.for_seq if shot.for_seq is not None else seq, page.id, shot.blob_key))
    taken.sort(key=lambda frame: frame[0])
    frames: dict[int, FrameRef] = {}
    for seq in seqs:
        if seq in own:
            frames[seq] = FrameRef(own[seq], own=True)
            continue
        page = pages.get(seq)
        earlier = [key for moment, page_id, key in taken if moment < seq and page is not None and page_id == page.id]
        if earlier:
            frames[seq] = FrameRef(earlier[-1], own=False)
    return frames


def focus_clicks(rows: SessionRows, selectors: Mapping[int, list[SelectorChoice]]) -> set[int]:
    """Seqs of clicks that only focus a form field the shopper then fills or selects before the
    next click: the fill (or select) example teaches both, so these clicks teach nothing more."""
    folded: set[int] = set()
    for index, event in enumerate(rows.events):
        target = event.payload.get("target") or {}
        role, tag = str(target.get("role") or ""), str(target.get("tag") or "").lower()
        if event.type != "click" or event.id is None or not (role in FIELD_ROLES or (not role and tag in FIELD_TAGS)):
            continue
        mine = {c.selector for c in selectors.get(event.id, [])}
        for later in rows.events[index + 1 :]:
            if later.type == "click":
                break
            if later.type == "input" and later.id is not None and mine & {c.selector for c in selectors[later.id]}:
                folded.add(event.seq)
                break
    return folded


@dataclass(frozen=True)
class CapturedAction:
    """One action that becomes a training example; `step.intent` is filled in later by the intent reader."""

    event_id: int
    step: ActionStep
    own_frame: bool


def action_steps(
    rows: SessionRows, frames: Mapping[int, FrameRef], images: Mapping[str, bytes]
) -> list[CapturedAction]:
    """One ActionStep per click, fill, select and shopper navigation, in order (clicks that only
    focus a field the shopper then fills are folded into the fill), with its insights, previous
    actions and frame (`images` holds the frames' WebP bytes by blob key)."""
    pages = page_of_event(rows)
    selectors = event_selectors(rows)
    folded = focus_clicks(rows, selectors)
    events = journey_events(rows)
    previous: list[str] = []
    captured: list[CapturedAction] = []
    for index, event in enumerate(rows.events):
        action = example_action(event, events, index)
        if action is None or event.id is None or event.seq in folded:
            continue
        payload = event.payload
        target = payload.get("target") or payload.get("field") or {}
        role = target.get("role")
        frame = frames.get(event.seq)
        form_step = action in ("fill", "select")
        label = str(target.get("label") or target.get("name") or "") if form_step else ""
        step = ActionStep(
            seq=event.seq,
            step_number=len(captured) + 1,
            action=action,
            page=_page_context(pages.get(event.seq), event.url),
            selectors=tuple(selectors.get(event.id, [])),
            target_tag=str(target.get("tag") or ""),
            target_text=str(target.get("text") or ""),
            target_role=str(role) if role else None,
            field_label=label or None,
            value=input_value(payload) if form_step else None,
            url=event.url if action == "navigate" else None,
            screenshot_webp=images.get(frame.blob_key) if frame else None,
            previous_actions=tuple(previous),
            insights=step_insights(events, index),
        )
        captured.append(CapturedAction(event_id=event.id, step=step, own_frame=bool(frame and frame.own)))
        previous.append(describe_action(step))
    return captured


def screen_input(action: CapturedAction) -> ScreenInput:
    """What the intent reader sees of a step; only a click's own before-click frame is a key frame."""
    step = action.step
    return ScreenInput(
        action=step.action,
        url=step.page.url,
        title=step.page.title,
        headings=step.page.headings,
        outline=step.page.outline,
        target_tag=step.target_tag,
        target_text=step.target_text,
        target_role=step.target_role,
        field_label=step.field_label,
        value=step.value,
        destination_url=step.url,
        image_webp=step.screenshot_webp if action.own_frame else None,
    )


def screenshot_member_names(rows: SessionRows) -> dict[str, str]:
    """A unique archive file name per screenshot blob key (the key's last part when unique)."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for shot in rows.screenshots:
        name = PurePosixPath(shot.blob_key).name or f"{shot.id}.webp"
        if name in taken:
            name = f"{shot.id}-{name}"
        taken.add(name)
        names[shot.blob_key] = name
    return names


def event_blob_keys(rows: SessionRows) -> dict[str, list[str]]:
    """The blob keys of the session's DOM snapshots and audio, from their events (seq order)."""
    keys: dict[str, list[str]] = {"snapshot": [], "audio": []}
    for event in rows.events:
        key = event.payload.get("blob_key")
        if event.type in keys and isinstance(key, str):
            keys[event.type].append(key)
    return keys


def blob_file_name(key: str) -> str:
    """A stored file's name in the archive: the last part of its key (`12.html.gz`, unique per session by seq)."""
    return PurePosixPath(key).name


def session_document(rows: SessionRows) -> dict[str, Any]:
    """`session.json` of the archive: every row of the session as JSON (training bodies live in training.jsonl)."""
    return {
        "session": rows.session.model_dump(mode="json"),
        "pages": [p.model_dump(mode="json") for p in rows.pages],
        "events": [e.model_dump(mode="json") for e in rows.events],
        "selector_candidates": [c.model_dump(mode="json") for c in rows.candidates],
        "replay_results": [r.model_dump(mode="json") for r in rows.replay_results],
        "screenshots": [s.model_dump(mode="json") for s in rows.screenshots],
        "training_examples": [t.model_dump(mode="json", exclude={"body"}) for t in rows.training_examples],
        "pipeline_steps": [p.model_dump(mode="json") for p in rows.steps],
    }
