"""Pure: turn a session's rows into the plain inputs of quality grading, training and archiving."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from lab.db.models import Event, Page
from lab.pipeline.rows import SessionRows
from lab.quality.score import ClickFacts, PageFacts, SessionFacts
from lab.quality.screenshots import ScreenshotStats
from lab.training.examples import ClickStep, PageContext, SelectorChoice, describe_click

CLICK_SCREENSHOT_REASON = "click"


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


def click_selectors(rows: SessionRows) -> dict[int, list[SelectorChoice]]:
    """Ranked selector choices per click event id: stored candidates, else the wire payload's."""
    reliability = candidate_reliability(rows)
    stored: dict[int, list[SelectorChoice]] = defaultdict(list)
    for c in rows.candidates:
        assert c.id is not None
        stored[c.event_id].append(
            SelectorChoice(kind=c.kind, selector=c.value, rank=c.rank, reliability=reliability[c.id])
        )
    choices: dict[int, list[SelectorChoice]] = {}
    for event in rows.events:
        if event.type == "click" and event.id is not None:
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
    selectors = click_selectors(rows)
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


def click_screenshot_keys(rows: SessionRows) -> dict[int, str]:
    """Blob key of the screenshot taken for each click, by the click's seq."""
    return {
        shot.for_seq: shot.blob_key
        for shot in rows.screenshots
        if shot.reason == CLICK_SCREENSHOT_REASON and shot.for_seq is not None
    }


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


def _describe_input(payload: Mapping[str, Any]) -> str:
    fieldinfo = payload.get("field") or {}
    name = fieldinfo.get("label") or fieldinfo.get("name") or fieldinfo.get("tag") or "field"
    value = str(payload.get("value") or "")
    return f'type "{value}" into {name}' if value else f"clear {name}"


@dataclass(frozen=True)
class CapturedClick:
    event_id: int
    step: ClickStep


def click_steps(rows: SessionRows, screenshots: Mapping[int, bytes]) -> list[CapturedClick]:
    """One ClickStep per click, in order; `screenshots` holds each click's WebP bytes by click seq."""
    pages = page_of_event(rows)
    selectors = click_selectors(rows)
    previous: list[str] = []
    steps: list[CapturedClick] = []
    for event in rows.events:
        if event.type == "input":
            previous.append(_describe_input(event.payload))
        if event.type != "click" or event.id is None:
            continue
        target = event.payload.get("target") or {}
        tag, text, role = str(target.get("tag") or ""), str(target.get("text") or ""), target.get("role")
        steps.append(
            CapturedClick(
                event_id=event.id,
                step=ClickStep(
                    seq=event.seq,
                    step_number=len(steps) + 1,
                    page=_page_context(pages.get(event.seq), event.url),
                    target_tag=tag,
                    target_text=text,
                    target_role=str(role) if role else None,
                    selectors=tuple(selectors.get(event.id, [])),
                    screenshot_webp=screenshots.get(event.seq),
                    previous_actions=tuple(previous),
                ),
            )
        )
        previous.append(describe_click(tag, text, str(role) if role else None))
    return steps


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
