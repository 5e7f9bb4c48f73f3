"""Server-side scrub of personal data in captured text: the second line of defence.

The extension masks in the browser (extension/privacy.js); this catches what slipped
through before anything is stored: email addresses, phone numbers and card numbers (Luhn
checked). The patterns mirror privacy.js so both lines agree on what counts.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

EMAIL_MASK = "[email]"
PHONE_MASK = "[phone]"
CARD_MASK = "[card]"

EMAIL = re.compile(r"[\w.%+-]+@[^\W_](?:[\w-]*)(?:\.[\w-]+)*\.[^\W\d_]{2,}")
# Card numbers as people and pages write them: 13-19 digits in one run, groups of four, or Amex 4-6-5.
CARD = re.compile(
    r"(?<![\w.,-])(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{1,7}|\d{4}([ -])\d{6}\2\d{4,5})(?![\w-]|[.,]\d)"
)
# International (+44 20 7946 0958), North American ((555) 123-4567, 555-123-4567) and
# European national numbers starting with 0 (020 7946 0958).
PHONE = re.compile(
    r"(?<![^\W_])(?:\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}"
    r"|\d{3}[.-]\d{3}[.-]\d{4}|0\d{2,4}[ -]?\d{3,4}[ -]?\d{3,4})(?![^\W_])"
)
MIN_PHONE_DIGITS = 8
MAX_PHONE_DIGITS = 15
MIN_CARD_DIGITS = 13
MAX_CARD_DIGITS = 19


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies (ISO/IEC 7812-1)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _card(match: re.Match[str]) -> bool:
    digits = _digits(match.group(0))
    return MIN_CARD_DIGITS <= len(digits) <= MAX_CARD_DIGITS and luhn_valid(digits)


def _phone(match: re.Match[str]) -> bool:
    return MIN_PHONE_DIGITS <= len(_digits(match.group(0))) <= MAX_PHONE_DIGITS


@dataclass
class ScrubReport:
    """How many strings of each kind were masked; empty when the browser did its job."""

    counts: Counter[str] = field(default_factory=Counter)

    def __bool__(self) -> bool:
        return bool(self.counts)

    def as_dict(self) -> dict[str, int]:
        return dict(self.counts)


def scrub_text(text: str, report: ScrubReport | None = None) -> str:
    """`text` with emails, card numbers (Luhn-valid) and phone numbers replaced by a mask."""
    if not text or not any(ch.isdigit() or ch == "@" for ch in text):
        return text

    def sub(pattern: re.Pattern[str], mask: str, kind: str, keep: Any = None) -> None:
        nonlocal text

        def replace(m: re.Match[str]) -> str:
            if keep is not None and not keep(m):
                return m.group(0)
            if report is not None:
                report.counts[kind] += 1
            return mask

        text = pattern.sub(replace, text)

    sub(EMAIL, EMAIL_MASK, "email")
    sub(CARD, CARD_MASK, "card", _card)
    sub(PHONE, PHONE_MASK, "phone", _phone)
    return text


def scrub_value(value: Any, report: ScrubReport | None = None, *, skip_keys: frozenset[str] = frozenset()) -> Any:
    """A copy of JSON-like data with every string scrubbed; values under `skip_keys` are left as they are."""
    if isinstance(value, str):
        return scrub_text(value, report)
    if isinstance(value, list):
        return [scrub_value(v, report, skip_keys=skip_keys) for v in value]
    if isinstance(value, Mapping):
        return {k: v if k in skip_keys else scrub_value(v, report, skip_keys=skip_keys) for k, v in value.items()}
    return value
