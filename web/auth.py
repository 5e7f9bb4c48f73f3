"""Bearer-token identity for every request, and the guards routes declare.

Participants (the extension) send `Authorization: Bearer csp_…`; the WebSocket,
which browsers cannot give headers, passes `?token=`. Dashboard users send
`Bearer csu_…` or carry the token in the `codesight_token` cookie set at /login.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from lab.accounts import find_by_token
from lab.db.models import Participant, User

TOKEN_COOKIE = "codesight_token"


def token_from_scope(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token:
                return token.strip()
        if name == b"cookie":
            morsel = SimpleCookie(value.decode("latin-1")).get(TOKEN_COOKIE)
            if morsel and morsel.value:
                return morsel.value
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    tokens = query.get("token")
    return tokens[0] if tokens else None


class TokenAuthMiddleware(ASGIMiddleware):
    """Sets `scope["user"]` to the Participant or User behind the token, or None."""

    scopes = (ScopeType.HTTP, ScopeType.WEBSOCKET)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        identity: Participant | User | None = None
        token = token_from_scope(scope)
        if token:
            services = scope["litestar_app"].state.services
            async with services.db.session() as s:
                identity = await find_by_token(s, token)
        scope["user"] = identity
        await next_app(scope, receive, send)


def participant_guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    if not isinstance(connection.user, Participant):
        raise NotAuthorizedException("a participant token is required (Authorization: Bearer csp_…)")


def _role_guard(*roles: str):  # type: ignore[no-untyped-def]
    def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        user = connection.user
        if not isinstance(user, User):
            raise NotAuthorizedException("a dashboard user token is required (Authorization: Bearer csu_…)")
        if user.role not in roles:
            raise PermissionDeniedException(f"role {user.role!r} may not do this; needs one of {', '.join(roles)}")

    return guard


reader_guard = _role_guard("admin", "reviewer", "trainer", "viewer")
reviewer_guard = _role_guard("admin", "reviewer")
trainer_guard = _role_guard("admin", "trainer")
admin_guard = _role_guard("admin")
