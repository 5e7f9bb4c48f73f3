"""Fine-tuning runs have their own queue and worker: a run waiting on its provider never delays a session."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from click.testing import CliRunner
from procrastinate import App
from procrastinate.testing import InMemoryConnector

import workers.tasks
import workers.training_tasks as training_tasks
from web.cli import main
from workers.app import PIPELINE_QUEUE, QUEUES, TRAINING_QUEUE, app, run_workers


def test_run_tasks_are_on_the_training_queue_and_session_tasks_are_not() -> None:
    for name in (training_tasks.START_TASK, training_tasks.FOLLOW_TASK, training_tasks.EVALUATE_TASK):
        assert app.tasks[name].queue == TRAINING_QUEUE
    for name in workers.tasks.TASK_NAMES.values():
        assert app.tasks[name].queue == PIPELINE_QUEUE
    assert set(QUEUES) == {PIPELINE_QUEUE, TRAINING_QUEUE}


async def test_starting_a_run_defers_onto_the_training_queue() -> None:
    connector = InMemoryConnector()
    with app.replace_connector(connector) as connected:
        await training_tasks.start_run(connected, uuid.uuid4())
    assert [job["queue_name"] for job in connector.jobs.values()] == [TRAINING_QUEUE]


async def test_a_busy_training_worker_leaves_the_pipeline_worker_free() -> None:
    toy = App(connector=InMemoryConnector())
    release, graded, trained = asyncio.Event(), asyncio.Event(), asyncio.Event()
    done: list[str] = []

    @toy.task(name="follow_for_hours", queue=TRAINING_QUEUE)
    async def follow_for_hours() -> None:
        await release.wait()
        done.append("training")
        if done.count("training") == 2:
            trained.set()

    @toy.task(name="grade_session", queue=PIPELINE_QUEUE)
    async def grade_session() -> None:
        done.append("pipeline")
        graded.set()

    async with toy.open_async():
        await follow_for_hours.defer_async()
        await follow_for_hours.defer_async()
        await grade_session.defer_async()
        workers = asyncio.create_task(run_workers(toy, concurrency=1))
        try:
            await asyncio.wait_for(graded.wait(), 10)
            assert done == ["pipeline"]  # both training jobs still waiting, one of them running
            release.set()
            await asyncio.wait_for(trained.wait(), 10)
        finally:
            workers.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await workers


def test_codesight_worker_runs_both_queues_by_default_and_refuses_unknown_ones() -> None:
    assert "[default: pipeline,training]" in CliRunner().invoke(main, ["worker", "--help"]).output
    refused = CliRunner().invoke(main, ["worker", "--queues", "pipeline,replays"])
    assert refused.exit_code == 2 and "unknown queue(s) replays; use pipeline, training" in refused.output
