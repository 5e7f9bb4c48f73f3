"""Token counts: tiktoken's encodings installed offline from js-tiktoken, counted as OpenAI's cookbook counts
messages and tools, images priced per model; without the encoding files, a labelled approximation."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tiktoken
from PIL import Image

from lab.config import get_settings
from lab.training import encodings, tokens
from lab.training.encodings import EncodingDataError, EncodingFile, install_encoding, ranks_to_tiktoken
from lab.training.install_encodings import main as install_main
from lab.training.tokens import encoding_name, estimate_tokens, image_tokens, text_tokens, token_counting

# OpenAI's cookbook ("How to count tokens with tiktoken", sections 6 and 7): the API's `usage.prompt_tokens`
# for these requests is 124 on gpt-4o / gpt-4o-mini and 129 on gpt-4 / gpt-3.5-turbo; with the tool, 101 and 105.
CORPORATE_JARGON = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain "
        "English.",
    },
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased "
        "leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client deliverable.",
    },
]
WEATHER_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                    "unit": {
                        "type": "string",
                        "description": "The unit of temperature to return",
                        "enum": ["celsius", "fahrenheit"],
                    },
                },
                "required": ["location"],
            },
        },
    }
]
WEATHER_MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]


@pytest.fixture
def without_encodings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings that point at an empty encoding folder, as on an install that never ran `make setup`."""
    monkeypatch.setenv("CODESIGHT_TIKTOKEN_CACHE_DIR", str(tmp_path / "empty"))
    get_settings.cache_clear()
    tokens._encoding.cache_clear()
    yield
    monkeypatch.delenv("CODESIGHT_TIKTOKEN_CACHE_DIR")
    get_settings.cache_clear()
    tokens._encoding.cache_clear()
    token_counting()  # loaded again now, not inside a later test's timed example


def png_data_url(width: int, height: int) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_encodings_are_installed_and_count_exactly() -> None:
    assert token_counting("gpt-4o-2024-08-06") == tokens.TokenCounting(
        "o200k_base", True, "tokens counted with tiktoken's o200k_base"
    )
    assert token_counting("gpt-4-0613").encoding == "cl100k_base"


def test_known_token_ids_of_both_encodings() -> None:
    """Figures from tiktoken's own tests and OpenAI's cookbook."""
    tokens.token_counting()  # points tiktoken at the installed files
    o200k, cl100k = tiktoken.get_encoding("o200k_base"), tiktoken.get_encoding("cl100k_base")
    assert o200k.encode("hello world") == [24912, 2375]
    assert cl100k.encode("hello world") == [15339, 1917]
    assert cl100k.encode("tiktoken is great!") == [83, 1609, 5963, 374, 2294, 0]
    assert o200k.encode("tiktoken is great!") == [83, 8251, 2488, 382, 2212, 0]
    assert o200k.encode(" 日本語とEnglish 12345!\n") == [17428, 40909, 5330, 28881, 220, 7633, 2548, 4175]
    assert text_tokens("hello world") == text_tokens("hello world", "gpt-4") == 2


@pytest.mark.parametrize(
    ("model", "messages_only", "with_tools"),
    [("gpt-4o-2024-08-06", 124, 101), ("gpt-4o-mini", 124, 101), ("gpt-4-0613", 129, 105), ("gpt-3.5-turbo", 129, 105)],
)
def test_messages_and_tools_count_as_the_api_does(model: str, messages_only: int, with_tools: int) -> None:
    assert estimate_tokens({"messages": CORPORATE_JARGON}, model) == messages_only
    assert estimate_tokens({"messages": WEATHER_MESSAGES, "tools": WEATHER_TOOLS}, model) == with_tools


def test_models_map_to_their_encodings() -> None:
    assert encoding_name("gpt-4o-2024-08-06") == encoding_name("gpt-4.1-2025-04-14") == "o200k_base"
    assert encoding_name("ft:gpt-4o-2024-08-06:acme::abc") == "o200k_base"
    assert encoding_name("gpt-4-0613") == encoding_name("gpt-3.5-turbo-0125") == "cl100k_base"
    assert encoding_name("my-azure-deployment") == "o200k_base"  # unknown names: today's encoding


