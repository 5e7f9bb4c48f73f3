"""Where a recorded page can be loaded again at replay time.

A session collected on a fixture site points at a site server that is gone by replay time;
if the session's site is one `discover_sites` knows, it is served again and recorded URLs are
mapped onto the new server. Any other URL (a real site) is replayed as recorded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from lab.config import get_settings
from lab.sites import discover_sites, serve_site


def with_version(url: str, versions: Sequence[str], version: str) -> str | None:
    """`url` with its first path segment that names one of `versions` replaced by `version`;
    None when no segment names a version."""
    parts = urlsplit(url)
    segments = parts.path.split("/")
    at = next((i for i, s in enumerate(segments) if s in versions), None)
    if at is None:
        return None
    segments[at] = version
    return urlunsplit((parts.scheme, parts.netloc, "/".join(segments), parts.query, parts.fragment))


def next_version_url(url: str, versions: Sequence[str]) -> str | None:
    """The same page in the version after the one `url` is in; None for the last version or
    when `url` names no version."""
    segments = urlsplit(url).path.split("/")
    current = next((s for s in segments if s in versions), None)
    if current is None or versions.index(current) + 1 >= len(versions):
        return None
    return with_version(url, versions, versions[versions.index(current) + 1])


class UrlMapper:
    """Maps recorded page URLs onto a live base URL; the identity when there is none."""

    def __init__(self, base_url: str | None = None, versions: Sequence[str] = ()) -> None:
        self.base_url = base_url.rstrip("/") if base_url else None
        self.versions = tuple(versions)

    def map(self, recorded_url: str) -> str:
        """`http://old:1234/v1/product.html?id=7` → `<base>/v1/product.html?id=7`.

        The path is taken from its first segment that names a site version, so a recording
        made behind a path prefix still lands on the right page.
        """
        if self.base_url is None:
            return recorded_url
        parts = urlsplit(recorded_url)
        segments = parts.path.split("/")
        start = next((i for i, s in enumerate(segments) if s in self.versions), None)
        path = "/".join(segments[start:]) if start is not None else parts.path.lstrip("/")
        base = urlsplit(self.base_url)
        base_path = f"{base.path}/{path}"
        return urlunsplit((base.scheme, base.netloc, base_path, parts.query, parts.fragment))

    def next_version(self, recorded_url: str) -> str | None:
        """The mapped URL of the same page in the site's next version; None without one."""
        if self.base_url is None:
            return None
        return next_version_url(self.map(recorded_url), self.versions)


@asynccontextmanager
async def url_mapper_for_site(site_name: str, sites_dirs: Iterable[Path] | None = None) -> AsyncIterator[UrlMapper]:
    """A mapper for a session's site: serves the site while the block runs when it is a known
    site folder (settings.sites_dirs by default), otherwise maps URLs to themselves."""
    sites = discover_sites(get_settings().sites_dirs if sites_dirs is None else sites_dirs)
    site = sites.get(site_name)
    if site is None:
        yield UrlMapper()
        return
    async with serve_site(site, port=0) as base_url:
        yield UrlMapper(base_url, site.versions)
