"""tiktoken's encoding files, installed offline from the js-tiktoken npm package.

tiktoken fetches `o200k_base.tiktoken` / `cl100k_base.tiktoken` from OpenAI's blob store on first
use and looks for them first in TIKTOKEN_CACHE_DIR, under the sha1 of their URL. This machine
(and many installs) reach only package registries, so `install_encodings` writes those cache files
from js-tiktoken (npm, the JavaScript port by the author of tiktoken's JS bindings), whose
`dist/ranks/<name>.js` holds the same ranks: one JSON object whose `bpe_ranks` is lines of
`<tag> <first rank> <base64 token> <base64 token> ...` with consecutive ranks. Written back as
`<base64 token> <rank>` lines they are the original file byte for byte, which the SHA-256 that
tiktoken itself checks proves; a file that does not match is refused, never installed.

`python -m lab.training.install_encodings` (run by `make setup`) installs them where settings say.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class EncodingFile:
    """One encoding's file as tiktoken loads it: its URL (the cache key) and SHA-256."""

    name: str
    url: str
    sha256: str

    @property
    def cache_name(self) -> str:
        """The file name tiktoken looks for in TIKTOKEN_CACHE_DIR (`tiktoken/load.py`, read_file_cached)."""
        return hashlib.sha1(self.url.encode()).hexdigest()


# URLs and hashes as tiktoken 0.14.0 loads them (`tiktoken_ext/openai_public.py`).
ENCODINGS: dict[str, EncodingFile] = {
    "o200k_base": EncodingFile(
        "o200k_base",
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
    "cl100k_base": EncodingFile(
        "cl100k_base",
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
}

JS_MODULE_PREFIX = "export default "


class EncodingDataError(ValueError):
    """The encoding data found is not the file tiktoken expects."""


def ranks_to_tiktoken(module_text: str) -> bytes:
    """A js-tiktoken ranks module (`export default {...}`) as the `.tiktoken` file it was made from."""
    body = module_text.strip()
    if not body.startswith(JS_MODULE_PREFIX):
        raise EncodingDataError(f"not a js-tiktoken ranks module (expected it to start with {JS_MODULE_PREFIX!r})")
    ranks = json.loads(body.removeprefix(JS_MODULE_PREFIX).rstrip(";"))["bpe_ranks"]
    lines: list[str] = []
    for group in filter(None, ranks.split("\n")):
        _tag, first_rank, *tokens = group.split(" ")
        lines += [f"{token} {int(first_rank) + i}\n" for i, token in enumerate(tokens)]
    return "".join(lines).encode()


def cache_path(cache_dir: Path, name: str) -> Path:
    """Where tiktoken, pointed at `cache_dir`, reads encoding `name` from."""
    return cache_dir / ENCODINGS[name].cache_name


def is_installed(cache_dir: Path, name: str) -> bool:
    return name in ENCODINGS and cache_path(cache_dir, name).is_file()


def install_encoding(ranks_dir: Path, cache_dir: Path, name: str) -> Path:
    """Convert js-tiktoken's ranks of `name` into tiktoken's cache file; refuses data whose hash differs."""
    spec = ENCODINGS[name]
    source = ranks_dir / f"{name}.js"
    if not source.is_file():
        raise EncodingDataError(f"{source} is missing: install the npm packages first (npm install)")
    data = ranks_to_tiktoken(source.read_text(encoding="utf-8"))
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec.sha256:
        raise EncodingDataError(f"{source} converts to sha256 {digest}, but tiktoken expects {spec.sha256}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_path(cache_dir, name)
    partial = target.with_suffix(".partial")
    partial.write_bytes(data)
    partial.replace(target)
    return target


def install_encodings(ranks_dir: Path, cache_dir: Path) -> list[Path]:
    """Every encoding CodeSight counts with, installed into `cache_dir`."""
    return [install_encoding(ranks_dir, cache_dir, name) for name in ENCODINGS]
