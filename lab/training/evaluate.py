"""Scoring a model on held-out steps, as Mind2Web scores web agents: action accuracy, element
accuracy and step success, overall and per page type and action; and whether to deploy it.

Pure: the edge (`lab.training.eval_run`) runs the models and checks elements on stored DOM
snapshots, then hands plain data in here.

- action accuracy: the predicted tool is the expected one (`click`, `fill`, `select`, `navigate`).
- element accuracy: the predicted target is the expected one. For element actions that means the
  predicted selectors resolve to the expected element on the stored DOM snapshot; without a
  snapshot, that the predicted top selector is one of the expected selectors (weaker, and labelled
  as such). For `navigate` the target is the URL.
- step success: action and target right, and for `fill` / `select` the value too (Mind2Web's
  "operation F1" asks the same of typed values, https://arxiv.org/abs/2306.06070).
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

ELEMENT_ACTIONS = frozenset({"click", "fill", "select"})
VALUE_ACTIONS = frozenset({"fill", "select"})
ElementMethod = Literal["dom_snapshot", "selector_list", "url"]
ELEMENT_METHOD_NOTES: Mapping[str, str] = {
    "dom_snapshot": "the predicted selectors resolved to the expected element on the stored DOM snapshot (Playwright)",
    "selector_list": "no stored DOM snapshot: the predicted top selector was compared with the expected selector list",
    "url": "navigate: the predicted URL was compared with the expected one",
}
_PAGE_TYPE_LINE = re.compile(r"^Page type: (.+)$", re.MULTILINE)
_PAGE_LINE = re.compile(r"^Page: (\S+)", re.MULTILINE)


# --- the steps and what the models said ---------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One tool call (expected or predicted); `problem` says why a prediction has none usable."""

    name: str | None
    arguments: Mapping[str, Any] = field(default_factory=dict)
    problem: str | None = None

    def selectors(self) -> list[str]:
        """The selector strings, best first (`[{kind, selector}]` or plain strings)."""
        out: list[str] = []
        for item in self.arguments.get("selectors") or ():
            selector = item.get("selector") if isinstance(item, Mapping) else item
            if isinstance(selector, str) and selector.strip():
                out.append(selector.strip())
        return out

    def selector_records(self) -> list[dict[str, str]]:
        """The selectors as generator candidates `{kind, selector}`, for resolving on a page."""
        out: list[dict[str, str]] = []
        for item in self.arguments.get("selectors") or ():
            if isinstance(item, Mapping) and isinstance(item.get("selector"), str):
                out.append({"kind": str(item.get("kind") or "css"), "selector": item["selector"]})
            elif isinstance(item, str):
                out.append({"kind": "css", "selector": item})
        return out

    @property
    def value(self) -> str | None:
        value = self.arguments.get("value")
        return None if value is None else str(value)

    @property
    def url(self) -> str | None:
        url = self.arguments.get("url")
        return None if url is None else str(url)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": dict(self.arguments), "problem": self.problem}


@dataclass(frozen=True)
class EvalStep:
    """One held-out step: the prompt the model gets, the call it should make, and where it happened."""

    key: str
    site: str
    page_type: str
    messages: tuple[Mapping[str, Any], ...]
    tools: tuple[Mapping[str, Any], ...]
    expected: Call
    session_id: str = ""
    event_id: int | None = None

    @property
    def action(self) -> str:
        return self.expected.name or "none"


def _arguments(text: Any) -> tuple[Mapping[str, Any], str | None]:
    if isinstance(text, Mapping):
        return text, None
    try:
        parsed = json.loads(text) if isinstance(text, str) else None
    except json.JSONDecodeError:
        return {}, "the tool call's arguments are not JSON"
    if not isinstance(parsed, Mapping):
        return {}, "the tool call's arguments are not a JSON object"
    return parsed, None


def call_from_tool_calls(tool_calls: Sequence[tuple[str, Any]], content: str | None = None) -> Call:
    """What a model answered, as one call: its first tool call (name, arguments JSON), or a problem."""
    if not tool_calls:
        said = (content or "").strip()
        return Call(None, {}, "no tool call" + (f" (said: {said[:80]!r})" if said else ""))
    name, text = tool_calls[0]
    arguments, problem = _arguments(text)
    return Call(name, arguments, problem)


