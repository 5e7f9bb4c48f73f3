"""Fixture sites: load a site folder (DESIGN.md, "Fixture site format") and serve it over HTTP.

URLs are ``/<version>/<page path>?query``. Every ``.html`` file is a Jinja2 template
rendered on each request (plain HTML passes through unchanged; a page that needs a
literal ``{{`` wraps it in ``{% raw %}``). Templates see ``version``, ``site_name``,
``request.path``, ``request.args`` and helpers that model real-site hazards:
``rid(prefix)`` (a random id), ``hashed(name)`` (a CSS-module-like class such as
``Button_primary__a8Xk2``) and ``shuffle(items)``. ``rid`` and ``hashed`` give the
same answer for the same argument within one render (so ``<label for>`` and inline
CSS match) and a new one on the next. Undefined names are errors, so use
``request.args.get("id", "1")`` for optional parameters. Other files are served as
they are; files named ``_*`` are partials (layouts, macros) and are never served.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import mimetypes
import random
import socketserver
import string
import threading
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from typing import Any, Literal, TypeVar, cast, get_args
from urllib.parse import parse_qsl, unquote, urlsplit

import jinja2
import structlog

log = structlog.get_logger(__name__)

JourneyAction = Literal["click", "fill", "select", "scroll"]
JOURNEY_ACTIONS: tuple[str, ...] = get_args(JourneyAction)
# Actions that type or pick something and so need a `value`.
VALUE_ACTIONS = frozenset({"fill", "select"})
TEMPLATE_SUFFIXES = frozenset({".html", ".htm"})
STEP_KEYS = frozenset({"page", "action", "target", "value", "removed_in"})

_RID_ALPHABET = string.ascii_lowercase + string.digits
_HASH_ALPHABET = string.ascii_letters + string.digits
T = TypeVar("T")


class SiteFormatError(ValueError):
    """A site folder breaks the fixture site format; the message names the file and field."""


@dataclass(frozen=True)
class JourneyStep:
    """One thing a shopper does: an action on the element with `data-lab-id == target`."""

    page: str
    action: JourneyAction
    target: str
    value: str | None = None
    removed_in: tuple[str, ...] = ()

    def present_in(self, version: str) -> bool:
        """Whether the target should exist in `version` (it is gone on purpose otherwise)."""
        return version not in self.removed_in


@dataclass(frozen=True)
class Site:
    """A loaded site folder: its versions and the journey through them."""

    name: str
    root: Path
    versions: tuple[str, ...]
    journey: tuple[JourneyStep, ...]

    def version_dir(self, version: str) -> Path:
        if version not in self.versions:
            raise KeyError(f"site {self.name!r} has no version {version!r} (has {list(self.versions)})")
        return self.root / version

    def journey_for(self, version: str) -> list[JourneyStep]:
        """The steps whose target exists in `version`, in order."""
        self.version_dir(version)
        return [step for step in self.journey if step.present_in(version)]

    def pages(self) -> list[str]:
        """Distinct journey pages in journey order."""
        return list(dict.fromkeys(step.page for step in self.journey))


# --- loading ---------------------------------------------------------------


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise SiteFormatError(f"{path}: file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SiteFormatError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc


def _expect(value: Any, kind: type[T], where: str, what: str) -> T:
    if not isinstance(value, kind) or (isinstance(value, str) and not value.strip()):
        raise SiteFormatError(f"{where}: expected {what}, got {json.dumps(value)}")
    return value


def _string_list(value: Any, where: str) -> list[str]:
    items = _expect(value, list, where, "a list of strings")
    return [_expect(item, str, f"{where}[{i}]", "a non-empty string") for i, item in enumerate(items)]


def _parse_step(raw: Any, where: str, versions: Sequence[str]) -> JourneyStep:
    obj = cast(dict[str, Any], _expect(raw, dict, where, "an object"))
    unknown = sorted(set(obj) - STEP_KEYS)
    if unknown:
        raise SiteFormatError(f"{where}.{unknown[0]}: unknown field (allowed: {', '.join(sorted(STEP_KEYS))})")
    for key in ("page", "action", "target"):
        if key not in obj:
            raise SiteFormatError(f"{where}.{key}: required field is missing")
    page = _expect(obj["page"], str, f"{where}.page", "a page path relative to the version folder")
    if page.startswith("/") or ".." in PurePosixPath(urlsplit(page).path).parts:
        raise SiteFormatError(f"{where}.page: must be relative to the version folder, got {page!r}")
    action = _expect(obj["action"], str, f"{where}.action", "an action name")
    if action not in JOURNEY_ACTIONS:
        raise SiteFormatError(f"{where}.action: must be one of {', '.join(JOURNEY_ACTIONS)}, got {action!r}")
    target = _expect(obj["target"], str, f"{where}.target", "a data-lab-id")
    value = obj.get("value")
    if value is not None:
        value = _expect(value, str, f"{where}.value", "a string")
    elif action in VALUE_ACTIONS:
        raise SiteFormatError(f"{where}.value: required for action {action!r}")
    removed_in = _string_list(obj.get("removed_in", []), f"{where}.removed_in")
    for i, version in enumerate(removed_in):
        if version not in versions:
            raise SiteFormatError(f"{where}.removed_in[{i}]: unknown version {version!r} (site has {list(versions)})")
    return JourneyStep(page, cast(JourneyAction, action), target, value, tuple(removed_in))


def load_site(path: str | Path) -> Site:
    """Load and validate a site folder; raise SiteFormatError naming the file and field on bad input."""
    root = Path(path).resolve()
    if not root.is_dir():
        raise SiteFormatError(f"{root}: not a directory")
    site_file = root / "site.json"
    meta = cast(dict[str, Any], _expect(_read_json(site_file), dict, str(site_file), "an object"))
    for key in ("name", "versions"):
        if key not in meta:
            raise SiteFormatError(f"{site_file}: {key}: required field is missing")
    name = _expect(meta["name"], str, f"{site_file}: name", "a non-empty string")
    versions = _string_list(meta["versions"], f"{site_file}: versions")
    if not versions:
        raise SiteFormatError(f"{site_file}: versions: must list at least one version")
    for i, version in enumerate(versions):
        if versions.index(version) != i:
            raise SiteFormatError(f"{site_file}: versions[{i}]: duplicate version {version!r}")
        if "/" in version or version.startswith(("_", ".")) or not (root / version).is_dir():
            raise SiteFormatError(f"{site_file}: versions[{i}]: no folder {version!r} in {root}")
    journey_file = root / "journey.json"
    raw_steps = _expect(_read_json(journey_file), list, str(journey_file), "a list of steps")
    steps = tuple(_parse_step(raw, f"{journey_file}: steps[{i}]", versions) for i, raw in enumerate(raw_steps))
    return Site(name=name, root=root, versions=tuple(versions), journey=steps)


def discover_sites(dirs: Iterable[str | Path]) -> dict[str, Site]:
    """Load every site folder found in `dirs` (a dir that is a site, or whose sub-folders are)."""
    sites: dict[str, Site] = {}
    for directory in map(Path, dirs):
        if not directory.is_dir():
            raise FileNotFoundError(f"sites directory {directory} does not exist")
        candidates = [directory] if (directory / "site.json").is_file() else sorted(directory.iterdir())
        for folder in candidates:
            if not (folder / "site.json").is_file():
                continue
            site = load_site(folder)
            if site.name in sites:
                raise SiteFormatError(
                    f"{folder / 'site.json'}: name: {site.name!r} is already used by {sites[site.name].root}"
                )
            sites[site.name] = site
    return sites


# --- rendering -------------------------------------------------------------


@dataclass(frozen=True)
class RenderRequest:
    """What a template sees as `request`: the page path and its query parameters."""

    path: str
    args: Mapping[str, str] = field(default_factory=dict)


class RenderHelpers:
    """Per-render hazard helpers: stable within one render, different on the next."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._ids: dict[str, str] = {}
        self._classes: dict[str, str] = {}

    def _token(self, alphabet: str, length: int) -> str:
        return "".join(self._rng.choices(alphabet, k=length))

    def rid(self, prefix: str = "r") -> str:
        """A random element id such as `email-k3x9q1`."""
        return self._ids.setdefault(prefix, f"{prefix}-{self._token(_RID_ALPHABET, 6)}")

    def hashed(self, name: str) -> str:
        """A CSS-module-like class such as `Button_primary__a8Xk2`."""
        return self._classes.setdefault(name, f"{name}__{self._token(_HASH_ALPHABET, 5)}")

    def shuffle(self, items: Iterable[T]) -> list[T]:
        """A shuffled copy of `items`."""
        shuffled = list(items)
        self._rng.shuffle(shuffled)
        return shuffled


