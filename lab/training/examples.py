"""Training examples: one OpenAI chat-format example per captured click.

Pure: the DB edge (`lab.pipeline.assemble`) hands in plain dataclasses, this module hands back
JSON-ready dicts. The assistant answer is JSON in `content` for now; tool calls come later.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

SYSTEM_PROMPT = (
    "You are CodeSight's web agent. You see a screenshot of a shopping site and a description of the page, "
    "and you choose the next action. Answer with JSON only: "
    '{"action": "click", "selectors": [{"kind": ..., "selector": ...}, ...], "target": {"tag": ..., "text": ...}} '
    "with the selectors ranked best first."
)

# Long outlines cost tokens without telling the model much more.
MAX_OUTLINE_CHARS = 4000
# Only the latest actions are shown; earlier ones rarely change the next click.
MAX_PREVIOUS_ACTIONS = 20
# Button labels and link texts beyond this are mostly product blurbs.
MAX_TARGET_TEXT_CHARS = 200


@dataclass(frozen=True)
class SelectorChoice:
    """One selector candidate of a click, as captured (rank 0 = the generator's best)."""

    kind: str
    selector: str
    rank: int = 0
    reliability: float | None = None


@dataclass(frozen=True)
class PageContext:
    """What the page event said about the page the click happened on."""

    url: str
    title: str = ""
    outline: str = ""
    headings: tuple[str, ...] = ()
    landmarks: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClickStep:
    """Everything one training example needs about one click."""

    seq: int
    step_number: int
    page: PageContext
    target_tag: str
    target_text: str
    selectors: tuple[SelectorChoice, ...]
    target_role: str | None = None
    screenshot_webp: bytes | None = None
    previous_actions: tuple[str, ...] = field(default_factory=tuple)


def page_path(url: str) -> str:
    """The path and query of a URL: the part of it that tells pages of one site apart."""
    parts = urlsplit(url)
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def describe_click(tag: str, text: str, role: str | None = None) -> str:
    """A short human-readable line for a click, used in 'previous actions'."""
    what = role or tag or "element"
    label = " ".join(text.split())[:80]
    return f'click {what} "{label}"' if label else f"click {what}"


def ranked_selectors(choices: Iterable[SelectorChoice]) -> list[SelectorChoice]:
    """Best first: more reliable in replay first; unknown reliability and ties keep the generator's rank."""
    return sorted(choices, key=lambda c: (-(c.reliability if c.reliability is not None else -1.0), c.rank))


def webp_data_url(data: bytes) -> str:
    return "data:image/webp;base64," + base64.b64encode(data).decode("ascii")


def _user_text(site: str, step: ClickStep) -> str:
    page = step.page
    lines = [f"Site: {site}", f"Page: {page_path(page.url)}"]
    if page.title:
        lines.append(f"Title: {page.title}")
    if page.headings:
        lines.append("Headings: " + " | ".join(page.headings))
    if page.landmarks:
        lines.append("Landmarks: " + ", ".join(page.landmarks))
    if page.outline:
        lines += ["Page outline:", page.outline[:MAX_OUTLINE_CHARS]]
    lines.append(f"Step: {step.step_number}")
    previous = step.previous_actions[-MAX_PREVIOUS_ACTIONS:]
    if previous:
        first = len(step.previous_actions) - len(previous) + 1
        lines.append("Previous actions:")
        lines += [f"{first + i}. {action}" for i, action in enumerate(previous)]
    else:
        lines.append("Previous actions: none")
    lines.append("What is the next action?")
    return "\n".join(lines)


def assistant_answer(step: ClickStep) -> dict[str, Any]:
    """The action the example teaches: the click, its selectors best first, and what was clicked."""
    return {
        "action": "click",
        "selectors": [{"kind": c.kind, "selector": c.selector} for c in ranked_selectors(step.selectors)],
        "target": {"tag": step.target_tag, "text": step.target_text[:MAX_TARGET_TEXT_CHARS]},
    }


def build_example(site: str, step: ClickStep) -> dict[str, Any]:
    """One chat-format example: system, user (text + screenshot when there is one), assistant."""
    user_content: list[dict[str, Any]] = [{"type": "text", "text": _user_text(site, step)}]
    if step.screenshot_webp:
        user_content.append({"type": "image_url", "image_url": {"url": webp_data_url(step.screenshot_webp)}})
    return {
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": user_content},
            {"role": "assistant", "content": json.dumps(assistant_answer(step), ensure_ascii=False)},
        ]
    }


def build_examples(site: str, steps: Sequence[ClickStep]) -> list[dict[str, Any]]:
    return [build_example(site, step) for step in steps]


def to_jsonl(examples: Iterable[dict[str, Any]]) -> str:
    """One compact JSON object per line, newline-terminated, as the fine-tuning API expects.

    ASCII-only, so no reader that also breaks lines at U+2028 or U+0085 can split an example.
    """
    return "".join(json.dumps(example, separators=(",", ":")) + "\n" for example in examples)
