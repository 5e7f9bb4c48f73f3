"""`codesight`: the composition root. Builds settings, database, blob store and queue, then runs."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import structlog
from pydantic import ValidationError

from lab.config import Settings, get_settings
from lab.monitoring.logging import configure_logging

if TYPE_CHECKING:
    from lab.privacy.erase import ErasureReport
    from web.services import Services

log = structlog.get_logger(__name__)


@contextlib.asynccontextmanager
async def database_url(settings: Settings, *, start_embedded: bool = True) -> AsyncIterator[str]:
    """The database to use: CODESIGHT_DATABASE_URL, or the embedded cluster under CODESIGHT_HOME."""
    if settings.database_url:
        yield settings.database_url
        return
    from lab.db.embedded import EmbeddedPostgres

    pg = EmbeddedPostgres(settings.home / "postgres", port=settings.embedded_pg_port, bin_dir=settings.postgres_bin)
    already_running = pg.is_running()
    if not already_running:
        if not start_embedded:
            raise click.ClickException(
                f"no CODESIGHT_DATABASE_URL and the embedded cluster in {settings.home / 'postgres'} is not running; "
                "start it with `codesight up`"
            )
        await asyncio.to_thread(pg.ensure_initialised)
        await asyncio.to_thread(pg.start)
    try:
        yield pg.url
    finally:
        if not already_running:
            await asyncio.to_thread(pg.stop)


@contextlib.asynccontextmanager
async def services_for(settings: Settings, url: str) -> AsyncIterator[Services]:
    from lab.db import Database
    from lab.storage.factory import blob_store_from_settings
    from lab.storage.fallback import with_archive_fallback
    from lab.storage.s3 import S3BlobStore
    from web.services import Services
    from workers.app import create_app as create_queue
    from workers.context import set_resources

    db = Database(url)
    store = blob_store_from_settings(settings)
    if isinstance(store, S3BlobStore):
        await store.ensure_bucket()
    # Readers never notice that an archived session's loose files expired: they come from its archive.
    blobs = with_archive_fallback(store, settings)
    set_resources(db, blobs)
    queue = create_queue(db.url)
    try:
        async with queue.open_async():
            yield Services(settings=settings, db=db, blobs=blobs, queue=queue)
    finally:
        await db.dispose()


@click.group()
@click.version_option(package_name="codesight")
def main() -> None:
    """CodeSight: real browsing sessions in, fine-tuning data for web agents out."""
    try:
        settings = get_settings()
    except ValidationError as exc:  # a bad CODESIGHT_* variable: say which, without a traceback
        problems = "; ".join(
            ("CODESIGHT_" + "_".join(map(str, error["loc"])).upper() + ": " if error["loc"] else "")
            + str(error["msg"]).removeprefix("Value error, ")
            for error in exc.errors()
        )
        raise click.ClickException(f"configuration: {problems}") from exc
    configure_logging(json_logs=settings.log_json, level=settings.log_level)


@main.command()
@click.option("--host", default=None, help="interface to listen on (default 127.0.0.1)")
@click.option("--port", default=None, type=int, help="port to listen on (default 8000)")
@click.option(
    "--workers/--no-workers", "run_worker", default=True, help="run the pipeline and training workers in-process"
)
def up(host: str | None, port: int | None, run_worker: bool) -> None:
    """Start Postgres (embedded unless CODESIGHT_DATABASE_URL), migrate, serve the app and the workers."""
    settings = get_settings()
    asyncio.run(_up(settings, host or settings.host, port or settings.port, run_worker))


async def _up(settings: Settings, host: str, port: int, run_worker: bool) -> None:
    from lab.db.migrate import migrate_async as migrate
    from web.app import create_app
    from web.server import make_server
    from workers.app import run_workers

    async with database_url(settings) as url:
        await migrate(url)
        async with services_for(settings, url) as services:
            app = create_app(services)
            server = make_server(app, host, port)
            tasks: list[asyncio.Task[Any]] = [asyncio.create_task(server.serve(), name="web")]
            if run_worker:
                tasks.append(
                    asyncio.create_task(run_workers(services.queue, settings.worker_concurrency), name="worker")
                )
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            click.echo(f"CodeSight is up at http://{host}:{port}  (Ctrl-C stops it)")
            log.info(
                "up",
                host=host,
                port=port,
                worker=run_worker,
                database="embedded" if not settings.database_url else "external",
            )
            done_waiter = asyncio.create_task(stop.wait())
            finished, _ = await asyncio.wait([done_waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
            server.should_exit = True
            for task in tasks:
                if task.get_name() == "worker":
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for task in finished:
                if task is not done_waiter and task.exception():
                    raise task.exception()  # type: ignore[misc]
    click.echo("CodeSight stopped.")


@main.command()
@click.option(
    "--queues",
    default="pipeline,training",
    show_default=True,
    help="comma-separated queues, one worker each (sessions: pipeline; fine-tuning runs: training)",
)
@click.option(
    "--metrics-port",
    default=None,
    type=click.IntRange(0, 65535),
    help="serve this process's Prometheus metrics (pipeline steps, replay) at :PORT/metrics (default: off)",
)
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="interface of --metrics-port")
def worker(queues: str, metrics_port: int | None, metrics_host: str) -> None:
    """Run workers alone (scale out by starting several); Ctrl-C or SIGTERM stops them."""
    from lab.monitoring.metrics import metrics_server
    from workers.app import QUEUES, run_workers

    names = [name.strip() for name in queues.split(",") if name.strip()]
    unknown = sorted(set(names) - set(QUEUES))
    if unknown or not names:
        raise click.BadParameter(f"unknown queue(s) {', '.join(unknown) or '(none)'}; use {', '.join(QUEUES)}")
    settings = get_settings()

    async def run() -> None:
        async with database_url(settings, start_embedded=False) as url, services_for(settings, url) as services:
            workers = asyncio.create_task(run_workers(services.queue, settings.worker_concurrency, names))
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, workers.cancel)
            with contextlib.suppress(asyncio.CancelledError):
                await workers

    if metrics_port is None:
        asyncio.run(run())
        return
    # The worker's own registry: its steps never reach a web process's /metrics (README "Monitoring").
    with metrics_server(metrics_host, metrics_port) as bound:
        log.info("worker.metrics", url=f"http://{metrics_host}:{bound}/metrics")
        asyncio.run(run())


@main.command()
def migrate() -> None:
    """Apply database migrations and the queue schema (idempotent)."""
    from lab.db.migrate import migrate_async as apply

    settings = get_settings()

    async def run() -> None:
        async with database_url(settings) as url:
            await apply(url)

    asyncio.run(run())
    click.echo("migrations applied")


@main.group()
def participants() -> None:
    """Manage participants (people or scripts that record sessions)."""


@participants.command("add")
@click.argument("name")
def participants_add(name: str) -> None:
    """Create a participant and print its token (shown once)."""
    from lab.accounts import add_participant

    click.echo(_with_db(lambda s: add_participant(s, name)))


@participants.command("erase")
@click.argument("participant")
@click.option("--yes", is_flag=True, help="erase without asking for confirmation")
def participants_erase(participant: str, yes: bool) -> None:
    """Erase a participant (NAME or id) and everything they recorded: sessions, blobs, archives.

    Refused while a pipeline job of one of their sessions is queued or running. Run it again (by id
    once the name is gone) when the report says blobs are left.
    """
    from lab.db.models import Participant
    from lab.privacy.erase import erase_participant

    async def find(services: Services) -> tuple[uuid.UUID, str]:
        from sqlmodel import col, func, select

        from lab.db.models import Session

        async with services.db.session() as s:
            query = select(Participant).where(Participant.name == participant)
            found = (await s.exec(query)).first()
            if found is None and (as_id := _as_uuid(participant)) is not None:
                found = await s.get(Participant, as_id)
                if found is None:  # erased already: a re-run finishes what the first one left
                    return as_id, f"participant {as_id} (erased before; finishing its blobs)"
            if found is None:
                raise click.ClickException(f"participant: no participant named or with id {participant!r}")
            count = (
                await s.exec(select(func.count()).select_from(Session).where(col(Session.participant_id) == found.id))
            ).one()
        return found.id, f"participant {found.name!r} ({found.id}) and their {count} session(s)"

    _erase(find, erase_participant, yes)


@main.group()
def sessions() -> None:
    """Manage recorded sessions."""


@sessions.command("erase")
@click.argument("session_id", type=click.UUID)
@click.option("--yes", is_flag=True, help="erase without asking for confirmation")
def sessions_erase(session_id: uuid.UUID, yes: bool) -> None:
    """Erase one session everywhere: its rows, screenshots, snapshots, audio and archive."""
    from lab.privacy.erase import erase_session

    async def find(services: Services) -> tuple[uuid.UUID, str]:
        return session_id, f"session {session_id}"

    _erase(find, erase_session, yes)


def _as_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _erase(
    find: Callable[[Services], Awaitable[tuple[uuid.UUID, str]]],
    erase: Callable[..., Awaitable[ErasureReport]],
    yes: bool,
) -> None:
    """Resolve the subject, confirm, erase, print the report; exit 1 when blobs were left behind."""
    from functools import partial

    from lab.db.migrate import migrate_async as apply
    from lab.privacy.erase import ErasureRefusedError
    from workers.tasks import pipeline_busy

    settings = get_settings()

    async def run() -> ErasureReport | None:
        async with database_url(settings) as url:
            await apply(url)
            async with services_for(settings, url) as services:
                subject_id, description = await find(services)
                if not yes and not click.confirm(f"Erase {description}? This cannot be undone.", default=False):
                    return None
                try:
                    report = await erase(
                        services.db, services.blobs, subject_id, busy=partial(pipeline_busy, services.queue)
                    )
                except ErasureRefusedError as exc:
                    raise click.ClickException(str(exc)) from exc
                except LookupError as exc:
                    raise click.ClickException(str(exc)) from exc
                return report

    report = asyncio.run(run())
    if report is None:
        click.echo("nothing erased")
        return
    click.echo(report.render())
    if not report.complete:
        sys.exit(1)


@main.group()
def users() -> None:
    """Manage dashboard users (reviewers, trainers, admins)."""


@users.command("add")
@click.argument("name")
@click.option("--role", default="viewer", type=click.Choice(["admin", "reviewer", "trainer", "viewer"]))
def users_add(name: str, role: str) -> None:
    """Create a dashboard user and print its API token (shown once)."""
    from lab.accounts import add_user

    click.echo(_with_db(lambda s: add_user(s, name, role)))


def _with_db(create):  # type: ignore[no-untyped-def]
    from sqlalchemy.exc import IntegrityError

    from lab.db import Database
    from lab.db.migrate import migrate_async as apply

    settings = get_settings()

    async def run() -> str:
        async with database_url(settings) as url:
            await apply(url)
            db = Database(url)
            try:
                async with db.session() as s:
                    _, token = await create(s)
            finally:
                await db.dispose()
            return str(token)

    try:
        return asyncio.run(run())
    except IntegrityError as exc:
        raise click.ClickException("name: already taken") from exc


@main.command()
@click.option("--site", "site_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--server", default="http://127.0.0.1:8000", show_default=True, help="CodeSight server URL")
@click.option("--token", required=True, envvar="CODESIGHT_TOKEN", help="participant token (or CODESIGHT_TOKEN)")
@click.option("--version", "site_version", default=None, help="site version to walk (default: the first)")
@click.option("--headed", is_flag=True, help="show the browser window")
def collect(site_dir: Path, server: str, token: str, site_version: str | None, headed: bool) -> None:
    """Walk a site's journey in Chromium with the extension loaded: one automated session."""
    from lab.collect import collect_session

    settings = get_settings()
    session_id = asyncio.run(
        collect_session(
            site_dir,
            server=server.rstrip("/"),
            token=token,
            version=site_version,
            chromium=settings.chromium_path,
            extension_dir=settings.extension_dir.resolve(),
            headless=not headed,
        )
    )
    click.echo(session_id)


