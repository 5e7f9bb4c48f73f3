"""Settings: the one place configuration is read (environment prefix CODESIGHT_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CODESIGHT_", env_file=".env", extra="ignore")

    home: Path = Field(default=Path(".codesight"), description="state folder: embedded Postgres, blobs, keys")
    database_url: str | None = Field(
        default=None, description="postgresql://… of an existing server; unset = embedded cluster under home"
    )
    embedded_pg_port: int = Field(default=54329, description="port of the embedded cluster (loopback only)")
    postgres_bin: Path | None = Field(default=None, description="folder with initdb/pg_ctl; found when unset")

    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = Field(default=None, description="URL participants reach the server at")

    blob_dir: Path | None = Field(default=None, description="local blob store; default <home>/blobs")
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    archive_key: str | None = Field(
        default=None, description="base64 Fernet key for archives; default <home>/archive.key (created)"
    )

    sites_dirs: list[Path] = Field(default_factory=lambda: [PROJECT_ROOT / "fixtures" / "sites"])
    chromium_path: Path = Path("/usr/bin/chromium")
    extension_dir: Path = PROJECT_ROOT / "extension"

    replay_viewports: list[str] = Field(default_factory=lambda: ["mobile", "desktop"])
    replay_states: list[str] = Field(default_factory=lambda: ["fresh", "reload"])
    replay_timeout_ms: int = 15_000

    openai_api_key: str | None = None
    openai_base_url: str | None = None
    ft_provider: Literal["openai", "azure", "compatible"] = "openai"
    ft_model: str = "gpt-4o-mini-2024-07-18"

    worker_concurrency: int = 2
    log_json: bool = False
    log_level: str = "INFO"

    @property
    def blob_root(self) -> Path:
        return self.blob_dir or self.home / "blobs"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
