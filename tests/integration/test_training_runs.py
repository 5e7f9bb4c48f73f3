"""Training runs end to end over real HTTP, a real worker and real Postgres, against the local
OpenAI-compatible server: sessions graded by quality -> examples -> start -> upload -> job -> evaluation -> deployment
-> predict -> rollback, once per provider (on Azure through a deployment per model made over ARM),
with injected 429s and 500s on the way; a failed job's error; cancel; a rejected session never
reaches the uploaded file."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import date
from types import SimpleNamespace
from typing import Any

import httpx
import jinja2
import pytest
from sqlmodel import col, select

from lab.accounts import add_user
from lab.config import Settings, get_settings
from lab.db.models import Session
from lab.training import runs
from lab.training.azure_cleanup import prune_deployments
from lab.training.fake_openai import FakeOpenAI, RunningFake, serve_fake_openai
from lab.training.fake_openai.jobs import FakeJob, Flavour
from lab.training.limits import PROVIDERS, LimitProblem, base_model
from tests.conftest import LiveServer
from tests.integration.training_support import (
    ARM_TOKEN,
    MODEL,
    fake_settings,
    record_session,
    record_trainable_site,
    running_worker,
    start_run,
    wait_for_run,
)
from web.app import WEB_ROOT

PHASE_S = 0.05


class FailingJobsFake(FakeOpenAI):
    """The local server, except that every job fails validation the way the API reports it."""

    def create_job(self, *args: Any, **kwargs: Any) -> FakeJob:
        job = super().create_job(*args, **kwargs)
        job.problems = (
            LimitProblem(
                "invalid_training_file", "Line 3: the assistant message has no content or tool calls", "training_file"
            ),
        )
        return job


class ForgetfulFake(FakeOpenAI):
    """The local server, except that fine-tuned models never learned the checkout page: there they
    answer as their base model does."""

    def complete(
        self, flavour: Flavour, model: str, messages: Sequence[Mapping[str, Any]], *args: Any
    ) -> dict[str, Any]:
        if base_model(model) != model and "checkout.html" in json.dumps(list(messages)):
            model = base_model(model)
        return super().complete(flavour, model, messages, *args)


@pytest.fixture
def fake(request: pytest.FixtureRequest) -> FakeOpenAI:
    """The local server's state; a test may ask for a variant with `parametrize("fake", [Kind], indirect=True)`."""
    kind: type[FakeOpenAI] = getattr(request, "param", FakeOpenAI)
    return kind(phase_s=PHASE_S, arm_token=ARM_TOKEN)


@pytest.fixture
async def fake_server(fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RunningFake]:
    async with serve_fake_openai(fake) as running:
        with fake_settings(monkeypatch, running):
            yield running


@pytest.fixture
async def trainer(fake_server: RunningFake, live_server: LiveServer) -> AsyncIterator[LiveServer]:
    """The web app and a worker, with every provider pointed at the local server (set up first,
    so the web app's settings see it too)."""
    async with running_worker(live_server.services.queue):
        yield live_server


