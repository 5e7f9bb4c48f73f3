"""Retrying transient failures of provider calls: which failures, how long to wait, what was retried.

Pure: no I/O here. `ClientProvider` (lab.training.providers) and `AzureDeployments`
(lab.training.azure_arm) run the loop and sleep.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from dataclasses import dataclass

import openai


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with "equal jitter" (half the ceiling fixed, half random), as in
    https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/; a server's
    Retry-After wins when it gives one, up to `max_retry_after_s`."""

    max_attempts: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    max_retry_after_s: float = 120.0

    def backoff_s(self, retry_number: int, unit_random: float) -> float:
        """Delay before retry `retry_number` (0-based), given a random number in [0, 1)."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2**retry_number)
        return ceiling / 2 + unit_random * ceiling / 2


@dataclass(frozen=True)
class RetryRecord:
    """One retried failure: which call, which attempt failed, why, and how long we waited."""

    operation: str
    attempt: int
    reason: str
    delay_s: float


def retry_after_s(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds a response asks us to wait: `retry-after-ms`, or `Retry-After` in seconds or as an HTTP date."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if (ms := lowered.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(value)
    if parsed is None:
        return None
    return max(0.0, email.utils.mktime_tz(parsed) - (time.time() if now is None else now))


def transient_reason(exc: BaseException) -> str | None:
    """Why a failure is worth retrying ("429", "503", "connection", "timeout"), or None when it is not."""
    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "connection"
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code == 429 and exc.code == "insufficient_quota":
            return None  # a billing problem: waiting does not fix it
        if exc.status_code in (408, 429) or exc.status_code >= 500:
            return str(exc.status_code)
    return None


def transient_status_reason(status_code: int) -> str | None:
    """Why an HTTP answer is worth retrying ("429", "503"), or None: the same statuses as `transient_reason`."""
    if status_code in (408, 429) or status_code >= 500:
        return str(status_code)
    return None
