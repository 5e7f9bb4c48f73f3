"""Datasets per site: split by session (never by step), deterministic, only accepted sessions' valid examples."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab.training.dataset import (
    VALIDATION_SHARE,
    StoredExample,
    assemble_dataset,
    assign_splits,
    session_hash_unit,
    session_split,
)
from lab.training.tokens import token_counting

uuids = st.uuids(version=4)


def body(session_id: uuid.UUID, step: int) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": f"{session_id} step {step}"},
            {"role": "assistant", "content": "ok"},
        ]
    }


def stored(session_id: uuid.UUID, steps: int, valid: bool = True) -> list[StoredExample]:
    return [StoredExample(session_id, i, body(session_id, i), valid) for i in range(steps)]


def sessions_in(jsonl: str) -> list[str]:
    return [json.loads(line)["messages"][0]["content"].split()[0] for line in jsonl.splitlines()]


@pytest.fixture(autouse=True, scope="module")
def loaded_encodings() -> None:
    """tiktoken's encodings loaded before any timed hypothesis example (the first load takes a while)."""
    token_counting()


def test_the_split_of_a_session_is_its_hash_and_about_a_fifth_go_to_validation() -> None:
    ids = [uuid.UUID(int=i * 7919 + 1, version=4) for i in range(3_000)]
    assert all(session_split(sid) == session_split(uuid.UUID(str(sid))) for sid in ids)
    share = sum(session_split(sid) == "validation" for sid in ids) / len(ids)
    assert abs(share - VALIDATION_SHARE) < 0.03
    assert all(0 <= session_hash_unit(sid) < 1 for sid in ids)


def test_a_single_session_keeps_its_hash_split() -> None:
    sid = uuid.uuid4()
    assert assign_splits([sid]) == {sid: session_split(sid)}
    assert assign_splits([]) == {}


@given(st.lists(uuids, min_size=2, max_size=12, unique=True), st.randoms(use_true_random=False))
def test_two_or_more_sessions_have_both_splits_whatever_their_order(ids: list[uuid.UUID], rnd: Any) -> None:
    splits = assign_splits(ids)
    shuffled = list(ids)
    rnd.shuffle(shuffled)
    assert assign_splits(shuffled) == splits
    assert set(splits.values()) == {"train", "validation"}
    moved = [sid for sid in ids if splits[sid] != session_split(sid)]
    assert len(moved) <= 1


@given(st.lists(st.tuples(uuids, st.integers(1, 6)), min_size=1, max_size=8, unique_by=lambda x: x[0]))
def test_a_session_is_never_split_across_train_and_validation(sessions: list[tuple[uuid.UUID, int]]) -> None:
    examples = [example for sid, steps in sessions for example in stored(sid, steps)]
    dataset = assemble_dataset("shop", [sid for sid, _ in sessions], examples)
    train, validation = sessions_in(dataset.train_jsonl), sessions_in(dataset.validation_jsonl)
    assert not set(train) & set(validation)
    steps = dict(sessions)
    for sid, split in dataset.splits.items():
        assert (train if split == "train" else validation).count(str(sid)) == steps[sid]
    assert dataset.counts()["train_examples"] + dataset.counts()["validation_examples"] == sum(steps.values())


def test_only_accepted_sessions_and_valid_examples_reach_the_dataset() -> None:
    accepted, other_accepted, rejected = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    examples = [
        *stored(accepted, 3),
        StoredExample(accepted, 9, {"messages": []}, valid=False),
        *stored(other_accepted, 2),
        *stored(rejected, 4),
    ]
    dataset = assemble_dataset("shop", [accepted, other_accepted], examples)

    everything = sessions_in(dataset.train_jsonl) + sessions_in(dataset.validation_jsonl)
    assert str(rejected) not in everything
    assert sorted(everything) == sorted([str(accepted)] * 3 + [str(other_accepted)] * 2)
    assert dataset.counts() == {
        "sessions": 2,
        "train_sessions": 1,
        "validation_sessions": 1,
        "train_examples": dataset.counts()["train_examples"],
        "validation_examples": dataset.counts()["validation_examples"],
        "skipped_invalid": 1,
    }
    assert dataset.ok and dataset.report()["train"]["invalid_count"] == 0


def test_the_report_carries_the_providers_limits_for_the_model() -> None:
    sid = uuid.uuid4()
    dataset = assemble_dataset("shop", [sid], stored(sid, 3), provider="openai", model="gpt-4o-mini-2024-07-18")
    report = dataset.report()
    assert not dataset.ok
    assert report["problems"][0]["code"] == "invalid_n_examples"
    assert report["counts"]["sessions"] == 1 and report["site"] == "shop"