def message_text(message: Mapping[str, Any]) -> str:
    """The text of a message: its string content, or its text parts joined."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping) and p.get("type") == "text")
    return ""


def page_type_of(messages: Iterable[Mapping[str, Any]]) -> str:
    """The page type the user turn names ("Page type: checkout"), else one read from the page path
    (`/checkout.html` -> checkout, `/` -> home)."""
    text = "\n".join(message_text(m) for m in messages if m.get("role") == "user")
    if found := _PAGE_TYPE_LINE.search(text):
        return found.group(1).strip().lower()
    if found := _PAGE_LINE.search(text):
        path = urlsplit(found.group(1)).path.rstrip("/")
        last = path.rsplit("/", 1)[-1].split(".", 1)[0].lower()
        return last if last and last != "index" else "home"
    return "unknown"


def eval_step(
    example: Mapping[str, Any], key: str, site: str, session_id: str = "", event_id: int | None = None
) -> EvalStep:
    """A held-out step from a chat-format training example: the prompt is every message before the
    last assistant turn, the expected call is that turn's first tool call. ValueError when it has none."""
    messages = list(example.get("messages") or ())
    answers = [i for i, m in enumerate(messages) if m.get("role") == "assistant"]
    if not answers:
        raise ValueError(f"example {key}: no assistant message to compare with")
    last = answers[-1]
    calls = messages[last].get("tool_calls") or ()
    function = calls[0].get("function", {}) if calls else {}
    if not function.get("name"):
        raise ValueError(f"example {key}: the assistant turn has no tool call")
    arguments, problem = _arguments(function.get("arguments") or "{}")
    if problem:
        raise ValueError(f"example {key}: {problem}")
    prompt = tuple(messages[:last])
    return EvalStep(
        key=key,
        site=site,
        page_type=page_type_of(prompt),
        messages=prompt,
        tools=tuple(example.get("tools") or ()),
        expected=Call(function["name"], arguments),
        session_id=session_id,
        event_id=event_id,
    )


# --- judging one step -----------------------------------------------------------------------


