"""Dashboard pages: the session list (live), a session's clicks, screenshots and selector reliability."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_409_CONFLICT

from lab.accounts import find_by_token
from lab.capture import views
from lab.db.models import REVIEW_STATUSES, SESSION_MODES, SESSION_STATUSES, Event, Screenshot, Session, User
from lab.quality.review import record_review
from web.api.participants import erased
from web.api.sessions import overview_or_404
from web.auth import TOKEN_COOKIE, admin_guard, reader_guard, reviewer_guard
from web.services import Services, ServicesDep
from workers.tasks import ResumeRefusedError, resume_pipeline

SESSIONS_PER_PAGE = 50
# The session list's template context (`session_list`), as the list routes ask for it.
ListingDep = NamedDependency[dict[str, Any]]
# What a stored event file is served as: snapshots as gzip (open in a browser after gunzip), audio to play.
BLOB_MEDIA_TYPES = {"snapshot": "application/gzip", "audio": "audio/webm"}


async def status_card(
    services: Services, session_id: uuid.UUID, user: User, error: str | None = None, status_code: int = 200
) -> Template:
    """The session page's live status card (steps, errors, the Run again button)."""
    async with services.db.session() as s:
        overview = await overview_or_404(s, session_id)
    context = {"row": overview.row, "steps": overview.steps, "session": overview.session, "user": user, "error": error}
    return Template("partials/session_status.html", context=context, status_code=status_code)


async def session_list(
    services: ServicesDep,
    site: FromQuery[str | None] = None,
    mode: FromQuery[str | None] = None,
    status: FromQuery[str | None] = None,
    review: FromQuery[str | None] = None,
    before: FromQuery[str | None] = None,
) -> dict[str, Any]:
    """The session list's template context, from the filter form's query (an empty field means "any");
    the list pages' dependency `listing`."""
    filters = views.SessionFilter(site=site or None, mode=mode or None, status=status or None, review=review or None)
    try:
        anchor = uuid.UUID(before) if before else None
    except ValueError as exc:
        raise ClientException(f"before: {before!r} is not a session id") from exc
    try:
        async with services.db.session() as s:
            page = await views.list_sessions(s, limit=SESSIONS_PER_PAGE, filters=filters, before=anchor)
            counts = await views.review_counts(s, filters)
    except (ValueError, LookupError) as exc:  # they name the field
        raise ClientException(str(exc)) from exc
    return {
        "rows": page.rows,
        "next_before": page.next_before,
        "before": anchor,
        "filters": filters,
        "counts": counts,
    }