@main.command("serve-site")
@click.argument("site_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=8700, type=int)
def serve_site(site_dir: Path, host: str, port: int) -> None:
    """Serve a fixture site folder (any folder in the DESIGN.md format)."""
    from lab.sites import load_site, serve_forever

    serve_forever(load_site(site_dir), host, port)


@main.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--provider", default=None, help="openai, azure or compatible (default: CODESIGHT_FT_PROVIDER)")
@click.option("--model", default=None, help="base model to check against (default: CODESIGHT_FT_MODEL)")
def validate(path: Path, provider: str | None, model: str | None) -> None:
    """Validate a chat-format JSONL file as the fine-tuning API would; non-zero exit on errors."""
    from lab.training.file_check import check_file
    from lab.training.limits import limits_for

    settings = get_settings()
    provider = provider or settings.ft_provider
    try:
        limits_for(provider)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--provider") from None
    check = check_file(path.read_text(encoding="utf-8"), provider, model or settings.ft_model)
    click.echo(check.render())
    sys.exit(0 if check.ok else 1)


@main.group()
def bench() -> None:
    """Benchmarks (selector lab)."""


def _names(values: tuple[str, ...]) -> list[str]:
    """Repeated and comma-separated option values as one list."""
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


@bench.command("selectors")
@click.option(
    "--sites",
    "sites_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="a site folder or a folder of site folders (repeatable; default: settings.sites_dirs)",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="write the JSON report here")
@click.option("--conditions", multiple=True, help="page states, comma-separated or repeated (default: all registered)")
@click.option("--viewports", multiple=True, help="viewports, comma-separated or repeated (default: all three)")
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 32), help="parallel page states")
def bench_selectors(
    sites_dirs: tuple[Path, ...],
    out: Path | None,
    conditions: tuple[str, ...],
    viewports: tuple[str, ...],
    concurrency: int,
) -> None:
    """Generate selectors on every site's journey, replay them over the conditions matrix, compare with baselines."""
    import json

    from lab.bench import render_report, run_selector_bench
    from lab.replay.conditions import VIEWPORTS, default_matrix, state_names

    settings = get_settings()
    try:
        matrix = default_matrix(_names(viewports) or list(VIEWPORTS), _names(conditions) or state_names())
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--conditions/--viewports") from exc
    report = asyncio.run(run_selector_bench(list(sites_dirs) or settings.sites_dirs, matrix, concurrency=concurrency))
    click.echo(render_report(report))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        click.echo(f"\nreport written to {out}")
    if report["counts"]["failed_sites"]:
        raise click.ClickException(f"sites failed: {', '.join(report['counts']['failed_sites'])} (see above)")