@pytest.mark.parametrize(
    ("size", "model", "detail", "expected"),
    [
        # Worked examples of OpenAI's vision guide ("Calculating costs").
        ((1024, 1024), "gpt-4o-2024-08-06", "high", 765),
        ((2048, 4096), "gpt-4o-2024-08-06", "high", 1105),
        ((4096, 8192), "gpt-4o-2024-08-06", "low", 85),
        ((1024, 1024), "gpt-4.1-mini-2025-04-14", "auto", 1659),  # 1024 patches x 1.62
        ((1800, 2400), "gpt-4.1-nano-2025-04-14", "auto", 3572),  # 1452 patches x 2.46
        # A desktop screenshot: 1440x900 -> 1229x768, 3 x 2 tiles.
        ((1440, 900), "gpt-4.1-2025-04-14", "auto", 85 + 6 * 170),
        ((1440, 900), "gpt-4o-mini", "auto", 2833 + 6 * 5667),
        ((1440, 900), "ft:gpt-4o-2024-08-06:acme::x", "auto", 1105),
    ],
)
def test_image_costs_per_model(size: tuple[int, int], model: str, detail: str, expected: int) -> None:
    assert image_tokens(*size, model=model, detail=detail) == expected


def test_images_cost_what_their_own_size_costs() -> None:
    def with_image(url: str) -> dict[str, Any]:
        parts = [{"type": "text", "text": "Buy it"}, {"type": "image_url", "image_url": {"url": url}}]
        return {"messages": [{"role": "user", "content": parts}, {"role": "assistant", "content": "ok"}]}

    small = estimate_tokens(with_image(png_data_url(500, 300)))
    large = estimate_tokens(with_image(png_data_url(1024, 1024)))
    assert large - small == 765 - (85 + 170)  # 4 tiles against 1
    remote = estimate_tokens(with_image("https://example.test/shot.webp"))
    assert remote - small == 1105 - (85 + 170)  # unknown size: a desktop screenshot


def test_without_encoding_files_counts_are_approximate_and_say_why(without_encodings: None) -> None:
    counting = token_counting()
    assert not counting.exact
    assert "approximated" in counting.note and "make setup" in counting.note and "empty" in counting.note
    assert text_tokens("abcd" * 10) == 10
    assert estimate_tokens({"messages": [{"role": "user", "content": "abcd" * 10}]}) == 3 + 3 + 1 + 10


def test_ranks_modules_convert_back_to_tiktoken_files() -> None:
    module = "export default " + json.dumps({"pat_str": "", "bpe_ranks": "! 0 IQ== Ig==\n! 5 Iw==\n"}) + ";"
    assert ranks_to_tiktoken(module) == b"IQ== 0\nIg== 1\nIw== 5\n"
    with pytest.raises(EncodingDataError, match="not a js-tiktoken ranks module"):
        ranks_to_tiktoken("module.exports = {}")


def test_a_conversion_that_differs_from_the_original_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ranks = tmp_path / "ranks"
    ranks.mkdir()
    (ranks / "tiny.js").write_text("export default " + json.dumps({"bpe_ranks": "! 0 IQ=="}), encoding="utf-8")
    good = EncodingFile("tiny", "https://example.test/tiny.tiktoken", hashlib.sha256(b"IQ== 0\n").hexdigest())
    monkeypatch.setitem(encodings.ENCODINGS, "tiny", good)
    installed = install_encoding(ranks, tmp_path / "cache", "tiny")
    assert installed.name == hashlib.sha1(good.url.encode()).hexdigest() and installed.read_bytes() == b"IQ== 0\n"

    monkeypatch.setitem(encodings.ENCODINGS, "tiny", EncodingFile("tiny", good.url, "0" * 64))
    with pytest.raises(EncodingDataError, match="tiktoken expects"):
        install_encoding(ranks, tmp_path / "other", "tiny")
    assert not encodings.is_installed(tmp_path / "other", "tiny")
    with pytest.raises(EncodingDataError, match="npm install"):
        install_encoding(tmp_path / "nowhere", tmp_path / "other", "tiny")


def test_the_npm_packages_ranks_convert_to_tiktokens_own_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """js-tiktoken's ranks, as `make setup` converts them, hash to what tiktoken expects of its files."""
    assert install_main(["--out", str(tmp_path)]) == 0
    assert all(encodings.is_installed(tmp_path, name) for name in encodings.ENCODINGS)
    assert install_main(["--ranks", str(tmp_path / "nowhere"), "--out", str(tmp_path / "other")]) == 1
    assert "tiktoken encodings not installed" in capsys.readouterr().err