class DashboardController(Controller):
    guards = [reader_guard]
    include_in_schema = False

    @get("/")
    async def home(self) -> Redirect:
        return Redirect("/sessions")

    @get("/sessions", dependencies={"listing": Provide(session_list)})
    async def sessions(self, request: Request[User, Any, Any], services: ServicesDep, listing: ListingDep) -> Template:
        async with services.db.session() as s:
            sites = await views.session_sites(s)
        context = listing | {
            "sites": sites,
            "user": request.user,
            "modes": SESSION_MODES,
            "statuses": SESSION_STATUSES,
            "reviews": REVIEW_STATUSES,
        }
        return Template("sessions.html", context=context)

    @get("/sessions/rows", dependencies={"listing": Provide(session_list)})
    async def session_rows(self, listing: ListingDep) -> Template:
        """The session list alone (counts, table, pager), for the live refresh."""
        return Template("partials/session_list.html", context=listing)

    @get("/sessions/{session_id:uuid}")
    async def session(
        self, request: Request[User, Any, Any], session_id: FromPath[uuid.UUID], services: ServicesDep
    ) -> Template:
        async with services.db.session() as s:
            overview = await overview_or_404(s, session_id)
            clicks = await views.session_clicks(s, session_id)
            timeline = await views.session_timeline(s, session_id)
        conditions = sorted(
            {c for click in clicks for cand in click.candidates for c in cand.conditions}
            | {c for click in clicks for c in click.picks}
        )
        return Template(
            "session.html",
            context={
                "row": overview.row,
                "session": overview.session,
                "steps": overview.steps,
                "clicks": clicks,
                "timeline": timeline,
                "conditions": conditions,
                "user": request.user,
            },
        )

    @get("/sessions/{session_id:uuid}/status")
    async def session_status(
        self, request: Request[User, Any, Any], session_id: FromPath[uuid.UUID], services: ServicesDep
    ) -> Template:
        return await status_card(services, session_id, request.user)

    @post("/sessions/{session_id:uuid}/pipeline/resume", guards=[reviewer_guard])
    async def resume_pipeline(
        self, request: Request[User, Any, Any], session_id: FromPath[uuid.UUID], services: ServicesDep
    ) -> Template:
        """The status card's "Run again" button: the pipeline resumes at its first unfinished step."""
        try:
            await resume_pipeline(services.queue, services.db, session_id)
        except LookupError as exc:
            raise NotFoundException(str(exc)) from exc
        except ResumeRefusedError as exc:
            return await status_card(services, session_id, request.user, error=str(exc), status_code=409)
        return await status_card(services, session_id, request.user)

    @post("/sessions/{session_id:uuid}/review", guards=[reviewer_guard])
    async def review(
        self,
        request: Request[User, Any, Any],
        session_id: FromPath[uuid.UUID],
        data: URLEncodedBody[dict[str, str]],
        services: ServicesDep,
    ) -> Template:
        """The reviewer's approve / reject form (HTMX swaps the review card in place)."""
        error = None
        async with services.db.session() as s:
            session = await s.get(Session, session_id)
            if session is None:
                raise NotFoundException(f"session {session_id} does not exist")
            try:
                await record_review(s, session, data.get("decision", ""), data.get("reason", ""), request.user.id)
            except ValueError as exc:
                error = str(exc)
                await s.refresh(session)
        return Template(
            "partials/review.html",
            context={"session": session, "user": request.user, "error": error},
            status_code=422 if error else 200,
        )

    @post("/sessions/{session_id:uuid}/erase", guards=[admin_guard])
    async def erase_session(
        self, request: Request[User, Any, Any], session_id: FromPath[uuid.UUID], services: ServicesDep
    ) -> Response[Any]:
        """The session page's "Delete this session" form: erase it everywhere, then back to the list."""
        try:
            await erased(services, request.user, "session", session_id)
        except ClientException as exc:  # 409: its pipeline is busy (a 404 goes on to the error page)
            if exc.status_code != HTTP_409_CONFLICT:
                raise
            context = {"session": {"id": session_id}, "user": request.user, "error": exc.detail}
            return Template("partials/erase_session.html", context=context, status_code=409)
        if request.headers.get("HX-Request") == "true":
            return Response(None, status_code=200, headers={"HX-Redirect": "/sessions"})
        return Redirect("/sessions", status_code=303)

    @get("/screenshots/{screenshot_id:uuid}", media_type="image/webp")
    async def screenshot(self, screenshot_id: FromPath[uuid.UUID], services: ServicesDep) -> Response[bytes]:
        async with services.db.session() as s:
            shot = await s.get(Screenshot, screenshot_id)
        if shot is None:
            raise NotFoundException(f"screenshot {screenshot_id} does not exist")
        data = await services.blobs.get(shot.blob_key)
        return Response(data, media_type="image/webp", headers={"Cache-Control": "private, max-age=86400"})

    @get("/events/{event_id:int}/blob")
    async def event_blob(self, event_id: FromPath[int], services: ServicesDep) -> Response[bytes]:
        """The stored file of a snapshot (gzip HTML) or audio (WebM) event."""
        async with services.db.session() as s:
            event = await s.get(Event, event_id)
        key = event.payload.get("blob_key") if event is not None else None
        if event is None or not isinstance(key, str) or event.type not in BLOB_MEDIA_TYPES:
            raise NotFoundException(f"event {event_id} has no stored file")
        data = await services.blobs.get(key)
        headers = {"Cache-Control": "private, max-age=86400"}
        return Response(data, media_type=BLOB_MEDIA_TYPES[event.type], headers=headers)


class LoginController(Controller):
    include_in_schema = False

    @get("/login")
    async def login_form(self, error: FromQuery[str | None] = None) -> Template:
        return Template("login.html", context={"error": error})

    @post("/login")
    async def login(
        self,
        data: URLEncodedBody[dict[str, str]],
        services: ServicesDep,
    ) -> Response[Any]:
        token = data.get("token", "").strip()
        async with services.db.session() as s:
            identity = await find_by_token(s, token) if token else None
        if not isinstance(identity, User):
            return Template(
                "login.html", context={"error": "That token does not belong to a dashboard user."}, status_code=401
            )
        response: Response[Any] = Redirect("/sessions")
        response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict", max_age=30 * 86400)
        return response

    @post("/logout")
    async def logout(self) -> Response[Any]:
        response: Response[Any] = Redirect("/login")
        response.delete_cookie(TOKEN_COOKIE)
        return response
