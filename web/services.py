"""The long-lived parts a running server holds, built once by the composition root (web/cli.py)."""

from __future__ import annotations

from dataclasses import dataclass

import procrastinate
from litestar.di import NamedDependency

from lab.config import Settings
from lab.db import Database
from lab.storage.blobs import BlobStore


@dataclass
class Services:
    settings: Settings
    db: Database
    blobs: BlobStore
    queue: procrastinate.App


# How a route handler asks for the services: `services: ServicesDep`.
ServicesDep = NamedDependency[Services]
