"""The Litestar application: ingest API, WebSocket, dashboard, health and metrics."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import structlog
from litestar import Litestar, MediaType, Request, Response, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotAuthorizedException
from litestar.openapi import OpenAPIConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from lab.db.engine import database_unavailable
from lab.monitoring.queue_depth import refresh_queue_depth
from lab.monitoring.storage_usage import refresh_storage
from web.api.analytics import AnalyticsController
from web.api.participants import ParticipantController
from web.api.sessions import SessionController
from web.api.stream import session_stream
from web.api.training import PredictController, TrainingController
from web.api.webhooks import WebhookController
from web.auth import TokenAuthMiddleware
from web.dashboard.analytics import AnalyticsPageController
from web.dashboard.controller import DashboardController, LoginController
from web.dashboard.trainer import TrainerController
from web.live import LiveController, LiveHub, live_lifespan, provide_hub
from web.services import Services, ServicesDep
from workers.app import QUEUES

WEB_ROOT = Path(__file__).resolve().parent
log = structlog.get_logger(__name__)
# What a client is told when the database does not answer: its request was fine, send it again.
UNAVAILABLE_DETAIL = "the database is not answering; nothing of this request was kept, send it again"
RETRY_AFTER_S = 5
READY_TIMEOUT_S = 2.0


def provide_services(state: State) -> Services:
    services: Services = state.services
    return services


@get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    """Liveness: the process answers (restart it if not)."""
    return {"status": "ok"}


@get("/readyz", include_in_schema=False)
async def readyz(services: ServicesDep) -> Response[dict[str, str]]:
    """Readiness: the database answers within READY_TIMEOUT_S (send traffic elsewhere if not)."""
    try:
        await asyncio.wait_for(services.db.ping(), READY_TIMEOUT_S)
    except Exception as exc:
        log.warning("readyz.database_unavailable", error=repr(exc))
        return Response({"status": "unavailable", "database": "not answering"}, status_code=503)
    return Response({"status": "ok", "database": "ok"})


@get("/metrics", include_in_schema=False, media_type=CONTENT_TYPE_LATEST)
async def metrics(services: ServicesDep) -> bytes:
    """This process's metrics (ingest; the workers' too under `codesight up`), and the queue depth and storage
    figures from Postgres (each bounded by its own timeout, read side by side)."""
    await asyncio.gather(refresh_queue_depth(services.db, QUEUES), refresh_storage(services.db, services.settings))
    return generate_latest()


def _is_api(request: Request[Any, Any, Any]) -> bool:
    # /live/ streams too: an EventSource cannot follow a redirect to a sign-in page.
    return request.url.path.startswith(("/api/", "/ws/", "/live/", "/healthz", "/readyz", "/metrics"))


def on_unauthorized(request: Request[Any, Any, Any], exc: NotAuthorizedException) -> Response[Any]:
    """API clients get a 401 with the reason; people at the dashboard are sent to sign in."""
    if _is_api(request):
        return Response({"status_code": 401, "detail": exc.detail}, status_code=401, media_type=MediaType.JSON)
    return Redirect("/login")


def _wants_page(request: Request[Any, Any, Any]) -> bool:
    """A person's browser on a dashboard path (not an API client, not an HTMX fragment request)."""
    accept = request.headers.get("accept", "")
    return not _is_api(request) and "text/html" in accept and "hx-request" not in request.headers


def _error_page(request: Request[Any, Any, Any], status_code: int, title: str, detail: str) -> Response[Any]:
    # No route matched means no auth middleware ran: the header then shows no user.
    context = {"status_code": status_code, "title": title, "detail": detail, "user": request.scope.get("user")}
    return Template("error.html", context=context, status_code=status_code)


def on_http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if _wants_page(request):
        title = "Page not found" if exc.status_code == 404 else f"Error {exc.status_code}"
        detail = "There is nothing at this address." if exc.status_code == 404 else str(exc.detail)
        return _error_page(request, exc.status_code, title, detail)
    body: dict[str, Any] = {"status_code": exc.status_code, "detail": exc.detail}
    if exc.extra:
        body["extra"] = exc.extra
    return Response(body, status_code=exc.status_code, media_type=MediaType.JSON)


def on_server_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Our fault: log it with its context, tell the client only that it happened. When the database
    (or the queue in it) cannot be reached, a 503 with Retry-After: the client's request was fine."""
    if database_unavailable(exc):
        log.error("http.database_unavailable", path=request.url.path, method=request.method, error=repr(exc))
        headers = {"Retry-After": str(RETRY_AFTER_S)}
        if _wants_page(request):
            detail = "The database is not answering. Nothing was lost; try again in a moment."
            page = _error_page(request, 503, "Temporarily unavailable", detail)
            page.headers.update(headers)
            return page
        body = {"status_code": 503, "detail": UNAVAILABLE_DETAIL, "extra": {"field": "server"}}
        return Response(body, status_code=503, media_type=MediaType.JSON, headers=headers)
    log.exception("http.unhandled", path=request.url.path, method=request.method)
    if _wants_page(request):
        return _error_page(
            request, 500, "Something went wrong", "The error was logged; try again, or tell an operator."
        )
    return Response({"status_code": 500, "detail": "Internal Server Error"}, status_code=500, media_type=MediaType.JSON)


def create_app(services: Services) -> Litestar:
    """The web app over already-built services (database, blob store, queue), with its live-status listener."""
    hub = LiveHub()
    return Litestar(
        route_handlers=[
            SessionController,
            ParticipantController,
            session_stream,
            DashboardController,
            LoginController,
            TrainingController,
            PredictController,
            TrainerController,
            AnalyticsController,
            WebhookController,
            AnalyticsPageController,
            LiveController,
            healthz,
            readyz,
            metrics,
            create_static_files_router(path="/static", directories=[WEB_ROOT / "static"], include_in_schema=False),
        ],
        dependencies={
            "services": Provide(provide_services, sync_to_thread=False),
            "hub": Provide(provide_hub, sync_to_thread=False),
        },
        lifespan=[live_lifespan(services.db.url, hub)],
        middleware=[TokenAuthMiddleware()],
        state=State({"services": services, "live": hub}),
        template_config=TemplateConfig(directory=WEB_ROOT / "templates", engine=JinjaTemplateEngine),
        exception_handlers={
            NotAuthorizedException: on_unauthorized,
            HTTPException: on_http_error,
            Exception: on_server_error,
        },
        openapi_config=OpenAPIConfig(title="CodeSight", version="1.0.0", path="/api/docs"),
        logging_config=None,  # lab.monitoring.logging configures the one structured log
    )