class SiteRenderer:
    """Renders a site's pages; one Jinja environment per version, safe to share between threads."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self._envs = {
            version: jinja2.Environment(
                loader=jinja2.FileSystemLoader(site.version_dir(version)),
                autoescape=jinja2.select_autoescape(["html", "htm"]),
                undefined=jinja2.StrictUndefined,
                keep_trailing_newline=True,
                trim_blocks=True,
                lstrip_blocks=True,
            )
            for version in site.versions
        }

    def render(
        self, version: str, page: str, args: Mapping[str, str] | None = None, rng: random.Random | None = None
    ) -> str:
        """Render template `page` of `version`; jinja2.TemplateNotFound if there is none."""
        if version not in self._envs:
            raise jinja2.TemplateNotFound(f"{version}/{page}")
        helpers = RenderHelpers(rng or random.Random())
        template = self._envs[version].get_template(page)
        return template.render(
            version=version,
            site_name=self.site.name,
            request=RenderRequest(path=page, args=dict(args or {})),
            rid=helpers.rid,
            hashed=helpers.hashed,
            shuffle=helpers.shuffle,
        )


def render_page(site: Site, version: str, page: str, rng: random.Random | None = None) -> str:
    """Render one page (`page` may carry a query string) without a server."""
    parts = urlsplit(page)
    return SiteRenderer(site).render(version, parts.path, dict(parse_qsl(parts.query)), rng)


# --- serving ---------------------------------------------------------------


@dataclass(frozen=True)
class SiteResponse:
    status: HTTPStatus
    content_type: str
    body: bytes
    location: str | None = None


def _text(status: HTTPStatus, message: str) -> SiteResponse:
    return SiteResponse(status, "text/plain; charset=utf-8", message.encode())


def _home_page(site: Site) -> SiteResponse:
    links = "".join(f'<li><a href="/{v}/">{v}</a></li>' for v in site.versions)
    html = f"<!doctype html><title>{site.name}</title><h1>{site.name}</h1><ul>{links}</ul>"
    return SiteResponse(HTTPStatus.OK, "text/html; charset=utf-8", html.encode())


def respond(renderer: SiteRenderer, raw_path: str) -> SiteResponse:
    """Answer one GET for `/<version>/<page path>?query`: a rendered template or a static file."""
    site = renderer.site
    url = urlsplit(raw_path)
    parts = [p for p in unquote(url.path).split("/") if p]
    if not parts:
        return _home_page(site)
    version, rel = parts[0], parts[1:]
    if version not in site.versions:
        return _text(HTTPStatus.NOT_FOUND, f"no version {version!r}; this site has {list(site.versions)}")
    if not rel and not url.path.endswith("/"):
        return SiteResponse(HTTPStatus.MOVED_PERMANENTLY, "text/plain", b"", location=f"/{version}/")
    if any(p.startswith((".", "_")) or p == ".." for p in rel):
        return _text(HTTPStatus.NOT_FOUND, f"{url.path}: partials and hidden files are not served")
    version_dir = site.version_dir(version)
    file = version_dir.joinpath(*rel)
    if file.is_dir():
        file, rel = file / "index.html", [*rel, "index.html"]
    if not file.is_file():
        return _text(HTTPStatus.NOT_FOUND, f"{url.path}: no such page in {version_dir}")
    if file.suffix in TEMPLATE_SUFFIXES:
        args = dict(parse_qsl(url.query, keep_blank_values=True))
        try:
            html = renderer.render(version, "/".join(rel), args)
        except Exception as exc:  # a broken fixture page answers 500 with the reason instead of dropping the connection
            log.exception("site.render_failed", site=site.name, version=version, page=url.path)
            where = f" line {exc.lineno}" if isinstance(exc, jinja2.TemplateSyntaxError) else ""
            return _text(HTTPStatus.INTERNAL_SERVER_ERROR, f"{file}{where}: {type(exc).__name__}: {exc}")
        return SiteResponse(HTTPStatus.OK, "text/html; charset=utf-8", html.encode())
    content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    if content_type.startswith("text/") or content_type in ("application/json", "image/svg+xml"):
        content_type += "; charset=utf-8"
    return SiteResponse(HTTPStatus.OK, content_type, file.read_bytes())


class _SiteRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes; Nagle would stall each response ~40 ms
    timeout = 30  # seconds an idle keep-alive connection may hold a thread
    server: _SiteHTTPServer

    def do_GET(self) -> None:
        self._send(respond(self.server.renderer, self.path), with_body=True)

    def do_HEAD(self) -> None:
        self._send(respond(self.server.renderer, self.path), with_body=False)

    def _send(self, response: SiteResponse, with_body: bool) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        # Every load must regenerate ids and classes, so nothing may be cached.
        self.send_header("Cache-Control", "no-store")
        if response.location:
            self.send_header("Location", response.location)
        self.end_headers()
        if with_body:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line; failures are logged where they happen."""


