"""A site's fine-tuning dataset: the examples of its accepted sessions, split into train and
validation by session (never by step), as JSONL texts with their validation report.

The split is deterministic: a session goes to validation when the hash of its id falls in the
first VALIDATION_SHARE of the hash space; when a site has two or more sessions and the hash
put none (or all) of them in validation, the session with the lowest (highest) hash moves,
so both splits have at least one session.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from lab.config import Settings, get_settings
from lab.db.models import TrainingExample
from lab.quality.review import accepted_session_ids
from lab.training.examples import to_jsonl
from lab.training.limits import LimitProblem, check_dataset
from lab.training.validate import ValidationReport, limits_for, validate_examples

Split = Literal["train", "validation"]
# Share of sessions held out for validation (and for the evaluation after fine-tuning).
VALIDATION_SHARE = 0.2
_HASH_SPACE = 2**64


def session_hash_unit(session_id: uuid.UUID) -> float:
    """Where a session id falls in [0, 1): the first 8 bytes of sha256 of its text form."""
    digest = hashlib.sha256(str(session_id).encode("ascii")).digest()
    return int.from_bytes(digest[:8], "big") / _HASH_SPACE


def session_split(session_id: uuid.UUID) -> Split:
    """The split a session's hash alone gives it."""
    return "validation" if session_hash_unit(session_id) < VALIDATION_SHARE else "train"


def assign_splits(session_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Split]:
    """The split of every session of one site: by hash, and with two or more sessions, at least one in each."""
    splits = {sid: session_split(sid) for sid in session_ids}
    if len(splits) >= 2:
        by_hash = sorted(splits, key=session_hash_unit)
        if "validation" not in splits.values():
            splits[by_hash[0]] = "validation"
        elif "train" not in splits.values():
            splits[by_hash[-1]] = "train"
    return splits


@dataclass(frozen=True)
class StoredExample:
    """A training example row as the dataset builder needs it."""

    session_id: uuid.UUID
    event_id: int
    body: dict[str, Any]
    valid: bool = True


@dataclass(frozen=True)
class SiteDataset:
    """A site's train and validation JSONL, what the validator and the provider's limits say of them, and counts."""

    site: str
    train_jsonl: str
    validation_jsonl: str
    train_report: ValidationReport
    validation_report: ValidationReport
    splits: Mapping[uuid.UUID, Split]
    problems: tuple[LimitProblem, ...] = ()
    skipped_invalid: int = 0
    examples_per_split: Mapping[Split, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.train_report.ok and self.validation_report.ok and not self.problems

    def counts(self) -> dict[str, int]:
        return {
            "sessions": len(self.splits),
            "train_sessions": sum(split == "train" for split in self.splits.values()),
            "validation_sessions": sum(split == "validation" for split in self.splits.values()),
            "train_examples": self.examples_per_split.get("train", 0),
            "validation_examples": self.examples_per_split.get("validation", 0),
            "skipped_invalid": self.skipped_invalid,
        }

    def report(self) -> dict[str, Any]:
        """Everything a trainer needs to judge the dataset, as JSON."""
        return {
            "site": self.site,
            "ok": self.ok,
            "counts": self.counts(),
            "train": self.train_report.to_dict(),
            "validation": self.validation_report.to_dict(),
            "problems": [{"code": p.code, "message": p.message, "param": p.param} for p in self.problems],
        }


def assemble_dataset(
    site: str,
    accepted: Sequence[uuid.UUID],
    examples: Iterable[StoredExample],
    provider: str = "openai",
    model: str = "",
) -> SiteDataset:
    """Pure: the dataset of `site` from its examples; only the valid examples of sessions in `accepted` count."""
    splits = assign_splits(accepted)
    position = {sid: i for i, sid in enumerate(accepted)}
    kept = sorted((e for e in examples if e.session_id in position), key=lambda e: (position[e.session_id], e.event_id))
    bodies: dict[Split, list[dict[str, Any]]] = {"train": [], "validation": []}
    skipped = 0
    for example in kept:
        if example.valid:
            bodies[splits[example.session_id]].append(example.body)
        else:
            skipped += 1
    limits = limits_for(provider)
    train_jsonl, validation_jsonl = to_jsonl(bodies["train"]), to_jsonl(bodies["validation"])
    problems: list[LimitProblem] = []
    if model:
        problems += check_dataset(bodies["train"], provider, model, size_bytes=len(train_jsonl.encode()))
        if bodies["validation"]:
            problems += check_dataset(
                bodies["validation"],
                provider,
                model,
                size_bytes=len(validation_jsonl.encode()),
                param="validation_file",
            )
    return SiteDataset(
        site=site,
        train_jsonl=train_jsonl,
        validation_jsonl=validation_jsonl,
        train_report=validate_examples(bodies["train"], limits),
        validation_report=validate_examples(bodies["validation"], limits),
        splits=splits,
        problems=tuple(problems),
        skipped_invalid=skipped,
        examples_per_split={split: len(items) for split, items in bodies.items()},
    )


async def build_site_dataset(s: AsyncSession, site: str, settings: Settings | None = None) -> SiteDataset:
    """The dataset of a site from the TrainingExample rows of its accepted sessions (a rejected,
    pending or needs-review session never reaches it), checked for the configured provider and model."""
    settings = settings or get_settings()
    accepted = await accepted_session_ids(s, site)
    rows = (
        await s.exec(
            select(TrainingExample)
            .where(TrainingExample.site == site, col(TrainingExample.session_id).in_(accepted))
            .order_by(col(TrainingExample.event_id))
        )
    ).all()
    examples = [StoredExample(row.session_id, row.event_id, row.body, row.valid) for row in rows]
    return assemble_dataset(site, accepted, examples, settings.ft_provider, settings.ft_model)


async def record_splits(s: AsyncSession, dataset: SiteDataset) -> None:
    """Store each example's split as the dataset assigned it (the training step stored the hash's)."""
    for split in ("train", "validation"):
        ids = [sid for sid, assigned in dataset.splits.items() if assigned == split]
        if ids:
            await s.exec(update(TrainingExample).where(col(TrainingExample.session_id).in_(ids)).values(split=split))
