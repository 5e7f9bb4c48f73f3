"""Vision intent: the DOM analyzer, and the OpenAI path through the official client against a
local fake (httpx2.MockTransport), cached by image hash in a blob store."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest

from lab.config import Settings
from lab.storage.blobs import LocalBlobStore
from lab.vision import (
    DOM_HEURISTIC_SOURCE,
    ScreenInput,
    ScreenIntent,
    VisionAnswerError,
    dom_intent,
    image_sha256,
    intent_reader,
)
from lab.vision.cache import cache_key

WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 frame-one"
OTHER_WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 frame-two"
SHOP = "http://127.0.0.1:9000/shop/v1"


def screen(**overrides: Any) -> ScreenInput:
    fields: dict[str, Any] = {
        "action": "click",
        "url": f"{SHOP}/product.html?id=4",
        "title": "Blue kettle",
        "target_tag": "button",
        "target_text": "Add to cart \u2013 $49.00",
        "image_webp": WEBP,
    }
    fields.update(overrides)
    return ScreenInput(**fields)


# --- DOM analyzer -----------------------------------------------------------------------


def test_dom_analyzer_reads_a_click_and_labels_itself() -> None:
    intent = dom_intent(screen())
    assert intent == ScreenIntent(
        intent="add the product to the cart",
        page_type="product",
        target_description='button "Add to cart \u2013 $49.00"',
        confidence=0.7,
        source=DOM_HEURISTIC_SOURCE,
    )


@pytest.mark.parametrize(
    ("overrides", "intent", "page_type"),
    [
        (
            {"target_text": "Accept all", "outline": "dialog: Cookies\n  button Accept all"},
            "dismiss the pop-up",
            "product",
        ),
        ({"url": f"{SHOP}/cart.html", "target_text": "Proceed to checkout"}, "proceed to checkout", "cart"),
        ({"url": f"{SHOP}/checkout.html", "target_text": "Place order"}, "place the order", "checkout"),
        ({"url": f"{SHOP}/index.html", "target_tag": "a", "target_text": "Blue kettle"}, 'open "Blue kettle"', "home"),
        ({"target_text": "+", "target_role": "button"}, "change the quantity", "product"),
        ({"target_text": "M", "target_role": "radio"}, 'choose "M"', "product"),
        (
            {"action": "fill", "field_label": "Email", "target_tag": "input", "value": "[email]"},
            "enter Email",
            "product",
        ),
        (
            {"action": "select", "field_label": "Shipping", "target_tag": "select", "value": "Express"},
            "choose Shipping: Express",
            "product",
        ),
        ({"action": "navigate", "destination_url": f"{SHOP}/cart.html"}, "go to the cart page", "product"),
    ],
)
def test_dom_analyzer_rules(overrides: dict[str, Any], intent: str, page_type: str) -> None:
    result = dom_intent(screen(**overrides))
    assert (result.intent, result.page_type, result.source) == (intent, page_type, DOM_HEURISTIC_SOURCE)
    assert 0 < result.confidence <= 1


def test_an_unlabelled_click_gets_a_low_confidence_restatement() -> None:
    result = dom_intent(screen(target_text="Learn more", target_tag="span"))
    assert (result.intent, result.confidence) == ('click "Learn more"', 0.4)


# --- OpenAI path ------------------------------------------------------------------------


def completion(content: str | None, refusal: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": content, "refusal": refusal},
            }
        ],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
    }


ANSWER = {
    "intent": "add the blue kettle to the cart",
    "page_type": "product",
    "target_description": "the green 'Add to cart' button under the price",
    "confidence": 0.92,
}


class FakeOpenAI:
    """A chat-completions endpoint: records requests, answers with `reply(request_body)`."""

    def __init__(self, reply: Callable[[dict[str, Any]], dict[str, Any]] = lambda body: completion(json.dumps(ANSWER))):
        self.requests: list[dict[str, Any]] = []
        self.reply = reply

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        assert request.url.path == "/v1/chat/completions"
        assert request.headers["authorization"] == "Bearer sk-test"
        body = json.loads(request.content)
        self.requests.append(body)
        return httpx2.Response(200, json=self.reply(body))


def keyed_settings() -> Settings:
    return Settings(openai_api_key="sk-test", openai_base_url="http://fake-openai.test/v1", vision_model="gpt-4o-mini")


@pytest.fixture
def blobs(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


async def test_openai_reads_the_frame_with_structured_output(blobs: LocalBlobStore) -> None:
    fake = FakeOpenAI()
    async with intent_reader(keyed_settings(), blobs, httpx2.AsyncClient(transport=httpx2.MockTransport(fake))) as r:
        result = await r.read(screen())

    assert result == ScreenIntent(**ANSWER, source="openai:gpt-4o-mini")
    (body,) = fake.requests
    assert body["model"] == "gpt-4o-mini"
    schema = body["response_format"]
    assert schema["type"] == "json_schema" and schema["json_schema"]["strict"] is True
    assert set(schema["json_schema"]["schema"]["required"]) == set(ANSWER)
    text, image = body["messages"][1]["content"]
    assert 'clicked button "Add to cart \u2013 $49.00"' in text["text"]
    assert image["image_url"]["url"] == "data:image/webp;base64," + base64.b64encode(WEBP).decode()
    assert r.stats.to_dict() == {"source": "openai:gpt-4o-mini", "api_calls": 1, "cache_hits": 0, "dom_readings": 0}


async def test_a_second_reading_of_the_same_frame_hits_the_cache(blobs: LocalBlobStore) -> None:
    fake = FakeOpenAI()
    transport = httpx2.MockTransport(fake)
    async with intent_reader(keyed_settings(), blobs, httpx2.AsyncClient(transport=transport)) as reader:
        first = await reader.read(screen())
    async with intent_reader(keyed_settings(), blobs, httpx2.AsyncClient(transport=transport)) as reader:
        again = await reader.read_all([screen(), screen()])
        assert reader.stats.cache_hits == 2 and reader.stats.api_calls == 0

    assert len(fake.requests) == 1 and again == [first, first]
    assert await blobs.exists(cache_key(image_sha256(WEBP)))
    assert await blobs.list("vision-cache") == [f"vision-cache/{image_sha256(WEBP)}.json"]


async def test_a_new_frame_or_another_step_on_the_same_frame_is_asked_again(blobs: LocalBlobStore) -> None:
    fake = FakeOpenAI()
    async with intent_reader(keyed_settings(), blobs, httpx2.AsyncClient(transport=httpx2.MockTransport(fake))) as r:
        await r.read(screen())
        await r.read(screen(image_webp=OTHER_WEBP))
        await r.read(screen(target_text="Buy now"))
    assert len(fake.requests) == 3


async def test_form_steps_and_clicks_without_a_frame_are_read_from_the_dom(blobs: LocalBlobStore) -> None:
    fake = FakeOpenAI()
    async with intent_reader(keyed_settings(), blobs, httpx2.AsyncClient(transport=httpx2.MockTransport(fake))) as r:
        filled = await r.read(screen(action="fill", field_label="Email", target_tag="input"))
        unframed = await r.read(screen(image_webp=None))
    assert fake.requests == []
    assert filled.source == unframed.source == DOM_HEURISTIC_SOURCE


async def test_without_a_key_every_step_is_read_from_the_dom(blobs: LocalBlobStore) -> None:
    async with intent_reader(Settings(openai_api_key=None), blobs) as reader:
        result = await reader.read(screen())
    assert result.source == DOM_HEURISTIC_SOURCE and reader.vision is None
    assert reader.stats.to_dict() == {"source": "dom-heuristic", "api_calls": 0, "cache_hits": 0, "dom_readings": 1}
    assert await blobs.list("vision-cache") == []


@pytest.mark.parametrize(
    "reply",
    [
        lambda body: completion(None, refusal="I can't help with that."),
        lambda body: completion(json.dumps({**ANSWER, "confidence": 2})),
        lambda body: completion(json.dumps({**ANSWER, "page_type": "spaceship"})),
        lambda body: completion("not json"),
    ],
)
async def test_a_refusal_or_an_answer_outside_the_schema_fails_loudly(
    blobs: LocalBlobStore, reply: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    fake = FakeOpenAI(reply)
    async with intent_reader(keyed_settings(), blobs, httpx2.AsyncClient(transport=httpx2.MockTransport(fake))) as r:
        with pytest.raises(VisionAnswerError, match="gpt-4o-mini"):
            await r.read(screen())
    assert await blobs.list("vision-cache") == []
