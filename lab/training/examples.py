"""Training examples: one OpenAI chat-format example with tools per captured action.

Pure: the DB edge (`lab.pipeline.assemble`) hands in plain dataclasses, this module hands back
JSON-ready dicts. The user turn carries the goal, the page, the behaviour so far, the previous
actions and the screenshot; the assistant turn is one tool call (`click`, `fill`, `select`,
`navigate`) with the element's selectors ranked by replay reliability. Every string of an
example is scrubbed of emails, phone numbers and card numbers before it is returned.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from lab.insights.behaviour import StepInsights
from lab.insights.describe import describe_step
from lab.privacy.scrub import scrub_text
from lab.vision.intent import ScreenIntent

Action = Literal["click", "fill", "select", "navigate"]
ACTIONS: tuple[Action, ...] = ("click", "fill", "select", "navigate")

SYSTEM_PROMPT = (
    "You are CodeSight's web agent on a shopping site. You get the shopper's goal, the current page "
    "(a description and usually a screenshot), their behaviour so far and their previous actions. "
    "Take the next action by calling exactly one tool: click, fill, select or navigate. For an element, "
    "give several selectors of different kinds, the most reliable first. Values in square brackets "
    "([email], [phone], [card], ...) stand for the shopper's own data."
)

# Long outlines cost tokens without telling the model much more.
MAX_OUTLINE_CHARS = 4000
# Only the latest actions are shown; earlier ones rarely change the next one.
MAX_PREVIOUS_ACTIONS = 20
# Labels beyond this are mostly product blurbs.
MAX_LABEL_CHARS = 80
# Past the first few alternatives a selector list mostly adds positional paths.
MAX_SELECTORS = 8

_SELECTORS_PARAMETER: dict[str, Any] = {
    "type": "array",
    "description": "ways to find the element, the most reliable first",
    "minItems": 1,
    "items": {
        "type": "object",
        "properties": {
            "kind": {"type": "string", "description": "testid, role, label, text, attribute, id, css, xpath, ..."},
            "selector": {"type": "string", "description": "the selector of that kind"},
        },
        "required": ["kind", "selector"],
        "additionalProperties": False,
    },
}
_INTENT_PARAMETER: dict[str, Any] = {"type": "string", "description": "what the action is for, in a few words"}


def _tool(name: str, description: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": list(properties),
                "additionalProperties": False,
            },
        },
    }


TOOLS: list[dict[str, Any]] = [
    _tool("click", "Click an element.", {"selectors": _SELECTORS_PARAMETER, "intent": _INTENT_PARAMETER}),
    _tool(
        "fill",
        "Type a value into a text field (replacing what is in it).",
        {
            "selectors": _SELECTORS_PARAMETER,
            "value": {"type": "string", "description": "the text to type"},
            "intent": _INTENT_PARAMETER,
        },
    ),
    _tool(
        "select",
        "Choose an option of a drop-down list.",
        {
            "selectors": _SELECTORS_PARAMETER,
            "value": {"type": "string", "description": "the option's visible label"},
            "intent": _INTENT_PARAMETER,
        },
    ),
    _tool(
        "navigate",
        "Go to a URL directly (address bar, back button).",
        {
            "url": {"type": "string", "description": "a path on the current site, or an absolute URL"},
            "intent": _INTENT_PARAMETER,
        },
    ),
]


@dataclass(frozen=True)
class SelectorChoice:
    """One selector candidate of an action, as captured (rank 0 = the generator's best)."""

    kind: str
    selector: str
    rank: int = 0
    reliability: float | None = None


@dataclass(frozen=True)
class PageContext:
    """What the page event said about the page the action happened on."""

    url: str
    title: str = ""
    outline: str = ""
    headings: tuple[str, ...] = ()
    landmarks: tuple[str, ...] = ()


@dataclass(frozen=True)
class ActionStep:
    """Everything one training example needs about one action.

    `value` is the (browser-masked) value of fill/select; `url` the destination of navigate.
    """

    seq: int
    step_number: int
    action: Action
    page: PageContext
    selectors: tuple[SelectorChoice, ...] = ()
    target_tag: str = ""
    target_text: str = ""
    target_role: str | None = None
    field_label: str | None = None
    value: str | None = None
    url: str | None = None
    screenshot_webp: bytes | None = None
    previous_actions: tuple[str, ...] = field(default_factory=tuple)
    insights: StepInsights | None = None
    intent: ScreenIntent | None = None


def page_path(url: str) -> str:
    """The path and query of a URL: the part of it that tells pages of one site apart."""
    parts = urlsplit(url)
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def navigation_target(current_url: str, destination: str) -> str:
    """Where navigate goes: a path when the destination is on the current site, else the absolute URL."""
    here, there = urlsplit(current_url), urlsplit(destination)
    return page_path(destination) if (here.scheme, here.netloc) == (there.scheme, there.netloc) else destination


def _label(text: str | None) -> str:
    return " ".join((text or "").split())[:MAX_LABEL_CHARS]


def describe_click(tag: str, text: str, role: str | None = None) -> str:
    """A short human-readable line for a click, used in 'previous actions'."""
    what = role or tag or "element"
    label = _label(text)
    return f'click {what} "{label}"' if label else f"click {what}"


def describe_action(step: ActionStep) -> str:
    """A short human-readable line for any action, used in 'previous actions'."""
    name = _label(step.field_label) or _label(step.target_text) or step.target_tag or "field"
    if step.action == "fill":
        return f'type "{step.value}" into {name}' if step.value else f"clear {name}"
    if step.action == "select":
        return f'select "{step.value}" in {name}'
    if step.action == "navigate":
        return f"go to {navigation_target(step.page.url, step.url or '')}"
    return describe_click(step.target_tag, step.target_text, step.target_role)


def ranked_selectors(choices: Iterable[SelectorChoice]) -> list[SelectorChoice]:
    """Best first: more reliable in replay first; unknown reliability and ties keep the generator's rank."""
    return sorted(choices, key=lambda c: (-(c.reliability if c.reliability is not None else -1.0), c.rank))


def taught_selectors(choices: Iterable[SelectorChoice]) -> list[SelectorChoice]:
    """The alternatives an example teaches: ranked, without those that never worked in replay
    (reliability 0) when any other did, at most MAX_SELECTORS."""
    ranked = ranked_selectors(choices)
    working = [c for c in ranked if c.reliability != 0.0]
    return (working or ranked)[:MAX_SELECTORS]


def webp_data_url(data: bytes) -> str:
    return "data:image/webp;base64," + base64.b64encode(data).decode("ascii")


def _user_text(site: str, goal: str, step: ActionStep) -> str:
    page = step.page
    lines = [f"Goal: {goal}"] if goal else []
    lines += [f"Site: {site}", f"Page: {page_path(page.url)}"]
    kind = step.intent.page_type if step.intent else step.insights.page_kind if step.insights else None
    if kind:
        lines.append(f"Page type: {kind}")
    if page.title:
        lines.append(f"Title: {page.title}")
    if page.headings:
        lines.append("Headings: " + " | ".join(page.headings))
    if page.landmarks:
        lines.append("Landmarks: " + ", ".join(page.landmarks))
    if page.outline:
        lines += ["Page outline:", page.outline[:MAX_OUTLINE_CHARS]]
    if step.insights:
        lines.append("Behaviour so far:")
        lines += [f"- {line}" for line in describe_step(step.insights)]
    lines.append(f"Step: {step.step_number}")
    previous = step.previous_actions[-MAX_PREVIOUS_ACTIONS:]
    if previous:
        first = len(step.previous_actions) - len(previous) + 1
        lines.append("Previous actions:")
        lines += [f"{first + i}. {action}" for i, action in enumerate(previous)]
    else:
        lines.append("Previous actions: none")
    lines.append("What is the next action? Call one tool.")
    return "\n".join(lines)


def tool_arguments(step: ActionStep) -> dict[str, Any]:
    """The arguments of the call an example teaches; `intent` is the analyzer's, else the action restated."""
    intent = step.intent.intent if step.intent else describe_action(step)
    if step.action == "navigate":
        return {"url": navigation_target(step.page.url, step.url or ""), "intent": intent}
    arguments: dict[str, Any] = {
        "selectors": [{"kind": c.kind, "selector": c.selector} for c in taught_selectors(step.selectors)]
    }
    if step.action in ("fill", "select"):
        arguments["value"] = step.value or ""
    arguments["intent"] = intent
    return arguments


def assistant_message(step: ActionStep) -> dict[str, Any]:
    """The assistant turn: one tool call, no content."""
    call = {
        "id": f"call_{step.seq}",
        "type": "function",
        "function": {"name": step.action, "arguments": json.dumps(tool_arguments(step), ensure_ascii=False)},
    }
    return {"role": "assistant", "tool_calls": [call]}


def build_example(site: str, step: ActionStep, goal: str = "") -> dict[str, Any]:
    """One scrubbed chat-format example: tools; system, user (goal, page, behaviour, previous actions,
    and the screenshot when there is one), assistant (one tool call)."""
    if step.action != "navigate" and not step.selectors:
        raise ValueError(f"selectors: the {step.action} at seq {step.seq} has no selector to teach")
    user_content: list[dict[str, Any]] = [{"type": "text", "text": _user_text(site, goal, step)}]
    if step.screenshot_webp:
        user_content.append({"type": "image_url", "image_url": {"url": webp_data_url(step.screenshot_webp)}})
    example = {
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": user_content},
            assistant_message(step),
        ],
        "tools": TOOLS,
        "parallel_tool_calls": False,
    }
    return scrub_example(example)


def build_examples(site: str, steps: Sequence[ActionStep], goal: str = "") -> list[dict[str, Any]]:
    return [build_example(site, step, goal) for step in steps]


def scrub_example(value: Any) -> Any:
    """A copy of an example with every string scrubbed; image data URLs are left alone, and tool
    call arguments are scrubbed as JSON values (so the string stays valid JSON)."""
    if isinstance(value, str):
        return value if value.startswith("data:image/") else scrub_text(value)
    if isinstance(value, list):
        return [scrub_example(item) for item in value]
    if isinstance(value, dict):
        out = {key: scrub_example(item) for key, item in value.items() if key != "arguments"}
        if "arguments" in value:
            arguments = value["arguments"]
            out["arguments"] = (
                json.dumps(scrub_example(json.loads(arguments)), ensure_ascii=False)
                if isinstance(arguments, str)
                else scrub_example(arguments)
            )
        return out
    return value


def to_jsonl(examples: Iterable[dict[str, Any]]) -> str:
    """One compact JSON object per line, newline-terminated, as the fine-tuning API expects.

    ASCII-only, so no reader that also breaks lines at U+2028 or U+0085 can split an example.
    """
    return "".join(json.dumps(example, separators=(",", ":")) + "\n" for example in examples)
