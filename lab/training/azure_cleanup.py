"""Deleting the Azure deployments CodeSight made that no site uses any more.

Every evaluated run on Azure (with ARM settings) gets a deployment of its model, and Azure bills
each per hour while it exists. A deployment is *retired* when it is CodeSight's (`codesight-`
prefix) and neither serves a site's active model nor belongs to a run still training or being
evaluated; pruning deletes those, and only those. A model rolled back to later gets its deployment
again (`deploy.ensure_serving`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog
from sqlmodel import col, select

from lab.config import Settings
from lab.db.engine import Database
from lab.db.models import FINAL_RUN_STATUSES, Deployment, TrainingRun, utcnow
from lab.training.azure_arm import NAME_PREFIX, ArmConfig, AzureDeployments, arm_config, deployment_name
from lab.training.deploy import AZURE_DEPLOYMENT_KEY, run_deployment_name, serving_names
from lab.training.provider_errors import ProviderError

log = structlog.get_logger(__name__)


@dataclass
class PruneReport:
    """What pruning found: deployments deleted (or, in a dry run, that would be), kept, and not ours."""

    deleted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    dry_run: bool = False


async def in_use(db: Database) -> set[str]:
    """Names of the Azure deployments CodeSight still needs: active models' and unfinished runs'."""
    async with db.session() as s:
        active = list((await s.exec(select(Deployment).where(col(Deployment.active)))).all())
        names = set((await serving_names(s, active)).values())
        unfinished = (
            await s.exec(
                select(TrainingRun).where(
                    TrainingRun.provider == "azure", col(TrainingRun.status).not_in(FINAL_RUN_STATUSES)
                )
            )
        ).all()
    names |= {run_deployment_name(run) or deployment_name(run.site, run.id) for run in unfinished}
    return names


def required_arm(settings: Settings) -> ArmConfig:
    """The ARM settings; a ProviderError naming the missing ones when they are not all set."""
    config = arm_config(settings)
    if config is None:
        raise ProviderError(
            "missing_setting",
            "managing Azure deployments needs CODESIGHT_AZURE_SUBSCRIPTION_ID, CODESIGHT_AZURE_RESOURCE_GROUP and "
            "CODESIGHT_AZURE_ACCOUNT",
            "CODESIGHT_AZURE_SUBSCRIPTION_ID",
        )
    return config


async def prune_deployments(db: Database, settings: Settings, *, dry_run: bool = False) -> PruneReport:
    """Delete CodeSight's retired Azure deployments (list them only, with `dry_run`); a ProviderError
    names the missing settings when ARM is not configured."""
    config = required_arm(settings)
    report = PruneReport(dry_run=dry_run)
    arm = AzureDeployments(config)
    try:
        found = await arm.list_all()
        needed = await in_use(db)
        for deployment in sorted(found, key=lambda d: d.name):
            if not deployment.name.startswith(NAME_PREFIX):
                report.foreign.append(deployment.name)
            elif deployment.name in needed:
                report.kept.append(deployment.name)
            else:
                if not dry_run:
                    await arm.delete(deployment.name)
                report.deleted.append(deployment.name)
    finally:
        await arm.aclose()
    if report.deleted and not dry_run:
        await _mark_deleted(db, report.deleted)
    log.info("azure_arm.pruned", deleted=report.deleted, kept=report.kept, dry_run=dry_run)
    return report


async def _mark_deleted(db: Database, names: list[str]) -> None:
    """Note the deletion with each run whose deployment went, so the dashboard stops calling it live."""
    async with db.session() as s:
        rows = (await s.exec(select(TrainingRun).where(TrainingRun.provider == "azure"))).all()
        for run in rows:
            if run_deployment_name(run) in names:
                record = dict(run.plan[AZURE_DEPLOYMENT_KEY])
                record["deleted_at"] = utcnow().isoformat()
                run.plan = {**run.plan, AZURE_DEPLOYMENT_KEY: record}
                s.add(run)
