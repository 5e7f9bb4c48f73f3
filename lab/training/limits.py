"""Fine-tuning limits per provider and model: one table, each figure next to its source.

The validator checks images against a provider's `ProviderLimits`; `check_dataset` checks a
whole dataset against the provider and the chosen model (example count, tokens per example,
images on a text-only model, file size); `provider_status` says whether a provider still takes
new jobs. The dashboard and the local OpenAI-compatible server read the same table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from lab.training.tokens import estimate_tokens, image_count

Provider = Literal["openai", "azure", "compatible"]
PROVIDERS: tuple[Provider, ...] = ("openai", "azure", "compatible")

# Sources, named once so each figure below can point at one.
OPENAI_VISION_FT = "https://developers.openai.com/api/docs/guides/vision-fine-tuning"
OPENAI_SFT = "https://developers.openai.com/api/docs/guides/supervised-fine-tuning"
OPENAI_FILES = "https://developers.openai.com/api/reference/resources/files/methods/create"
OPENAI_DEPRECATIONS = "https://developers.openai.com/api/docs/deprecations"
AZURE_VISION_FT = "https://learn.microsoft.com/azure/foundry/openai/how-to/fine-tuning-vision"
AZURE_FT_MODELS = (
    "https://github.com/MicrosoftDocs/azure-ai-docs/blob/main/articles/ai-foundry/openai/includes/fine-tune-models.md"
)
AZURE_QUOTAS = "https://learn.microsoft.com/azure/ai-foundry/openai/quotas-limits"

MB = 1024 * 1024


@dataclass(frozen=True)
class ModelLimits:
    """What one base model accepts as fine-tuning data."""

    model: str
    max_tokens_per_example: int
    takes_images: bool
    source: str
    # Last day the base model (and every fine-tune of it) answers; None when no shutdown is announced.
    shutdown: date | None = None


@dataclass(frozen=True)
class ProviderLimits:
    """Per-provider limits on training data, each with its source; `models` keyed by base model name."""

    max_images_per_example: int
    max_image_bytes: int
    image_mime_types: frozenset[str]
    source: str
    provider: Provider = "openai"
    max_file_bytes: int = 512 * MB
    min_examples: int = 10
    models: Mapping[str, ModelLimits] = field(default_factory=dict)
    # First day the provider refuses new fine-tuning jobs (None when no end is announced), and where it says so.
    new_jobs_end: date | None = None
    new_jobs_end_source: str | None = None
    # (tokens in the training file) x (epochs) per job; None when unpublished.
    max_billed_tokens_per_job: int | None = None


IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})

# OpenAI's four GPT-4o / GPT-4.1 snapshots shut down on 2027-01-14 (deprecations page, notice of 2026-10-14),
# fine-tunes of them on the same day.
GPT4_FAMILY_SHUTDOWN = date(2027, 1, 14)

OPENAI_MODELS: Mapping[str, ModelLimits] = {
    # 65,536 tokens per training example (OpenAI's fine-tuning guide, "Token limits"; Azure's table gives the
    # same figure for the same snapshots); images only on gpt-4o-2024-08-06 (OPENAI_VISION_FT, "Use with").
    "gpt-4o-2024-08-06": ModelLimits("gpt-4o-2024-08-06", 65_536, True, OPENAI_VISION_FT, GPT4_FAMILY_SHUTDOWN),
    "gpt-4o-mini-2024-07-18": ModelLimits("gpt-4o-mini-2024-07-18", 65_536, False, OPENAI_SFT, GPT4_FAMILY_SHUTDOWN),
    # OpenAI's SFT guide lists the 4.1 family without a per-example figure; these are Azure's figures for the
    # same snapshots (AZURE_FT_MODELS), the only published ones.
    "gpt-4.1-2025-04-14": ModelLimits("gpt-4.1-2025-04-14", 65_536, False, AZURE_FT_MODELS, GPT4_FAMILY_SHUTDOWN),
    "gpt-4.1-mini-2025-04-14": ModelLimits(
        "gpt-4.1-mini-2025-04-14", 65_536, False, AZURE_FT_MODELS, GPT4_FAMILY_SHUTDOWN
    ),
    "gpt-4.1-nano-2025-04-14": ModelLimits("gpt-4.1-nano-2025-04-14", 32_768, False, AZURE_FT_MODELS),
}

AZURE_MODELS: Mapping[str, ModelLimits] = {
    # "Training example context length" column of Azure's fine-tuning model table; vision per AZURE_VISION_FT.
    "gpt-4o-2024-08-06": ModelLimits("gpt-4o-2024-08-06", 65_536, True, AZURE_FT_MODELS),
    "gpt-4o-mini-2024-07-18": ModelLimits("gpt-4o-mini-2024-07-18", 65_536, False, AZURE_FT_MODELS),
    "gpt-4.1-2025-04-14": ModelLimits("gpt-4.1-2025-04-14", 65_536, True, AZURE_FT_MODELS),
    "gpt-4.1-mini-2025-04-14": ModelLimits("gpt-4.1-mini-2025-04-14", 65_536, False, AZURE_FT_MODELS),
    "gpt-4.1-nano-2025-04-14": ModelLimits("gpt-4.1-nano-2025-04-14", 32_768, False, AZURE_FT_MODELS),
    "o4-mini-2025-04-16": ModelLimits("o4-mini-2025-04-16", 65_536, False, AZURE_FT_MODELS),
}

OPENAI_LIMITS = ProviderLimits(
    # 10 images per example, 10 MB each, JPEG/PNG/WEBP ("Image data requirements").
    max_images_per_example=10,
    max_image_bytes=10 * MB,
    image_mime_types=IMAGE_TYPES,
    source=OPENAI_VISION_FT,
    provider="openai",
    # 512 MB per file (OPENAI_FILES); at least 10 examples (OPENAI_SFT, "Right number of examples").
    max_file_bytes=512 * MB,
    min_examples=10,
    models=OPENAI_MODELS,
    # "Update to OpenAI's self-serve fine-tuning" (OPENAI_DEPRECATIONS): organizations that never fine-tuned
    # lost access on 2026-05-07, those without fine-tuned inference in 60 days on 2026-07-02, everyone on
    # 2027-01-06. Inference on fine-tuned models continues until the base model shuts down.
    new_jobs_end=date(2027, 1, 6),
    new_jobs_end_source=OPENAI_DEPRECATIONS,
)

AZURE_LIMITS = ProviderLimits(
    # 64 images per example, 10 MB each, JPEG/PNG/WEBP, at least 10 examples ("Image dataset requirements").
    max_images_per_example=64,
    max_image_bytes=10 * MB,
    image_mime_types=IMAGE_TYPES,
    source=AZURE_VISION_FT,
    provider="azure",
    # "Max file size for Assistants & fine-tuning: 512 MB"; "(tokens in training file) x (# of epochs): 2 Billion".
    max_file_bytes=512 * MB,
    min_examples=10,
    models=AZURE_MODELS,
    max_billed_tokens_per_job=2_000_000_000,
)

# An OpenAI-compatible endpoint publishes its own limits, if any; it speaks OpenAI's format, so OpenAI's
# file-level figures are the safe assumption. Models are unknown: no per-model checks.
COMPATIBLE_LIMITS = ProviderLimits(
    max_images_per_example=OPENAI_LIMITS.max_images_per_example,
    max_image_bytes=OPENAI_LIMITS.max_image_bytes,
    image_mime_types=IMAGE_TYPES,
    source=f"assumed from OpenAI: {OPENAI_VISION_FT}",
    provider="compatible",
)

_BY_PROVIDER: Mapping[str, ProviderLimits] = {
    "openai": OPENAI_LIMITS,
    "azure": AZURE_LIMITS,
    "compatible": COMPATIBLE_LIMITS,
}


def limits_for(provider: str) -> ProviderLimits:
    """The limits of a fine-tuning provider (`openai`, `azure`, `compatible`)."""
    try:
        return _BY_PROVIDER[provider]
    except KeyError:
        raise ValueError(f"ft_provider: unknown provider {provider!r}; one of {', '.join(PROVIDERS)}") from None


def base_model(model: str) -> str:
    """The base model a name refers to: `ft:gpt-4o-2024-08-06:org::abc` and Azure's
    `gpt-4o-2024-08-06.ft-abc` both continue training from `gpt-4o-2024-08-06`."""
    if model.startswith("ft:"):
        return model.split(":")[1]
    if ".ft-" in model:
        return model.split(".ft-")[0]
    return model


def model_limits(provider: str, model: str) -> ModelLimits | None:
    """The table row for a base (or fine-tuned) model, or None when the table does not know it."""
    return limits_for(provider).models.get(base_model(model))


# --- dataset checks -----------------------------------------------------------------------

# Error codes as the fine-tuning API reports them on a failed job.
INVALID_N_EXAMPLES = "invalid_n_examples"
INVALID_FILE = "invalid_training_file"
FILE_TOO_LARGE = "file_too_large"


@dataclass(frozen=True)
class LimitProblem:
    """One reason a provider would refuse a dataset, shaped like a fine-tuning job's `error`."""

    code: str
    message: str
    param: str | None = "training_file"


