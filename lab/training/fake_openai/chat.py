"""Deterministic answers of the fake's models, in the assistant format CodeSight's examples use.

A fine-tuned model "knows" every prompt of its training and validation files and answers those with
the assistant message it was trained on (a tool call, or text), so evaluation on the held-out split
can tell it from its base model. Any other prompt, and every prompt to a base model, gets the best
selector written in the user message (a test id first, then a role locator, then an id): as a
`click` tool call when the request offers a `click` tool, else as JSON text
`{"action": "click", "selectors": [...], "target": {...}}`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Best first, like the generator's own ranking: test ids, then role + name, then ids.
SELECTOR_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("testid", re.compile(r"""\[data-test(?:id|-id)?=(["'])[^"'\]]+\1\]""")),
    ("role", re.compile(r"""(?:get_by_role|getByRole)\([^)]*\)|role=[a-z]+\[name=(["'])[^"'\]]*\1\]""")),
    ("id", re.compile(r"(?<![\w&/-])#[A-Za-z][\w-]*")),
)


@dataclass(frozen=True)
class Reply:
    """An assistant turn: text, or tool calls shaped as the API returns them."""

    content: str | None
    tool_calls: tuple[dict[str, Any], ...] = ()


def message_text(message: Mapping[str, Any]) -> str:
    """The text of a message: its string content, or its text parts joined by newlines."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    users = [m for m in messages if isinstance(m, Mapping) and m.get("role") == "user"]
    return message_text(users[-1]) if users else ""


def memorize(examples: Iterable[object]) -> dict[str, Reply]:
    """Prompt (last user text) -> the assistant turn it was trained with."""
    memory: dict[str, Reply] = {}
    for example in examples:
        messages = example.get("messages") if isinstance(example, dict) else None
        if not isinstance(messages, list):
            continue
        answers = [m for m in messages if isinstance(m, dict) and m.get("role") == "assistant"]
        prompt = last_user_text(messages)
        if answers and prompt:
            calls = answers[-1].get("tool_calls") or ()
            memory[prompt] = Reply(None if calls else message_text(answers[-1]), tuple(calls))
    return memory


def best_selector(text: str) -> tuple[str, str] | None:
    """(kind, selector) of the best-ranked selector written in `text`, or None."""
    for kind, pattern in SELECTOR_PATTERNS:
        if match := pattern.search(text):
            return kind, match.group(0)
    return None


def _offers_click(tools: Sequence[Mapping[str, Any]] | None) -> bool:
    return any(isinstance(t.get("function"), dict) and t["function"].get("name") == "click" for t in tools or ())


def schema_instance(schema: Mapping[str, Any], hint: str = "") -> Any:
    """A deterministic value that satisfies a structured-outputs JSON schema (the subset strict mode allows)."""
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema:
        return schema_instance(schema["anyOf"][0], hint)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: schema_instance(sub, name) for name, sub in props.items()}
    if kind == "array":
        return []
    if kind == "number":
        return 0.5
    if kind == "integer":
        return 0
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return f"fake {hint or 'value'}"


def answer(
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]] | None = None,
    memory: Mapping[str, Reply] | None = None,
    response_format: Mapping[str, Any] | None = None,
) -> Reply:
    """What the fake model says to a conversation."""
    if response_format and response_format.get("type") == "json_schema":
        schema = response_format.get("json_schema", {}).get("schema", {})
        return Reply(json.dumps(schema_instance(schema)))
    if response_format and response_format.get("type") == "json_object":
        return Reply("{}")
    prompt = last_user_text(messages)
    if memory and prompt in memory:
        return memory[prompt]
    found = best_selector(prompt)
    selectors = [{"kind": found[0], "selector": found[1]}] if found else []
    if _offers_click(tools) and selectors:
        arguments = {"selectors": selectors, "intent": "click the element the prompt names"}
        call = {
            "id": "call_fake_0",
            "type": "function",
            "function": {"name": "click", "arguments": json.dumps(arguments)},
        }
        return Reply(None, (call,))
    return Reply(json.dumps({"action": "click", "selectors": selectors, "target": {"tag": "", "text": ""}}))
