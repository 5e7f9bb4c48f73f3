"""The quality step's automatic verdict and who may override it."""

from __future__ import annotations

import uuid

import pytest

from lab.db.models import Session
from lab.quality.review import ACCEPT_AT, REJECT_BELOW, auto_verdict, propose


@pytest.mark.parametrize(
    ("score", "verdict"),
    [(100.0, "accepted"), (ACCEPT_AT, "accepted"), (ACCEPT_AT - 0.1, "needs_review"), (REJECT_BELOW, "needs_review"),
     (REJECT_BELOW - 0.1, "rejected"), (0.0, "rejected")],
)  # fmt: skip
def test_auto_verdict_follows_the_thresholds(score: float, verdict: str) -> None:
    assert auto_verdict(score) == verdict


def test_a_reviewers_decision_is_not_overwritten_by_a_later_grading() -> None:
    session = Session(site="shop", review_status="rejected", reviewed_by=uuid.uuid4())
    propose(session, 99.0)
    assert session.review_status == "rejected"
    fresh = Session(site="shop")
    propose(fresh, 99.0)
    assert fresh.review_status == "accepted"