@main.group("azure-deployments")
def azure_deployments() -> None:
    """Azure OpenAI deployments CodeSight made over ARM (each billed per hour while it exists)."""


@azure_deployments.command("prune")
@click.option("--dry-run", is_flag=True, help="list what would be deleted, delete nothing")
def azure_deployments_prune(dry_run: bool) -> None:
    """Delete CodeSight's retired Azure deployments: those serving no site's active model and no unfinished run."""
    from lab.db import Database
    from lab.training.azure_cleanup import prune_deployments, required_arm
    from lab.training.provider_errors import ProviderError

    settings = get_settings()
    try:
        required_arm(settings)
    except ProviderError as exc:
        raise click.ClickException(exc.message) from exc

    async def run() -> None:
        async with database_url(settings, start_embedded=False) as url:
            db = Database(url)
            try:
                report = await prune_deployments(db, settings, dry_run=dry_run)
            finally:
                await db.dispose()
        verb = "would delete" if dry_run else "deleted"
        click.echo(f"{verb}: {', '.join(report.deleted) or 'nothing'}")
        click.echo(f"kept (in use): {', '.join(report.kept) or 'none'}")
        if report.foreign:
            click.echo(f"left alone (not CodeSight's): {', '.join(report.foreign)}")

    try:
        asyncio.run(run())
    except ProviderError as exc:
        raise click.ClickException(str(exc)) from exc