@pytest.fixture
async def client(trainer: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {trainer.user_token}"}
    async with httpx.AsyncClient(base_url=trainer.url, headers=headers, timeout=30) as http:
        yield http


def prefix(provider: str) -> str:
    return "/openai" if provider == "azure" else "/v1"


def chat_prefix(provider: str) -> str:
    return "/openai/deployments/" if provider == "azure" else "/v1/chat/completions"


@pytest.mark.parametrize("provider", ["openai", "azure", "compatible"])
async def test_full_run_deploys_predicts_and_rolls_back(
    provider: str, trainer: LiveServer, client: httpx.AsyncClient, fake: FakeOpenAI
) -> None:
    blobs = trainer.services.blobs
    # Sessions -> quality -> examples: the quality step grades every recorded session; a sloppy recording
    # (no screenshots, positional selectors only) is rejected and its examples never reach the dataset.
    accepted = await record_trainable_site(trainer.services.db, blobs, graded=True)
    rejected = await record_session(trainer.services.db, blobs, "shop", "REJECTED-MARKER", None, sloppy=True)
    await record_session(trainer.services.db, blobs, "shop", "UNREVIEWED-MARKER", "needs_review")
    async with trainer.services.db.session() as s:
        rows = await s.exec(select(Session).where(col(Session.id).in_([*accepted, rejected])))
        graded = {row.id: row for row in rows}
    assert {graded[i].review_status for i in accepted} == {"accepted"}
    assert graded[rejected].review_status == "rejected" and (graded[rejected].quality_score or 0) < 50

    proposal = (await client.get("/api/v1/training/sites/shop/proposal", params={"provider": provider})).json()
    assert proposal["can_start"], proposal["refusals"]
    assert proposal["plan"]["hyperparameters"]["n_epochs"] >= 1 and proposal["plan"]["reasons"]
    warning = proposal["plan"]["provider_status"]["warning"]
    assert (warning is not None and "2027-01-06" in warning) if provider == "openai" else warning is None

    fake.inject(429, retry_after_s=0.05, path_prefix=f"{prefix(provider)}/files")
    fake.inject(500, path_prefix=f"{prefix(provider)}/fine_tuning/jobs")
    if provider == "azure":
        fake.inject(429, retry_after_s=0.05, path_prefix="/subscriptions/")  # Azure's control plane
    fake.inject(500, path_prefix=chat_prefix(provider))
    first = await start_run(client, provider=provider)
    assert first["status"] == "pending" and first["provider"] == provider and first["model"] == MODEL
    done = await wait_for_run(client, first["id"])

    assert done["status"] == "succeeded", done
    azure = provider == "azure"
    assert [f.status for f in fake.served_faults] == [429, 500, *([429] if azure else []), 500]
    messages = [e["message"] for e in done["events"]]
    retried = [e["data"]["retry"] for e in done["events"] if "retry" in e["data"]]
    assert [(r["operation"], r["reason"]) for r in retried] == [
        ("upload", "429"),
        ("create_job", "500"),
        *([("get_deployment", "429")] if azure else []),
        ("complete", "500"),
    ]
    # On Azure, evaluation made a deployment of the new model over ARM and called it (the local server,
    # like Azure, does not answer a fine-tuned model by its id); elsewhere the model is called by name.
    first_deployment = f"codesight-shop-{uuid.UUID(done['id']).hex[:8]}" if azure else None
    if first_deployment:
        assert done["plan"]["azure_deployment"]["name"] == first_deployment
        made = fake.arm.deployments[first_deployment]
        assert made.model == done["fine_tuned_model"] and made.state_at(fake.clock()) == "Succeeded"
        assert any(m.startswith(f"Azure deployment {first_deployment} of ") for m in messages)
    else:
        assert "azure_deployment" not in done["plan"] and not fake.arm.deployments
    assert "The job has successfully completed" in messages
    evaluation = done["evaluation"]
    assert (
        evaluation["step_success"] == 1.0 and evaluation["n_steps"] == done["dataset"]["counts"]["validation_examples"]
    )
    assert evaluation["compared_to"]["base"]["step_success"] == 0.0
    assert evaluation["compared_to"]["deployed"] is None
    assert evaluation["decision"]["deployed"] is True
    assert evaluation["element_check"]["counts"] == {"selector_list": evaluation["n_steps"]}  # no DOM snapshots here
    assert set(evaluation["breakdown"]["by_action"]) <= {"click", "fill", "select"}

    uploaded = fake.files[done["training_file_id"]].content.decode()
    held_out = fake.files[done["validation_file_id"]].content.decode()
    assert "ACCEPTED-" in uploaded and "ACCEPTED-" in held_out
    for never in ("REJECTED-MARKER", "UNREVIEWED-MARKER"):
        assert never not in uploaded and never not in held_out

    page = {
        "url": "http://127.0.0.1:9000/shop/v1/product.html?id=9",
        "title": "Green kettle",
        "outline": 'button [data-testid="add-9"] Add to cart',
    }
    predicted = await client.post("/api/v1/predict", json={"site": "shop", "page": page, "goal": "Buy a kettle"})
    assert predicted.status_code == 200, predicted.text
    assert predicted.json()["model"] == done["fine_tuned_model"]
    assert predicted.json()["tool_call"]["name"] == "click"
    assert predicted.json()["tool_call"]["arguments"]["selectors"][0]["selector"] == '[data-testid="add-9"]'

    # A second run of the same data ties with the deployed model: it is not deployed by itself...
    second = await wait_for_run(client, (await start_run(client, provider=provider))["id"])
    assert second["status"] == "succeeded"
    assert second["evaluation"]["decision"]["deployed"] is False
    # (the deployed model answered through its own deployment: a refused call would score 0%)
    assert second["evaluation"]["compared_to"]["deployed"]["model"] == done["fine_tuned_model"]
    assert second["evaluation"]["compared_to"]["deployed"]["step_success"] == 1.0
    second_deployment = f"codesight-shop-{uuid.UUID(second['id']).hex[:8]}" if azure else None
    if second_deployment:
        assert second["plan"]["azure_deployment"]["name"] == second_deployment
        assert fake.arm.deployments[second_deployment].model == second["fine_tuned_model"]
    # ...until a trainer deploys it; rolling back makes the first model answer again.
    deployed = await client.post(f"/api/v1/training/runs/{second['id']}/deploy")
    assert deployed.status_code == 200 and deployed.json()["model"] == second["fine_tuned_model"]
    newest = await client.post("/api/v1/predict", json={"site": "shop", "page": page})
    assert newest.status_code == 200 and newest.json()["model"] == second["fine_tuned_model"]
    if first_deployment:  # Azure deleted the first model's deployment meanwhile (15 days without calls)
        del fake.arm.deployments[first_deployment]
    rolled = await client.post("/api/v1/training/deployments/shop/rollback")
    assert rolled.status_code == 200 and rolled.json()["model"] == done["fine_tuned_model"]
    if first_deployment:  # rolling back made it again
        assert fake.arm.deployments[first_deployment].model == done["fine_tuned_model"]
    again = await client.post("/api/v1/predict", json={"site": "shop", "page": page})
    assert again.status_code == 200 and again.json()["model"] == done["fine_tuned_model"]
    history = (await client.get("/api/v1/training/deployments/shop")).json()
    assert history["active"]["model"] == done["fine_tuned_model"]
    assert history["active"]["azure_deployment"] == first_deployment
    assert [d["rolled_back_at"] is not None for d in history["history"]] == [True, False]
    assert [d["azure_deployment"] for d in history["history"]] == [second_deployment, first_deployment]
    if first_deployment and second_deployment:
        site_page = await client.get("/training/sites/shop")
        assert f'<code id="active-azure-deployment">{first_deployment}</code>' in site_page.text
        # The rolled-back model's deployment is retired: pruning deletes it (and only it); predict still answers.
        dry = await prune_deployments(trainer.services.db, get_settings(), dry_run=True)
        assert (dry.deleted, dry.kept) == ([second_deployment], [first_deployment])
        assert set(fake.arm.deployments) == {first_deployment, second_deployment}
        pruned = await prune_deployments(trainer.services.db, get_settings())
        assert (pruned.deleted, pruned.kept) == ([second_deployment], [first_deployment])
        assert set(fake.arm.deployments) == {first_deployment}
        after = (await client.get(f"/api/v1/training/runs/{second['id']}")).json()
        assert after["plan"]["azure_deployment"]["deleted_at"]
        assert (await client.post("/api/v1/predict", json={"site": "shop", "page": page})).status_code == 200
    refused = await client.post("/api/v1/training/deployments/shop/rollback")
    assert refused.status_code == 409 and "no earlier deployment" in refused.json()["detail"]

    metrics = (await client.get("/api/v1/training/sites/shop/metrics")).json()
    assert [m["step_success"] for m in metrics] == [1.0, 1.0]


@pytest.mark.parametrize("fake", [FailingJobsFake], indirect=True)
async def test_a_failed_job_shows_code_message_and_param(trainer: LiveServer, client: httpx.AsyncClient) -> None:
    await record_trainable_site(trainer.services.db, trainer.services.blobs)
    failed = await wait_for_run(client, (await start_run(client))["id"])
    page = await client.get(f"/training/runs/{failed['id']}")

    assert failed["status"] == "failed" and failed["finished_at"]
    assert failed["error"] == {
        "code": "invalid_training_file",
        "message": "Line 3: the assistant message has no content or tool calls",
        "param": "training_file",
    }
    assert failed["evaluation"] is None and failed["fine_tuned_model"] is None
    assert any(e["level"] == "error" and "invalid_training_file" in e["message"] for e in failed["events"])
    assert page.status_code == 200
    assert 'id="run-error"' in page.text and "invalid_training_file" in page.text and "training_file" in page.text
    assert "Line 3: the assistant message has no content or tool calls" in page.text
    # A finished run stops polling, and still follows its live events (a deploy or rollback changes its page).
    assert "every 30s" not in page.text and 'sse-connect="/live/training/' in page.text


@pytest.mark.parametrize("fake", [ForgetfulFake], indirect=True)
async def test_a_model_that_falls_short_says_what_data_to_collect(
    trainer: LiveServer, client: httpx.AsyncClient
) -> None:
    await record_trainable_site(trainer.services.db, trainer.services.blobs)
    done = await wait_for_run(client, (await start_run(client))["id"])
    page = await client.get(f"/training/runs/{done['id']}")
    site = await client.get("/training/sites/shop")

    evaluation = done["evaluation"]
    # Per session: a click on the index and one on the product page right; fill, select and click on checkout wrong.
    assert evaluation["step_success"] == pytest.approx(2 / 5)
    assert evaluation["decision"] == {
        "deploy": True,
        "reason": "step success 40% beats base 0%, no model deployed",
        "falls_short": True,
        "deployed": True,
        "deployment_id": evaluation["decision"]["deployment_id"],
    }
    suggestions = evaluation["suggestions"]
    weakest = {(item["page_type"], item["action"]): item for item in suggestions[:2]}
    assert set(weakest) == {("checkout", "fill"), ("checkout", "select")}
    assert all(item["step_success"] == 0.0 and item["more_sessions"] >= 5 for item in weakest.values())
    assert weakest["checkout", "fill"]["message"].startswith("shop: fill actions on checkout pages succeed 0% (n=")
    assert "more checkout sessions" in weakest["checkout", "fill"]["message"]
    assert all(item["step_success"] < 0.8 for item in suggestions)
    assert any(e["message"].startswith("Suggestion: shop: fill actions on") for e in done["events"])
    assert "What to collect next" in page.text and suggestions[0]["message"] in page.text
    assert suggestions[0]["message"] in site.text


async def test_cancel_stops_the_job(trainer: LiveServer, client: httpx.AsyncClient, fake: FakeOpenAI) -> None:
    fake.phase_s = 60  # the job stays in validating_files
    await record_trainable_site(trainer.services.db, trainer.services.blobs)
    run = await start_run(client)
    following = await wait_for_run(client, run["id"], until=("validating_files",))

    cancelled = await client.post(f"/api/v1/training/runs/{run['id']}/cancel")

    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert fake.jobs[following["job_id"]].cancelled_at is not None
    again = await client.post(f"/api/v1/training/runs/{run['id']}/cancel")
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]
    await asyncio.sleep(0.3)  # the follower's next look sees the cancel and stops
    assert (await client.get(f"/api/v1/training/runs/{run['id']}")).json()["status"] == "cancelled"


