"""Settings: the one place configuration is read (environment prefix CODESIGHT_)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
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
    working_copy_days: int = Field(
        default=30,
        ge=0,
        description="days a session's loose files stay in the blob store after its archive is written (0: none)",
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
    # Our examples carry screenshots: the default must be a model that fine-tunes on images.
    ft_model: str = "gpt-4o-2024-08-06"

    # S3 Intelligent-Tiering's Frequent Access tier, us-east-1, first 50 TB/month
    # (https://aws.amazon.com/s3/pricing/): an upper bound, since Intelligent-Tiering moves objects
    # nobody reads to cheaper tiers by itself.
    storage_price_per_gb_month: float = Field(
        default=0.023, ge=0, description="USD per GB-month of the blob store, for the estimated monthly cost"
    )
    storage_cost_alert_usd: float = Field(
        default=100.0, ge=0, description="estimated monthly storage cost (USD) above which administrators are alerted"
    )

    worker_concurrency: int = 2
    log_json: bool = False
    log_level: str = "INFO"

    azure_endpoint: str | None = Field(
        default=None, description="Azure OpenAI resource, https://<name>.openai.azure.com"
    )
    azure_api_key: str | None = None
    azure_api_version: str | None = Field(
        default=None, description="Azure OpenAI data-plane API version (api-version), e.g. 2025-04-01-preview"
    )
    azure_deployment: str | None = Field(
        default=None,
        description="Azure deployment, made by hand, that evaluation and predict call when ARM settings are unset",
    )
    # Azure's control plane (ARM): with these three set, CodeSight creates one deployment per
    # fine-tuned model itself; without them, deployments are made by hand (azure_deployment).
    azure_subscription_id: str | None = None
    azure_resource_group: str | None = None
    azure_account: str | None = Field(default=None, description="the Azure OpenAI resource's name (ARM account)")
    # How ARM calls authenticate: the fixed token when set, else the service principal (all three
    # azure_tenant_id, azure_client_id, azure_client_secret), else azure-identity's DefaultAzureCredential.
    azure_arm_token: str | None = Field(
        default=None,
        description="fixed ARM bearer token (`az account get-access-token --query accessToken -o tsv`; about an "
        "hour); unset = tokens from azure-identity, renewed before they expire",
    )
    azure_tenant_id: str | None = Field(default=None, description="service principal's Entra ID tenant, for ARM")
    azure_client_id: str | None = Field(default=None, description="service principal's application (client) id")
    azure_client_secret: str | None = Field(default=None, description="service principal's client secret")
    azure_arm_endpoint: str = Field(default="https://management.azure.com", description="Azure Resource Manager")
    azure_deployment_sku: str = Field(default="standard", description="sku.name of the deployments CodeSight creates")
    azure_deployment_capacity: int = Field(default=1, ge=1, description="sku.capacity (thousands of tokens/minute)")
    azure_deployment_timeout_s: float = Field(
        default=1800.0, description="how long to wait for a new deployment to provision before the step retries"
    )
    azure_deployment_poll_s: float = Field(
        default=10.0, description="seconds between looks at a provisioning deployment"
    )
    ft_max_attempts: int = Field(default=6, description="tries per fine-tuning API call before a transient error shows")

    vision_model: str = Field(
        default="gpt-4o-mini", description="OpenAI model that reads intent from key screenshots (with openai_api_key)"
    )
    tiktoken_cache_dir: Path = Field(
        default=PROJECT_ROOT / ".codesight" / "tiktoken",
        description="tiktoken's encoding files (written by `make setup`); tokens are approximated without them",
    )
    tiktoken_ranks_dir: Path = Field(
        default=PROJECT_ROOT / "node_modules" / "js-tiktoken" / "dist" / "ranks",
        description="js-tiktoken's ranks, which `python -m lab.training.install_encodings` converts",
    )

    webhook_urls: list[str] = Field(
        default_factory=list, description='endpoints told about finished sessions and runs: JSON list, ["https://…"]'
    )
    webhook_secret: str | None = Field(
        default=None, description="whsec_… (base64): deliveries are signed with it (Standard Webhooks)"
    )
    webhook_events: list[str] = Field(
        default_factory=list, description="event types to send (JSON list); empty: all of them"
    )

    @model_validator(mode="after")
    def _webhooks_need_a_secret(self) -> Settings:
        for url in self.webhook_urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"CODESIGHT_WEBHOOK_URLS: {url!r} is not an http(s) URL")
        from lab.db.models import WEBHOOK_EVENTS  # the table's module: it reads no settings

        unknown = sorted(set(self.webhook_events) - set(WEBHOOK_EVENTS))
        if unknown:
            known = ", ".join(WEBHOOK_EVENTS)
            raise ValueError(f"CODESIGHT_WEBHOOK_EVENTS: unknown {', '.join(unknown)}; known: {known}")
        if self.webhook_urls and not self.webhook_secret:
            raise ValueError(
                "CODESIGHT_WEBHOOK_SECRET: required when CODESIGHT_WEBHOOK_URLS is set "
                "(make one with `codesight webhooks secret`)"
            )
        return self

    @property
    def blob_root(self) -> Path:
        return self.blob_dir or self.home / "blobs"


def child_process_env(**overrides: str) -> dict[str, str]:
    """The environment a child process (Postgres's tools) inherits, with `overrides` on top: read here,
    the one module that touches the environment."""
    return {**os.environ, **overrides}


def point_tiktoken_at(cache_dir: Path) -> None:
    """Make tiktoken load encodings from `cache_dir`: it reads only TIKTOKEN_CACHE_DIR, and this is the one
    module that touches the environment."""
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache_dir)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