@main.group()
def webhooks() -> None:
    """Webhooks: endpoints told when sessions finish, runs end and models are deployed (README "Webhooks")."""


@webhooks.command("secret")
def webhooks_secret() -> None:
    """Print a new signing secret for CODESIGHT_WEBHOOK_SECRET (whsec_…, Standard Webhooks)."""
    from lab.monitoring.webhooks import new_secret

    click.echo(new_secret())


@webhooks.command("test")
def webhooks_test() -> None:
    """Send a `webhook.test` event to every endpoint now and print what each answered."""
    from lab.db import Database
    from lab.monitoring.webhooks import deliver_due, enqueue, recent_deliveries

    settings = get_settings()
    if not settings.webhook_urls:
        raise click.ClickException("CODESIGHT_WEBHOOK_URLS: no endpoints are set")

    async def run() -> None:
        async with database_url(settings, start_embedded=False) as url:
            db = Database(url)
            try:
                async with db.session() as s:
                    await enqueue(s, "webhook.test", uuid.uuid4().hex, {"message": "CodeSight webhook test"})
                await deliver_due(db, settings)
                for row in await recent_deliveries(db, limit=len(settings.webhook_urls)):
                    answer = row.last_error or f"HTTP {row.last_status_code}"
                    click.echo(f"{row.url}: {row.status} ({answer})")
            finally:
                await db.dispose()

    asyncio.run(run())


