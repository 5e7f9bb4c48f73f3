"""Request bodies of the fake server, validated at the edge as the API validates them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from litestar.datastructures import UploadFile
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from lab.training.fake_openai.errors import ApiError

IMAGE_URL_PREFIXES = ("https://", "http://", "data:image/")


@dataclass
class FileUpload:
    file: UploadFile
    purpose: str


def _in_range(low: float, high: float) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value != "auto" and not low <= value <= high:
            raise ValueError(f"must be 'auto' or a number from {low:g} to {high:g}, not {value}")
        return value

    return check


class HyperparametersIn(BaseModel):
    # Ranges the fine-tuning API accepts (https://developers.openai.com/api/reference/resources/fine_tuning).
    n_epochs: Annotated[int | Literal["auto"], AfterValidator(_in_range(1, 50))] = "auto"
    batch_size: Annotated[int | Literal["auto"], AfterValidator(_in_range(1, 256))] = "auto"
    learning_rate_multiplier: Annotated[float | Literal["auto"], AfterValidator(_in_range(1e-6, 10))] = "auto"


class SupervisedIn(BaseModel):
    hyperparameters: HyperparametersIn | None = None


class MethodIn(BaseModel):
    type: Literal["supervised", "dpo", "reinforcement"]
    supervised: SupervisedIn | None = None


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str
    training_file: str
    validation_file: str | None = None
    hyperparameters: HyperparametersIn | None = None
    method: MethodIn | None = None
    suffix: str | None = Field(default=None, max_length=64)
    seed: int | None = None

    def requested_hyperparameters(self) -> dict[str, Any]:
        if self.method is not None and self.method.type != "supervised":
            raise ApiError(400, f"This server only runs supervised fine-tuning, not {self.method.type}", param="method")
        chosen = self.method.supervised.hyperparameters if self.method and self.method.supervised else None
        chosen = chosen or self.hyperparameters
        return chosen.model_dump() if chosen else {}


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    messages: list[dict[str, Any]] = Field(min_length=1)
    tools: list[dict[str, Any]] | None = None
    response_format: dict[str, Any] | None = None


class FaultIn(BaseModel):
    status: int = Field(ge=400, le=599)
    count: int = Field(default=1, ge=1)
    retry_after_s: float | None = Field(default=None, ge=0)
    path_prefix: str = ""


class DeploymentIn(BaseModel):
    name: str
    model: str


class ArmTokenIn(BaseModel):
    # An hour, as Entra ID's access tokens for ARM last by default.
    ttl_s: float = Field(default=3600.0, gt=0)


def check_messages(messages: list[dict[str, Any]]) -> None:
    """Refuse what the chat API refuses in a message list: unknown roles, malformed image parts."""
    for i, message in enumerate(messages):
        if message.get("role") not in ("system", "developer", "user", "assistant", "tool"):
            raise ApiError(400, f"Invalid value for 'role': {message.get('role')!r}", param=f"messages[{i}].role")
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for j, part in enumerate(content):
            where = f"messages[{i}].content[{j}]"
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "image_url":
                url = part["image_url"].get("url") if isinstance(part.get("image_url"), dict) else None
                if not isinstance(url, str) or not url.startswith(IMAGE_URL_PREFIXES):
                    raise ApiError(400, "Invalid image URL: expected an http(s) or data:image/ URL", param=where)
            elif kind not in ("text", "input_audio", "file", "refusal"):
                raise ApiError(400, f"Invalid content part type: {kind!r}", param=f"{where}.type")
