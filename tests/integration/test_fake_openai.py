"""The local OpenAI-compatible server over real HTTP: OpenAI and Azure paths, job clock, faults, chat."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from lab.training.fake_openai import FakeOpenAI, RunningFake, serve_fake_openai
from tests.integration.training_data import eleven_images_jsonl, examples, jsonl

PHASE_S = 10.0
AUTH = {"Authorization": "Bearer sk-test"}
AZURE = {"api-key": "azure-key"}
VERSION = {"api-version": "2025-04-01-preview"}


class ManualClock:
    """Time that only moves when a test says so."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, phases: float) -> None:
        self.now += phases * PHASE_S


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def server(clock: ManualClock) -> AsyncIterator[RunningFake]:
    async with serve_fake_openai(FakeOpenAI(phase_s=PHASE_S, clock=clock)) as running:
        yield running


@pytest.fixture
async def http(server: RunningFake) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


async def upload(http: httpx.AsyncClient, content: bytes, prefix: str = "/v1", name: str = "train.jsonl") -> Any:
    headers, params = (AUTH, {}) if prefix == "/v1" else (AZURE, VERSION)
    return await http.post(
        f"{prefix}/files",
        headers=headers,
        params=params,
        files={"file": (name, content, "application/jsonl")},
        data={"purpose": "fine-tune"},
    )


async def create_job(http: httpx.AsyncClient, file_id: str, **body: Any) -> httpx.Response:
    payload = {"model": "gpt-4o-2024-08-06", "training_file": file_id, **body}
    return await http.post("/v1/fine_tuning/jobs", headers=AUTH, json=payload)