@webhooks.command("list")
@click.option("--limit", default=20, show_default=True)
def webhooks_list(limit: int) -> None:
    """The newest deliveries: event, endpoint, status, attempts, last answer."""
    from lab.db import Database
    from lab.monitoring.webhooks import recent_deliveries

    settings = get_settings()

    async def run() -> None:
        async with database_url(settings, start_embedded=False) as url:
            db = Database(url)
            try:
                for row in await recent_deliveries(db, limit=limit):
                    answer = row.last_error or (f"HTTP {row.last_status_code}" if row.last_status_code else "")
                    click.echo(
                        f"{row.created_at:%Y-%m-%d %H:%M:%S}  {row.event_type:24} {row.status:9} "
                        f"x{row.attempts}  {row.url}  {answer}"
                    )
            finally:
                await db.dispose()

    asyncio.run(run())


@main.command("fake-openai")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8800, type=int, show_default=True)
@click.option(
    "--phase-seconds", default=2.0, type=float, show_default=True, help="length of each fine-tuning job phase"
)
def fake_openai(host: str, port: int, phase_seconds: float) -> None:
    """Serve a local OpenAI-compatible server (OpenAI and Azure paths) for demos and tests without a key.

    Point CODESIGHT_OPENAI_BASE_URL at http://HOST:PORT/v1, or CODESIGHT_AZURE_ENDPOINT (and, for deployments
    over ARM, CODESIGHT_AZURE_ARM_ENDPOINT) at http://HOST:PORT.
    """
    from lab.training.fake_openai import serve_forever

    click.echo(f"fake OpenAI at http://{host}:{port}/v1 (Azure endpoint http://{host}:{port}); Ctrl-C stops it")
    serve_forever(host, port, phase_seconds)


if __name__ == "__main__":
    main()
