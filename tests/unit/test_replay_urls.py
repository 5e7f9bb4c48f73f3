"""Mapping recorded page URLs onto a fixture site served again at replay time."""

from __future__ import annotations

from lab.replay.run import lab_id_of
from lab.replay.urls import UrlMapper


def test_recorded_url_keeps_path_and_query_on_the_new_server() -> None:
    mapper = UrlMapper("http://127.0.0.1:40123", versions=["v1", "v2"])
    assert mapper.map("http://127.0.0.1:5555/v1/product.html?id=7") == "http://127.0.0.1:40123/v1/product.html?id=7"


def test_path_prefix_before_the_version_is_dropped() -> None:
    mapper = UrlMapper("http://127.0.0.1:40123/", versions=["v1"])
    assert mapper.map("https://lab.example/shop/v1/cart.html#top") == "http://127.0.0.1:40123/v1/cart.html#top"


def test_url_is_unchanged_without_a_served_site() -> None:
    assert UrlMapper().map("https://real.example/p/1?x=2") == "https://real.example/p/1?x=2"


def test_lab_id_comes_from_the_click_payload_when_a_driver_sent_it() -> None:
    assert lab_id_of({"lab_id": "add-to-cart"}) == "add-to-cart"
    assert lab_id_of({"target": {"tag": "button", "lab_id": "checkout"}}) == "checkout"
    assert lab_id_of({"target": {"tag": "button"}}) is None
