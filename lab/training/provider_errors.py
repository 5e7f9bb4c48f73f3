"""The one error type of fine-tuning providers (data plane and Azure's control plane alike)."""

from __future__ import annotations

import openai


class ProviderError(Exception):
    """A provider refused or failed a request; `param` names the field (or setting) at fault."""

    def __init__(self, code: str, message: str, param: str | None = None, status_code: int | None = None) -> None:
        self.code = code
        self.message = message
        self.param = param
        self.status_code = status_code
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f" (param: {self.param})" if self.param else ""
        return f"{self.code}: {self.message}{where}"

    @classmethod
    def from_api(cls, exc: openai.APIError) -> ProviderError:
        body = exc.body if isinstance(exc.body, dict) else {}
        status = exc.status_code if isinstance(exc, openai.APIStatusError) else None
        message = str(body["message"]) if isinstance(body.get("message"), str) else exc.message
        code = exc.code or (f"http_{status}" if status else type(exc).__name__)
        return cls(code, message, exc.param, status)
