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