async def job(http: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    response = await http.get(f"/v1/fine_tuning/jobs/{job_id}", headers=AUTH)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# --- auth and errors -----------------------------------------------------------------------------


async def test_openai_paths_refuse_requests_without_a_bearer_key(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/models")
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "invalid_api_key" and "Authorization" in error["message"]
    assert (await http.get("/v1/models", headers={"Authorization": "Basic c2stdGVzdA=="})).status_code == 401
    assert (await http.get("/v1/models", headers=AUTH)).status_code == 200


async def test_azure_paths_name_the_missing_api_version_then_want_a_key(http: httpx.AsyncClient) -> None:
    response = await http.get("/openai/models", headers=AZURE)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "api-version" and "api-version" in error["message"]
    assert (await http.get("/openai/models", params=VERSION)).status_code == 401
    assert (await http.get("/openai/models", params=VERSION, headers=AZURE)).status_code == 200


async def test_unknown_paths_and_bad_bodies_answer_in_openais_error_shape(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/nothing", headers=AUTH)
    assert response.status_code == 404 and response.json()["error"]["message"] == "Invalid URL (GET /v1/nothing)"
    response = await http.post("/v1/fine_tuning/jobs", headers=AUTH, json={"training_file": "file-x"})
    assert response.status_code == 400
    assert response.json()["error"] == {
        "message": "Missing required parameter: 'model'.",
        "type": "invalid_request_error",
        "param": "model",
        "code": None,
    }
    response = await http.post("/v1/files", headers=AUTH, files={"file": ("a.jsonl", b"{}")})
    assert response.status_code == 400 and response.json()["error"]["param"] == "purpose"


# --- files ---------------------------------------------------------------------------------------


async def test_upload_stores_a_valid_file_and_serves_it_back(http: httpx.AsyncClient) -> None:
    content = jsonl(10)
    response = await upload(http, content)
    assert response.status_code == 200, response.text
    stored = response.json()
    assert stored["object"] == "file" and stored["purpose"] == "fine-tune" and stored["bytes"] == len(content)
    assert (await http.get(f"/v1/files/{stored['id']}", headers=AUTH)).json()["filename"] == "train.jsonl"
    assert (await http.get(f"/v1/files/{stored['id']}/content", headers=AUTH)).content == content
    # Azure keeps its own files.
    assert (await http.get(f"/openai/files/{stored['id']}", headers=AZURE, params=VERSION)).status_code == 404


async def test_upload_refuses_malformed_files_as_the_api_does(http: httpx.AsyncClient) -> None:
    good = json.dumps(examples(1)[0])
    content = f"{good}\n{{not json\n{json.dumps({'messages': []})}\n".encode()
    response = await upload(http, content)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "file" and error["code"] == "invalid_file_format"
    assert "2 of 3 examples are invalid" in error["message"]
    assert "invalid_json: 1" in error["message"] and "missing_messages_list: 1" in error["message"]
    response = await upload(http, jsonl(10), name="train.csv")
    assert response.status_code == 400 and "Must be .jsonl" in response.json()["error"]["message"]


async def test_eleven_images_in_an_example_pass_azure_and_fail_openai(http: httpx.AsyncClient) -> None:
    content = eleven_images_jsonl()
    refused = await upload(http, content, "/v1")
    assert refused.status_code == 400
    assert "too_many_images: 1" in refused.json()["error"]["message"]
    assert "the limit is 10" in refused.json()["error"]["message"]
    accepted = await upload(http, content, "/openai")
    assert accepted.status_code == 200, accepted.text


# --- jobs ----------------------------------------------------------------------------------------


async def test_a_job_walks_its_states_on_the_clock_and_yields_a_model(
    http: httpx.AsyncClient, clock: ManualClock
) -> None:
    file_id = (await upload(http, jsonl(12))).json()["id"]
    created = await create_job(http, file_id, suffix="shop", hyperparameters={"n_epochs": 2})
    assert created.status_code == 200, created.text
    job_id = created.json()["id"]
    seen = [created.json()["status"]]
    for _ in range(4):
        clock.advance(1)
        seen.append((await job(http, job_id))["status"])
    assert seen == ["validating_files", "queued", "running", "running", "succeeded"]

    done = await job(http, job_id)
    assert done["fine_tuned_model"] == f"ft:gpt-4o-2024-08-06:codesight:shop:{job_id[6:14]}"
    assert done["hyperparameters"] == {"n_epochs": 2, "batch_size": 1, "learning_rate_multiplier": 1.8}
    assert done["trained_tokens"] > 12 * 1105 * 2  # two epochs over 12 examples with one screenshot each
    assert done["error"] is None and done["finished_at"] is not None
    results = await http.get(f"/v1/files/{done['result_files'][0]}/content", headers=AUTH)
    assert results.text.startswith("step,train_loss,train_accuracy\n") and len(results.text.splitlines()) == 4

    events = (await http.get(f"/v1/fine_tuning/jobs/{job_id}/events", headers=AUTH, params={"limit": 100})).json()
    messages = [e["message"] for e in reversed(events["data"])]
    assert messages[0] == f"Created fine-tuning job: {job_id}"
    assert "Files validated, moving job to queued state" in messages
    assert any(m.startswith("Step ") for m in messages)
    assert messages[-1] == "The job has successfully completed"
    models = (await http.get("/v1/models", headers=AUTH)).json()["data"]
    assert done["fine_tuned_model"] in [m["id"] for m in models]


async def test_too_few_examples_fail_the_job_with_openais_error(http: httpx.AsyncClient, clock: ManualClock) -> None:
    file_id = (await upload(http, jsonl(3))).json()["id"]
    job_id = (await create_job(http, file_id)).json()["id"]
    assert (await job(http, job_id))["status"] == "validating_files"
    clock.advance(1)
    failed = await job(http, job_id)
    assert failed["status"] == "failed" and failed["fine_tuned_model"] is None
    assert failed["error"] == {
        "code": "invalid_n_examples",
        "message": "Training file has 3 example(s), but must have at least 10 examples",
        "param": "training_file",
    }
    events = (await http.get(f"/v1/fine_tuning/jobs/{job_id}/events", headers=AUTH)).json()["data"]
    assert events[0]["level"] == "error"


async def test_images_on_a_text_only_model_fail_the_job(http: httpx.AsyncClient, clock: ManualClock) -> None:
    file_id = (await upload(http, jsonl(10))).json()["id"]
    job_id = (await create_job(http, file_id, model="gpt-4o-mini-2024-07-18")).json()["id"]
    clock.advance(1)
    error = (await job(http, job_id))["error"]
    assert error["code"] == "invalid_training_file" and "does not take images" in error["message"]


async def test_job_requests_are_checked_before_a_job_exists(http: httpx.AsyncClient) -> None:
    file_id = (await upload(http, jsonl(10))).json()["id"]
    response = await create_job(http, file_id, model="gpt-2")
    assert response.status_code == 400 and response.json()["error"]["code"] == "model_not_available"
    response = await create_job(http, "file-missing")
    assert response.status_code == 400 and response.json()["error"]["param"] == "training_file"
    response = await create_job(http, file_id, hyperparameters={"n_epochs": 99})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "hyperparameters.n_epochs"
    response = await create_job(
        http, file_id, method={"type": "supervised", "supervised": {"hyperparameters": {"batch_size": 4}}}
    )
    assert response.json()["hyperparameters"]["batch_size"] == 4


async def test_cancel_stops_a_running_job_once(http: httpx.AsyncClient, clock: ManualClock) -> None:
    file_id = (await upload(http, jsonl(10))).json()["id"]
    job_id = (await create_job(http, file_id)).json()["id"]
    clock.advance(2.5)
    assert (await job(http, job_id))["status"] == "running"
    cancelled = await http.post(f"/v1/fine_tuning/jobs/{job_id}/cancel", headers=AUTH)
    assert cancelled.json()["status"] == "cancelled"
    clock.advance(5)
    assert (await job(http, job_id))["status"] == "cancelled"
    again = await http.post(f"/v1/fine_tuning/jobs/{job_id}/cancel", headers=AUTH)
    assert again.status_code == 400 and "already cancelled" in again.json()["error"]["message"]
    events = (await http.get(f"/v1/fine_tuning/jobs/{job_id}/events", headers=AUTH)).json()["data"]
    assert events[0]["message"] == "Fine-tuning job cancelled"


async def test_jobs_list_newest_first_with_cursor_pages(http: httpx.AsyncClient, clock: ManualClock) -> None:
    file_id = (await upload(http, jsonl(10))).json()["id"]
    ids = []
    for _ in range(3):
        ids.append((await create_job(http, file_id)).json()["id"])
        clock.advance(0.1)
    first = (await http.get("/v1/fine_tuning/jobs", headers=AUTH, params={"limit": 2})).json()
    assert [j["id"] for j in first["data"]] == ids[::-1][:2] and first["has_more"]
    rest = (await http.get("/v1/fine_tuning/jobs", headers=AUTH, params={"limit": 2, "after": ids[1]})).json()
    assert [j["id"] for j in rest["data"]] == [ids[0]] and not rest["has_more"]


# --- faults --------------------------------------------------------------------------------------


async def test_injected_faults_hit_the_next_matching_requests(http: httpx.AsyncClient) -> None:
    await http.post("/_fake/faults", json={"status": 429, "count": 2, "retry_after_s": 2, "path_prefix": "/v1/models"})
    await http.post("/_fake/faults", json={"status": 500})
    assert (await http.get("/openai/models", headers=AZURE, params=VERSION)).status_code == 500
    for _ in range(2):
        limited = await http.get("/v1/models", headers=AUTH)
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "2" and limited.headers["retry-after-ms"] == "2000"
        assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert (await http.get("/v1/models", headers=AUTH)).status_code == 200
    faults = (await http.get("/_fake/faults")).json()
    assert faults["pending"] == []
    assert [(f["status"], f["path"]) for f in faults["served"]] == [
        (500, "/openai/models"),
        (429, "/v1/models"),
        (429, "/v1/models"),
    ]


# --- chat ----------------------------------------------------------------------------------------


async def test_chat_takes_images_and_answers_with_the_best_selector_in_the_prompt(http: httpx.AsyncClient) -> None:
    prompt = 'Candidates: #buy-now, [data-testid="add-to-cart"], role=button[name="Add"]'
    image = {"type": "image_url", "image_url": {"url": "data:image/webp;base64,UklGRg==", "detail": "low"}}
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}, image]}]}
    response = await http.post("/v1/chat/completions", headers=AUTH, json=body)
    assert response.status_code == 200, response.text
    completion = response.json()
    answer = json.loads(completion["choices"][0]["message"]["content"])
    assert answer["action"] == "click"
    assert answer["selectors"] == [{"kind": "testid", "selector": '[data-testid="add-to-cart"]'}]
    assert completion["usage"]["prompt_tokens"] > 85
    click_tool = {"type": "function", "function": {"name": "click", "parameters": {"type": "object"}}}
    called = (await http.post("/v1/chat/completions", headers=AUTH, json={**body, "tools": [click_tool]})).json()
    call = called["choices"][0]["message"]["tool_calls"][0]["function"]
    assert call["name"] == "click"
    assert json.loads(call["arguments"])["selectors"] == [{"kind": "testid", "selector": '[data-testid="add-to-cart"]'}]

    unknown = await http.post("/v1/chat/completions", headers=AUTH, json={**body, "model": "gpt-99"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"
    image["image_url"] = {"url": "file:///etc/passwd"}
    refused = await http.post("/v1/chat/completions", headers=AUTH, json=body)
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "messages[0].content[1]"


async def test_azure_chat_runs_a_deployment(http: httpx.AsyncClient, clock: ManualClock) -> None:
    file_id = (await upload(http, jsonl(10), "/openai")).json()["id"]
    created = await http.post(
        "/openai/fine_tuning/jobs",
        headers=AZURE,
        params=VERSION,
        json={"model": "gpt-4o-2024-08-06", "training_file": file_id},
    )
    job_id = created.json()["id"]
    clock.advance(4)
    done = (await http.get(f"/openai/fine_tuning/jobs/{job_id}", headers=AZURE, params=VERSION)).json()
    assert done["fine_tuned_model"] == f"gpt-4o-2024-08-06.ft-{job_id[6:]}"
    trained = examples(10)[4]
    body = {"messages": trained["messages"][:2], "tools": trained["tools"]}
    path = "/openai/deployments/shop-agent/chat/completions"
    missing = await http.post(path, headers=AZURE, params=VERSION, json=body)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "DeploymentNotFound"
    await http.post("/_fake/deployments", json={"name": "shop-agent", "model": done["fine_tuned_model"]})
    answer = (await http.post(path, headers=AZURE, params=VERSION, json=body)).json()
    assert answer["choices"][0]["finish_reason"] == "tool_calls"
    assert answer["choices"][0]["message"]["tool_calls"] == trained["messages"][2]["tool_calls"]


async def test_vision_reads_a_frame_from_the_fake_with_structured_output(server: RunningFake) -> None:
    """A demo pointed at the fake (no key) still gets a schema-valid vision intent."""
    import io

    import openai
    from PIL import Image

    from lab.vision.intent import ScreenInput
    from lab.vision.openai_vision import OpenAIScreenAnalyzer

    frame = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 40, 40)).save(frame, format="WEBP")
    client = openai.AsyncOpenAI(api_key="sk-demo", base_url=f"{server.url}/v1", max_retries=0)
    analyzer = OpenAIScreenAnalyzer(client, "gpt-4o-mini")
    screen = ScreenInput(action="click", url="http://shop.test/v1/cart.html", title="Cart", image_webp=frame.getvalue())
    intent = await analyzer.analyze(screen)
    await client.close()
    assert intent.source == "openai:gpt-4o-mini"
    assert intent.intent and intent.target_description and 0 <= intent.confidence <= 1