def check_dataset(
    examples: Sequence[Any],
    provider: str,
    model: str,
    *,
    size_bytes: int | None = None,
    param: str = "training_file",
) -> list[LimitProblem]:
    """Everything about a (format-valid) dataset that the provider's limits for `model` refuse."""
    limits = limits_for(provider)
    code = INVALID_FILE if param == "training_file" else "invalid_validation_file"
    what = "Training file" if param == "training_file" else "Validation file"
    problems: list[LimitProblem] = []
    # The published minimum is for training files; a validation file only has to hold something.
    minimum = limits.min_examples if param == "training_file" else 1
    if len(examples) < minimum:
        problems.append(
            LimitProblem(
                INVALID_N_EXAMPLES,
                f"{what} has {len(examples)} example(s), but must have at least {minimum} examples",
                param,
            )
        )
    if size_bytes is not None and size_bytes > limits.max_file_bytes:
        problems.append(
            LimitProblem(
                FILE_TOO_LARGE, f"{what} is {size_bytes} bytes; the limit is {limits.max_file_bytes} bytes", param
            )
        )
    row = model_limits(provider, model)
    if row is None:
        return problems
    if not row.takes_images:
        with_images = [line for line, example in enumerate(examples, start=1) if image_count(example)]
        if with_images:
            problems.append(
                LimitProblem(
                    code,
                    f"{what} has images in {len(with_images)} example(s) (first: line {with_images[0]}), "
                    f"but {row.model} does not take images in fine-tuning",
                    param,
                )
            )
    too_long = [
        line
        for line, example in enumerate(examples, start=1)
        if estimate_tokens(example, row.model) > row.max_tokens_per_example
    ]
    if too_long:
        problems.append(
            LimitProblem(
                code,
                f"{what} has {len(too_long)} example(s) over the {row.max_tokens_per_example}-token limit "
                f"of {row.model} (first: line {too_long[0]})",
                param,
            )
        )
    return problems