async def test_refuses_to_start_without_a_trainable_dataset(trainer: LiveServer, client: httpx.AsyncClient) -> None:
    empty = await client.post("/api/v1/training/runs", json={"site": "nowhere"})
    assert empty.status_code == 422
    assert "no accepted sessions" in empty.json()["detail"] and empty.json()["extra"] == {"field": "site"}

    await record_session(trainer.services.db, trainer.services.blobs, "tiny", "ONLY", "accepted")
    one = await client.post("/api/v1/training/runs", json={"site": "tiny"})
    # One session is all train or all validation: either way a split is empty.
    assert one.status_code == 422 and "split of 'tiny'" in one.json()["detail"]

    bad = await client.post("/api/v1/training/runs", json={"site": "tiny", "hyperparameters": {"n_epochs": 0}})
    assert bad.status_code == 400 and "n_epochs" in bad.text
    assert (await client.get("/api/v1/training/runs")).json() == []


async def test_a_provider_past_its_deadline_is_refused_with_what_to_switch_to(trainer: LiveServer) -> None:
    await record_trainable_site(trainer.services.db, trainer.services.blobs)
    async with trainer.services.db.session() as s:
        proposal = await runs.propose_run(s, "shop", get_settings(), provider="openai", today=date(2027, 2, 1))
        with pytest.raises(runs.RunRefused) as refused:
            await runs.create_run(s, proposal)
        azure = await runs.propose_run(s, "shop", get_settings(), provider="azure", today=date(2027, 2, 1))

    async with trainer.services.db.session() as s:
        keyless = await runs.propose_run(
            s, "shop", Settings(ft_provider="openai", openai_api_key=None), today=date(2026, 12, 1)
        )
    assert keyless.refusals() == [
        "fine-tuning with provider 'openai' is disabled until CODESIGHT_OPENAI_API_KEY is set"
    ]
    assert not proposal.can_start
    assert "stopped accepting new fine-tuning jobs on 2027-01-06" in refused.value.message
    assert "Switch CODESIGHT_FT_PROVIDER to 'azure'" in refused.value.message
    assert azure.can_start

    # The Start form the dashboard shows for that proposal: the warning and what to switch to, no Start.
    templates = jinja2.Environment(loader=jinja2.FileSystemLoader(WEB_ROOT / "templates"), autoescape=True)
    form = templates.get_template("partials/trainer_plan.html").render(
        site="shop", proposal=proposal, providers=PROVIDERS, user=SimpleNamespace(role="trainer"), values=None
    )
    warning = form.split('id="provider-warning"', 1)[1].split("</div>", 1)[0]
    assert "stopped accepting new fine-tuning jobs on 2027-01-06" in warning
    assert "What to do:" in warning and "Switch CODESIGHT_FT_PROVIDER to &#39;azure&#39;" in warning
    assert 'id="start" disabled' in form and 'id="refusals"' in form


