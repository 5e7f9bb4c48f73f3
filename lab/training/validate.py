"""Format validation of chat-format fine-tuning data, before anything is uploaded.

Errors are reported under the keys of OpenAI's data-preparation cookbook
(https://cookbook.openai.com/examples/chat_finetuning_data_prep) so counts read the same,
but the rules follow the API's schema, not the cookbook's code: content may be a list of
parts (text, image_url), assistant messages may carry `tool_calls` instead of content,
`tool` messages exist, and `weight` (0 or 1) is allowed on assistant messages. The
cookbook's own code rejects all of those. Limits per provider and model live in `lab.training.limits`
(this module checks images against them; `limits.check_dataset` checks counts, tokens and models).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lab.training.limits import AZURE_LIMITS, OPENAI_LIMITS, ProviderLimits, limits_for

__all__ = [
    "AZURE_LIMITS",
    "OPENAI_LIMITS",
    "ExampleErrors",
    "FormatError",
    "ProviderLimits",
    "ValidationReport",
    "limits_for",
    "validate_example",
    "validate_examples",
    "validate_jsonl_text",
]

# Cookbook keys.
DATA_TYPE = "data_type"
MISSING_MESSAGES_LIST = "missing_messages_list"
MESSAGE_MISSING_KEY = "message_missing_key"
MESSAGE_UNRECOGNIZED_KEY = "message_unrecognized_key"
UNRECOGNIZED_ROLE = "unrecognized_role"
MISSING_CONTENT = "missing_content"
EXAMPLE_MISSING_ASSISTANT_MESSAGE = "example_missing_assistant_message"
# Our keys, for parts of the API schema the cookbook does not check.
EXAMPLE_UNRECOGNIZED_KEY = "example_unrecognized_key"
INVALID_WEIGHT = "invalid_weight"
INVALID_CONTENT_PART = "invalid_content_part"
IMAGE_NOT_IN_USER_MESSAGE = "image_not_in_user_message"
INVALID_IMAGE_URL = "invalid_image_url"
IMAGE_TOO_LARGE = "image_too_large"
TOO_MANY_IMAGES = "too_many_images"
INVALID_TOOL_CALLS = "invalid_tool_calls"
INVALID_TOOLS = "invalid_tools"
INVALID_JSON = "invalid_json"

EXAMPLE_KEYS = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})
# Keys the chat fine-tuning format accepts per role
# (https://platform.openai.com/docs/api-reference/fine-tuning/chat-input).
ROLE_KEYS: Mapping[str, frozenset[str]] = {
    "system": frozenset({"role", "content", "name"}),
    "user": frozenset({"role", "content", "name"}),
    "assistant": frozenset({"role", "content", "name", "tool_calls", "function_call", "weight", "refusal"}),
    "tool": frozenset({"role", "content", "tool_call_id"}),
    "function": frozenset({"role", "content", "name"}),
}
IMAGE_DETAILS = frozenset({"auto", "low", "high"})
_DATA_URL = re.compile(r"^data:(image/[a-z0-9.+-]+);base64,(.*)$", re.DOTALL)


@dataclass(frozen=True)
class FormatError:
    """One problem in one example; `message_index` is None for example-level problems."""

    key: str
    detail: str
    message_index: int | None = None

    def __str__(self) -> str:
        where = f"messages[{self.message_index}]: " if self.message_index is not None else ""
        return f"{self.key}: {where}{self.detail}"


@dataclass(frozen=True)
class ExampleErrors:
    line: int
    errors: tuple[FormatError, ...]


@dataclass
class ValidationReport:
    """Counts per error key over a dataset, plus every invalid example by (1-based) line."""

    example_count: int = 0
    error_counts: Counter[str] = field(default_factory=Counter)
    invalid: list[ExampleErrors] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.invalid

    @property
    def invalid_count(self) -> int:
        return len(self.invalid)

    @property
    def error_count(self) -> int:
        """Every problem found, summed over keys (one example may have several)."""
        return sum(self.error_counts.values())

    def render(self, max_lines: int = 20) -> str:
        """A plain-text summary for people: counts per key, then the first invalid lines."""
        if self.ok:
            return f"{self.example_count} examples, no errors found"
        lines = [f"{self.example_count} examples, {self.invalid_count} invalid; errors by key:"]
        lines += [f"  {key}: {count}" for key, count in sorted(self.error_counts.items())]
        lines.append("first invalid lines:")
        for example in self.invalid[:max_lines]:
            lines += [f"  line {example.line}: {error}" for error in example.errors]
        if self.invalid_count > max_lines:
            lines.append(f"  ... and {self.invalid_count - max_lines} more invalid lines")
        return "\n".join(lines)

    def add(self, line: int, errors: list[FormatError]) -> None:
        self.example_count += 1
        if errors:
            self.invalid.append(ExampleErrors(line, tuple(errors)))
            self.error_counts.update(e.key for e in errors)

    def to_dict(self) -> dict[str, Any]:
        return {
            "example_count": self.example_count,
            "invalid_count": self.invalid_count,
            "error_counts": dict(self.error_counts),
            "invalid": [{"line": ex.line, "errors": [str(e) for e in ex.errors]} for ex in self.invalid],
        }


def _check_image(url: object, limits: ProviderLimits, index: int) -> list[FormatError]:
    if not isinstance(url, str):
        return [FormatError(INVALID_IMAGE_URL, "image_url.url must be a string", index)]
    if url.startswith(("https://", "http://")):
        return []
    match = _DATA_URL.match(url)
    if not match:
        return [FormatError(INVALID_IMAGE_URL, "image_url.url must be an http(s) URL or a base64 data URL", index)]
    mime, payload = match.groups()
    if mime not in limits.image_mime_types:
        return [
            FormatError(INVALID_IMAGE_URL, f"image type {mime} is not one of {sorted(limits.image_mime_types)}", index)
        ]
    try:
        size_bytes = len(base64.b64decode(payload, validate=True))
    except (binascii.Error, ValueError):
        return [FormatError(INVALID_IMAGE_URL, "image data is not valid base64", index)]
    if size_bytes == 0:
        return [FormatError(INVALID_IMAGE_URL, "image data is empty", index)]
    if size_bytes > limits.max_image_bytes:
        return [
            FormatError(IMAGE_TOO_LARGE, f"image is {size_bytes} bytes; the limit is {limits.max_image_bytes}", index)
        ]
    return []


def _check_parts(role: str, parts: list[Any], limits: ProviderLimits, index: int) -> tuple[list[FormatError], int]:
    """Errors of a list-of-parts content, and how many images it holds."""
    errors: list[FormatError] = []
    images = 0
    if not parts:
        errors.append(FormatError(MISSING_CONTENT, "content is an empty list", index))
    for part in parts:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if not isinstance(part.get("text"), str) or not part["text"]:
                errors.append(FormatError(MISSING_CONTENT, "text part without text", index))
        elif kind == "image_url":
            images += 1
            if role != "user":
                errors.append(FormatError(IMAGE_NOT_IN_USER_MESSAGE, f"image in a {role} message", index))
            image = part.get("image_url")
            if not isinstance(image, dict):
                errors.append(FormatError(INVALID_IMAGE_URL, "image_url must be an object with a url", index))
                continue
            if "detail" in image and image["detail"] not in IMAGE_DETAILS:
                errors.append(FormatError(INVALID_IMAGE_URL, f"detail must be one of {sorted(IMAGE_DETAILS)}", index))
            errors += _check_image(image.get("url"), limits, index)
        elif kind == "refusal" and role == "assistant":
            if not isinstance(part.get("refusal"), str):
                errors.append(FormatError(INVALID_CONTENT_PART, "refusal part without refusal text", index))
        else:
            errors.append(
                FormatError(INVALID_CONTENT_PART, f"unsupported content part {kind!r} in a {role} message", index)
            )
    return errors, images


def _check_tool_calls(calls: object, index: int) -> list[FormatError]:
    if not isinstance(calls, list) or not calls:
        return [FormatError(INVALID_TOOL_CALLS, "tool_calls must be a non-empty list", index)]
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if (
            not isinstance(call, dict)
            or not isinstance(call.get("id"), str)
            or call.get("type") != "function"
            or not isinstance(function, dict)
            or not isinstance(function.get("name"), str)
            or not isinstance(function.get("arguments"), str)
        ):
            return [
                FormatError(
                    INVALID_TOOL_CALLS,
                    "each tool call needs id, type 'function', function.name and function.arguments (a string)",
                    index,
                )
            ]
    return []


def _check_message(message: object, limits: ProviderLimits, index: int) -> tuple[list[FormatError], int]:
    if not isinstance(message, dict):
        return [FormatError(DATA_TYPE, "message is not an object", index)], 0
    errors: list[FormatError] = []
    role = message.get("role")
    if "role" not in message:
        return [FormatError(MESSAGE_MISSING_KEY, "message has no role", index)], 0
    if role not in ROLE_KEYS:
        return [FormatError(UNRECOGNIZED_ROLE, f"role {role!r} is not one of {sorted(ROLE_KEYS)}", index)], 0
    assert isinstance(role, str)
    for key in message:
        if key == "weight" and role != "assistant":
            errors.append(
                FormatError(INVALID_WEIGHT, f"weight is only allowed on assistant messages, not {role}", index)
            )
        elif key not in ROLE_KEYS[role]:
            errors.append(FormatError(MESSAGE_UNRECOGNIZED_KEY, f"{key!r} is not a {role} message key", index))
    if (
        role == "assistant"
        and "weight" in message
        and (type(message["weight"]) is not int or message["weight"] not in (0, 1))
    ):
        errors.append(FormatError(INVALID_WEIGHT, "weight must be 0 or 1", index))
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        errors.append(FormatError(MESSAGE_MISSING_KEY, "tool message has no tool_call_id", index))

    calls_instead = role == "assistant" and bool(message.get("tool_calls") or message.get("function_call"))
    if role == "assistant" and "tool_calls" in message:
        errors += _check_tool_calls(message["tool_calls"], index)
    images = 0
    if "content" not in message:
        if not calls_instead:
            errors.append(FormatError(MESSAGE_MISSING_KEY, "message has no content", index))
        return errors, images
    content = message["content"]
    if isinstance(content, str):
        if not content and not calls_instead:
            errors.append(FormatError(MISSING_CONTENT, "content is empty", index))
    elif isinstance(content, list):
        part_errors, images = _check_parts(role, content, limits, index)
        errors += part_errors
    elif content is None:
        if not calls_instead:
            errors.append(FormatError(MISSING_CONTENT, "content is null", index))
    else:
        errors.append(FormatError(MISSING_CONTENT, "content must be a string or a list of parts", index))
    return errors, images


def validate_example(example: object, limits: ProviderLimits = OPENAI_LIMITS) -> list[FormatError]:
    """Every format problem of one example; an empty list means the API would accept it."""
    if not isinstance(example, dict):
        return [FormatError(DATA_TYPE, "example is not a JSON object")]
    errors = [
        FormatError(EXAMPLE_UNRECOGNIZED_KEY, f"{key!r} is not an example key")
        for key in example
        if key not in EXAMPLE_KEYS
    ]
    messages = example.get("messages")
    if not isinstance(messages, list) or not messages:
        return [*errors, FormatError(MISSING_MESSAGES_LIST, "example has no non-empty 'messages' list")]
    if "tools" in example:
        tools = example["tools"]
        if not isinstance(tools, list) or not all(
            isinstance(t, dict)
            and t.get("type") == "function"
            and isinstance(t.get("function"), dict)
            and isinstance(t["function"].get("name"), str)
            for t in tools
        ):
            errors.append(
                FormatError(INVALID_TOOLS, "tools must be a list of {type: 'function', function: {name, ...}}")
            )
    image_count = 0
    for index, message in enumerate(messages):
        message_errors, images = _check_message(message, limits, index)
        errors += message_errors
        image_count += images
    if image_count > limits.max_images_per_example:
        errors.append(
            FormatError(TOO_MANY_IMAGES, f"{image_count} images; the limit is {limits.max_images_per_example}")
        )
    if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages):
        errors.append(FormatError(EXAMPLE_MISSING_ASSISTANT_MESSAGE, "example has no assistant message"))
    return errors


def validate_examples(examples: Iterable[object], limits: ProviderLimits = OPENAI_LIMITS) -> ValidationReport:
    """Validate parsed examples; line numbers are 1-based positions in the sequence."""
    report = ValidationReport()
    for line, example in enumerate(examples, start=1):
        report.add(line, validate_example(example, limits))
    return report


def validate_jsonl_text(text: str, limits: ProviderLimits = OPENAI_LIMITS) -> ValidationReport:
    """Validate a JSONL file's text; lines that are not JSON count under `invalid_json`."""
    report = ValidationReport()
    # JSONL lines end at "\n" only: str.splitlines() would also split at U+2028 or U+0085,
    # which JSON strings may hold unescaped.
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for line_number, line in enumerate(lines, start=1):
        try:
            example = json.loads(line)
        except json.JSONDecodeError as exc:
            detail = "blank line" if not line.strip() else f"not JSON: {exc.msg} at column {exc.colno}"
            report.add(line_number, [FormatError(INVALID_JSON, detail)])
            continue
        report.add(line_number, validate_example(example, limits))
    return report