class _SiteHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, site: Site, host: str, port: int) -> None:
        self.renderer = SiteRenderer(site)
        super().__init__((host, port), _SiteRequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves its own name with getfqdn, which can stall for seconds without DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])


class SiteServer:
    """A site served from a background thread; the socket is bound on construction."""

    def __init__(self, site: Site, host: str = "127.0.0.1", port: int = 0) -> None:
        self.site = site
        self._httpd = _SiteHTTPServer(site, host, port)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"site-{site.name}", daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> str:
        self._thread.start()
        log.info("site.serving", site=self.site.name, url=self.base_url)
        return self.base_url

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


@asynccontextmanager
async def serve_site(site: Site, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve `site` while the block runs; yields the base URL (`http://127.0.0.1:PORT`)."""
    server = SiteServer(site, host, port)
    base_url = server.start()
    try:
        yield base_url
    finally:
        await asyncio.to_thread(server.stop)


def page_url(base_url: str, version: str, page: str) -> str:
    """The URL of journey page `page` (maybe with a query string) in `version`."""
    return f"{base_url.rstrip('/')}/{version}/{page.lstrip('/')}"


def serve_forever(site: Site, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve `site` in the foreground until interrupted (for humans; the CLI wraps this)."""
    httpd = _SiteHTTPServer(site, host, port)
    bound_host, bound_port = httpd.server_address[:2]
    log.info("site.serving", site=site.name, url=f"http://{bound_host!s}:{bound_port}/", versions=list(site.versions))
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        log.info("site.stopped", site=site.name)
    finally:
        httpd.server_close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.sites", description=serve_forever.__doc__)
    parser.add_argument("site", type=Path, help="a site folder (with site.json and journey.json)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    options = parser.parse_args(argv)
    serve_forever(load_site(options.site), options.host, options.port)


if __name__ == "__main__":
    main()
