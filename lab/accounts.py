"""Participants (who record) and dashboard users (who review and train), with bearer tokens.

Only a SHA-256 hash of a token is stored; the token itself is shown once, at creation.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from lab.db.models import USER_ROLES, Participant, User

PARTICIPANT_TOKEN_PREFIX = "csp_"
USER_TOKEN_PREFIX = "csu_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


async def add_participant(s: AsyncSession, name: str) -> tuple[Participant, str]:
    """Create a participant; returns it with its token (never stored in clear)."""
    token = new_token(PARTICIPANT_TOKEN_PREFIX)
    participant = Participant(name=name, token_hash=hash_token(token))
    s.add(participant)
    await s.flush()
    return participant, token


async def add_user(s: AsyncSession, name: str, role: str) -> tuple[User, str]:
    """Create a dashboard user with a role; returns it with its API token."""
    if role not in USER_ROLES:
        raise ValueError(f"role: must be one of {', '.join(USER_ROLES)}, not {role!r}")
    token = new_token(USER_TOKEN_PREFIX)
    user = User(name=name, role=role, token_hash=hash_token(token))
    s.add(user)
    await s.flush()
    return user, token


async def find_by_token(s: AsyncSession, token: str) -> Participant | User | None:
    """The participant or user a bearer token belongs to, or None."""
    digest = hash_token(token)
    if token.startswith(PARTICIPANT_TOKEN_PREFIX):
        return (await s.exec(select(Participant).where(Participant.token_hash == digest))).first()
    if token.startswith(USER_TOKEN_PREFIX):
        return (await s.exec(select(User).where(User.token_hash == digest))).first()
    return None
