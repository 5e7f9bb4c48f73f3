"""`python -m lab.training.install_encodings`: tiktoken's encoding files from js-tiktoken, where settings say.

Run by `make setup` after `npm install`; a module of its own so that running it imports nothing else first.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lab.config import get_settings
from lab.training.encodings import EncodingDataError, install_encodings


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(description="Install tiktoken's encodings from js-tiktoken's ranks.")
    parser.add_argument("--ranks", type=Path, default=settings.tiktoken_ranks_dir, help="js-tiktoken's dist/ranks")
    parser.add_argument("--out", type=Path, default=settings.tiktoken_cache_dir, help="tiktoken cache folder")
    args = parser.parse_args(argv)
    try:
        for path in install_encodings(args.ranks, args.out):
            print(f"installed {path}")
    except EncodingDataError as exc:
        print(f"tiktoken encodings not installed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