# --- provider status ------------------------------------------------------------------------

SWITCH_SUGGESTION = (
    "Switch CODESIGHT_FT_PROVIDER to 'azure' (Azure OpenAI fine-tuning through the same API, "
    "up to 64 images per example) or 'compatible' (any OpenAI-compatible fine-tuning endpoint, "
    "CODESIGHT_OPENAI_BASE_URL)."
)


@dataclass(frozen=True)
class ProviderStatus:
    """Whether a provider takes new fine-tuning jobs today, and what to tell the trainer."""

    provider: str
    accepts_new_jobs: bool
    warning: str | None = None
    suggestion: str | None = None


def provider_status(provider: str, today: date, model: str | None = None) -> ProviderStatus:
    """Whether `provider` accepts new jobs on `today`, with a warning and an alternative when it
    stops (or will stop) doing so, or when `model` is about to shut down."""
    limits = limits_for(provider)
    warnings: list[str] = []
    accepts = True
    end = limits.new_jobs_end
    if end is not None and today >= end:
        accepts = False
        warnings.append(
            f"{provider} stopped accepting new fine-tuning jobs on {end.isoformat()} ({limits.new_jobs_end_source})."
        )
    elif end is not None:
        days = (end - today).days
        warnings.append(
            f"{provider} stops accepting new fine-tuning jobs on {end.isoformat()} (in {days} days); "
            f"organizations without recent fine-tuning activity already cannot start jobs "
            f"({limits.new_jobs_end_source})."
        )
    row = model_limits(provider, model) if model else None
    if row is not None and row.shutdown is not None:
        if today >= row.shutdown:
            accepts = False
            warnings.append(f"{row.model} shut down on {row.shutdown.isoformat()}; choose another base model.")
        else:
            warnings.append(
                f"{row.model} and every fine-tune of it stop answering on {row.shutdown.isoformat()} "
                f"({(row.shutdown - today).days} days)."
            )
    if not warnings:
        return ProviderStatus(provider, True)
    return ProviderStatus(provider, accepts, " ".join(warnings), SWITCH_SUGGESTION if end is not None else None)