async def test_dataset_downloads_are_plain_chat_jsonl_of_accepted_sessions(
    trainer: LiveServer, client: httpx.AsyncClient
) -> None:
    await record_trainable_site(trainer.services.db, trainer.services.blobs)
    await record_session(trainer.services.db, trainer.services.blobs, "shop", "REJECTED-MARKER", "rejected")

    train = await client.get("/api/v1/training/sites/shop/dataset/train.jsonl")
    validation = await client.get("/api/v1/training/sites/shop/dataset/validation.jsonl")

    assert train.status_code == validation.status_code == 200
    assert 'filename="shop-train.jsonl"' in train.headers["content-disposition"]
    rows = [json.loads(line) for line in train.text.splitlines()]
    assert len(rows) >= 10 and all(row["messages"][-1]["tool_calls"] for row in rows)
    assert validation.text.strip() and "REJECTED-MARKER" not in train.text + validation.text
    missing = await client.get("/api/v1/training/sites/nowhere/dataset/train.jsonl")
    assert missing.status_code == 404


async def test_predict_without_a_deployed_model_is_a_clear_409(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/predict", json={"site": "shop", "page": {"url": "http://x.test/"}})

    assert response.status_code == 409
    assert "site 'shop' has no deployed model" in response.json()["detail"]
    bad = await client.post(
        "/api/v1/predict",
        json={"site": "shop", "page": {"url": "http://x.test/"}, "screenshot": "data:image/png;base64,AA=="},
    )
    assert bad.status_code == 422 and "screenshot" in bad.json()["detail"]


async def test_viewers_read_but_only_trainers_start(trainer: LiveServer) -> None:
    async with trainer.services.db.session() as s:
        _, viewer_token = await add_user(s, "vera", "viewer")
    async with httpx.AsyncClient(base_url=trainer.url, headers={"Authorization": f"Bearer {viewer_token}"}) as http:
        assert (await http.get("/api/v1/training/sites")).status_code == 200
        assert (await http.post("/api/v1/training/runs", json={"site": "shop"})).status_code == 403
        assert (await http.get("/api/v1/training/sites/shop/dataset/train.jsonl")).status_code == 403
        page = await http.get("/training/sites/shop")
    assert page.status_code == 200 and "Only trainers can start runs" in page.text


async def test_trainer_pages_start_a_run_and_show_it_live(trainer: LiveServer, client: httpx.AsyncClient) -> None:
    await record_trainable_site(trainer.services.db, trainer.services.blobs)

    index = await client.get("/training")
    site = await client.get("/training/sites/shop")
    plan = await client.get("/training/sites/shop/plan", params={"provider": "azure"})
    assert index.status_code == site.status_code == plan.status_code == 200
    assert 'href="/training/sites/shop"' in index.text
    assert "no format errors" in site.text and 'id="start"' in site.text and "2027-01-06" in site.text
    assert 'id="provider-warning"' not in plan.text and '<option value="azure" selected>' in plan.text
    assert 'id="serving-note"' in plan.text and "Azure bills each per hour" in plan.text
    assert 'id="serving-note"' not in site.text  # OpenAI calls a fine-tuned model by its name

    bad = await client.post(
        "/training/sites/shop/runs", data={"provider": "openai", "model": MODEL, "n_epochs": "lots"}
    )
    assert bad.status_code == 422 and "n_epochs" in bad.text
    started = await client.post(
        "/training/sites/shop/runs",
        data={
            "provider": "compatible",
            "model": MODEL,
            "n_epochs": "2",
            "batch_size": "auto",
            "learning_rate_multiplier": "auto",
        },
    )
    assert started.status_code == 303
    run_url = started.headers["location"]
    live = await client.get(run_url + "/status")
    assert live.status_code == 200 and live.text.count('class="run-card"') == 1 and "hx-trigger" not in live.text
    running_page = await client.get(run_url)  # the element that re-fetches the card stays on the page
    assert 'hx-trigger="sse:training-status, sse:training-events, every 30s"' in running_page.text
    run_id = run_url.rsplit("/", 1)[-1]
    done = await wait_for_run(client, run_id)
    assert done["hyperparameters"]["n_epochs"] == 2 and done["status"] == "succeeded"
    page = await client.get(run_url)
    assert 'id="evaluation"' in page.text and "Deployed automatically" in page.text and 'id="deployed"' in page.text
    site_again = await client.get("/training/sites/shop")
    assert 'id="metrics"' in site_again.text and "<polyline" not in site_again.text  # one point: no line yet
    # What the pages re-fetch on live training events.
    site_live = await client.get("/training/sites/shop/live")
    assert site_live.status_code == 200 and 'id="site-live"' not in site_live.text  # swapped into it
    assert 'id="site-live" hx-get="/training/sites/shop/live"' in site_again.text
    assert 'id="metrics"' in site_live.text and 'id="plan"' not in site_live.text and run_id[:8] in site_live.text
    rows = await client.get("/training/runs/rows", params={"site": "shop"})
    assert rows.status_code == 200 and f'href="/training/runs/{run_id}"' in rows.text and "<table" not in rows.text
    assert (await client.get("/training/runs/rows", params={"site": "elsewhere"})).text.count("No runs yet") == 1
    sites = await client.get("/training/overview")
    assert sites.status_code == 200 and 'href="/training/sites/shop"' in sites.text and "<table" not in sites.text
    assert 'sse-connect="/live/training"' in (await client.get("/training")).text
    rollback = await client.post("/training/sites/shop/rollback")
    assert rollback.status_code == 409 and "no earlier deployment" in rollback.text