def _norm(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


def _norm_url(url: str | None) -> str:
    parts = urlsplit((url or "").strip())
    path = parts.path.rstrip("/") or "/"
    return f"{path}?{parts.query}" if parts.query else path


def selector_list_match(expected: Call, predicted: Call) -> bool:
    """The fallback element check: the predicted top selector is one of the expected selectors."""
    wanted = {_norm(s) for s in expected.selectors()}
    top = predicted.selectors()[:1]
    return bool(top) and _norm(top[0]) in wanted


@dataclass(frozen=True)
class StepVerdict:
    key: str
    page_type: str
    action: str  # the expected action
    predicted_action: str | None
    action_ok: bool
    element_ok: bool
    value_ok: bool
    element_method: ElementMethod

    @property
    def step_ok(self) -> bool:
        return self.action_ok and self.element_ok and self.value_ok


def judge_step(step: EvalStep, predicted: Call, element_on_snapshot: bool | None = None) -> StepVerdict:
    """One step's verdict; `element_on_snapshot` is the DOM check's answer (None: no snapshot to check on)."""
    expected = step.expected
    method: ElementMethod
    if expected.name == "navigate":
        method, element_ok = "url", predicted.url is not None and _norm_url(predicted.url) == _norm_url(expected.url)
    elif element_on_snapshot is not None:
        method, element_ok = "dom_snapshot", element_on_snapshot
    else:
        method, element_ok = "selector_list", selector_list_match(expected, predicted)
    value_ok = expected.name not in VALUE_ACTIONS or (
        predicted.value is not None and _norm(predicted.value) == _norm(expected.value)
    )
    return StepVerdict(
        key=step.key,
        page_type=step.page_type,
        action=step.action,
        predicted_action=predicted.name,
        action_ok=predicted.problem is None and predicted.name == expected.name,
        element_ok=predicted.problem is None and element_ok,
        value_ok=predicted.problem is None and value_ok,
        element_method=method,
    )


# --- metrics --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metrics:
    n_steps: int
    action_accuracy: float
    element_accuracy: float
    step_success: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_steps": self.n_steps,
            "action_accuracy": self.action_accuracy,
            "element_accuracy": self.element_accuracy,
            "step_success": self.step_success,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Metrics:
        return cls(
            int(data["n_steps"]),
            float(data["action_accuracy"]),
            float(data["element_accuracy"]),
            float(data["step_success"]),
        )


def metrics(verdicts: Sequence[StepVerdict]) -> Metrics:
    """Shares of steps with the action, the element and the whole step right (0.0 for no steps)."""
    n = len(verdicts)
    if not n:
        return Metrics(0, 0.0, 0.0, 0.0)
    return Metrics(
        n,
        sum(v.action_ok for v in verdicts) / n,
        sum(v.element_ok for v in verdicts) / n,
        sum(v.step_ok for v in verdicts) / n,
    )


def cell_key(page_type: str, action: str) -> str:
    """How a (page type, action) cell is named in a breakdown: `checkout/fill`."""
    return f"{page_type}/{action}"


@dataclass(frozen=True)
class EvaluationScore:
    """A model's verdicts on every held-out step, with the metrics and their breakdowns."""

    model: str
    verdicts: tuple[StepVerdict, ...]

    @property
    def overall(self) -> Metrics:
        return metrics(self.verdicts)

    def _group(self, key: Any) -> dict[str, Metrics]:
        groups: dict[str, list[StepVerdict]] = defaultdict(list)
        for verdict in self.verdicts:
            groups[key(verdict)].append(verdict)
        return {name: metrics(items) for name, items in sorted(groups.items())}

    def by_page_type(self) -> dict[str, Metrics]:
        return self._group(lambda v: v.page_type)

    def by_action(self) -> dict[str, Metrics]:
        return self._group(lambda v: v.action)

    def by_cell(self) -> dict[str, Metrics]:
        return self._group(lambda v: cell_key(v.page_type, v.action))

    def breakdown(self) -> dict[str, Any]:
        """Per page type, per action and per (page type, action), as JSON."""
        return {
            "by_page_type": {k: m.to_dict() for k, m in self.by_page_type().items()},
            "by_action": {k: m.to_dict() for k, m in self.by_action().items()},
            "by_cell": {k: m.to_dict() for k, m in self.by_cell().items()},
        }

    def element_check(self) -> dict[str, Any]:
        """How each step's element was checked, with what each method means."""
        counts = Counter(v.element_method for v in self.verdicts)
        return {
            "counts": dict(sorted(counts.items())),
            "notes": {method: ELEMENT_METHOD_NOTES[method] for method in sorted(counts)},
            "fallback": counts.get("selector_list", 0) > 0,
        }


def score(
    model: str,
    steps: Sequence[EvalStep],
    predictions: Sequence[Call],
    elements_on_snapshot: Sequence[bool | None] | None = None,
) -> EvaluationScore:
    """Judge every step of one model; the three sequences run in parallel."""
    checks = elements_on_snapshot if elements_on_snapshot is not None else [None] * len(steps)
    if not len(steps) == len(predictions) == len(checks):
        raise ValueError("steps, predictions and element checks must be as many")
    verdicts = tuple(judge_step(s, p, c) for s, p, c in zip(steps, predictions, checks, strict=True))
    return EvaluationScore(model, verdicts)


# --- deploy or not --------------------------------------------------------------------------


@dataclass(frozen=True)
class DeployDecision:
    deploy: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"deploy": self.deploy, "reason": self.reason}


def _pct(value: float) -> str:
    return f"{value:.0%}"


def deploy_decision(candidate: Metrics, base: Metrics | None, deployed: Metrics | None) -> DeployDecision:
    """Deploy a new model only when it beats, on step success, both its base model and the model
    the site serves now (when there is one); a tie keeps what is serving."""
    if candidate.n_steps == 0:
        return DeployDecision(False, "no held-out steps to judge the model on")
    if base is not None and candidate.step_success <= base.step_success:
        return DeployDecision(
            False,
            f"step success {_pct(candidate.step_success)} does not beat the base model's {_pct(base.step_success)}",
        )
    if deployed is not None and candidate.step_success <= deployed.step_success:
        return DeployDecision(
            False,
            f"step success {_pct(candidate.step_success)} does not beat the deployed model's "
            f"{_pct(deployed.step_success)}",
        )
    against = [f"base {_pct(base.step_success)}"] if base is not None else []
    against += [f"deployed {_pct(deployed.step_success)}"] if deployed is not None else ["no model deployed"]
    return DeployDecision(True, f"step success {_pct(candidate.step_success)} beats {', '.join(against)}")