async def test_arm_deployments_provision_on_the_clock_and_serve_the_data_plane(
    http: httpx.AsyncClient, clock: ManualClock
) -> None:
    file_id = (await upload(http, jsonl(10), "/openai")).json()["id"]
    body = {"model": "gpt-4o-2024-08-06", "training_file": file_id}
    job_id = (await http.post("/openai/fine_tuning/jobs", headers=AZURE, params=VERSION, json=body)).json()["id"]
    clock.advance(4)
    model = (await http.get(f"/openai/fine_tuning/jobs/{job_id}", headers=AZURE, params=VERSION)).json()[
        "fine_tuned_model"
    ]
    arm = {"Authorization": "Bearer arm-token"}
    arm_version = {"api-version": "2024-10-01"}
    url = "/subscriptions/s1/resourceGroups/g1/providers/Microsoft.CognitiveServices/accounts/a1/deployments"
    put = {"sku": {"name": "standard", "capacity": 1}, "properties": {"model": {"format": "OpenAI", "version": "1"}}}
    trained = examples(10)[4]
    chat = "/openai/deployments/codesight-shop-1/chat/completions"
    question = {"messages": trained["messages"][:2], "tools": trained["tools"]}

    base = await http.put(
        f"{url}/codesight-shop-1",
        headers=arm,
        params=arm_version,
        json={**put, "properties": {"model": {"format": "OpenAI", "name": "gpt-4o-2024-08-06", "version": "1"}}},
    )
    assert base.status_code == 400 and base.json()["error"]["code"] == "DeploymentModelNotSupported"
    bad_name = await http.put(f"{url}/has%20space", headers=arm, params=arm_version, json=put)
    assert bad_name.status_code == 400 and bad_name.json()["error"]["code"] == "InvalidResourceName"
    put["properties"]["model"]["name"] = model
    created = await http.put(f"{url}/codesight-shop-1", headers=arm, params=arm_version, json=put)
    assert created.status_code == 201 and created.json()["properties"]["provisioningState"] == "Creating"
    operation = created.headers["azure-asyncoperation"]
    assert (await http.get(operation, headers=arm)).json()["status"] == "InProgress"
    early = await http.post(chat, headers=AZURE, params=VERSION, json=question)
    assert early.status_code == 404 and early.json()["error"]["code"] == "DeploymentNotFound"

    clock.advance(1)
    ready = (await http.get(f"{url}/codesight-shop-1", headers=arm, params=arm_version)).json()
    assert ready["properties"]["provisioningState"] == "Succeeded" and ready["properties"]["model"]["name"] == model
    assert (await http.get(operation, headers=arm)).json()["status"] == "Succeeded"
    answer = (await http.post(chat, headers=AZURE, params=VERSION, json=question)).json()
    assert answer["choices"][0]["message"]["tool_calls"] == trained["messages"][2]["tool_calls"]
    assert (await http.put(f"{url}/codesight-shop-1", headers=arm, params=arm_version, json=put)).status_code == 200
    listed = (await http.get(url, headers=arm, params=arm_version)).json()["value"]
    assert [d["name"] for d in listed] == ["codesight-shop-1"]
    other_account = await http.get(url.replace("/a1/", "/a2/"), headers=arm, params=arm_version)
    assert other_account.json() == {"value": []}
    assert (await http.delete(f"{url}/codesight-shop-1", headers=arm, params=arm_version)).status_code == 200
    assert (await http.delete(f"{url}/codesight-shop-1", headers=arm, params=arm_version)).status_code == 204
    gone = await http.get(f"{url}/codesight-shop-1", headers=arm, params=arm_version)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "DeploymentNotFound"
    assert (await http.post(chat, headers=AZURE, params=VERSION, json=question)).status_code == 404
