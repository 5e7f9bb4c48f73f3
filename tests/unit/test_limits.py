"""The one table of fine-tuning limits, the dataset checks that read it, and whether a provider takes jobs."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab.training.limits import (
    AZURE_LIMITS,
    COMPATIBLE_LIMITS,
    OPENAI_LIMITS,
    PROVIDERS,
    base_model,
    check_dataset,
    limits_for,
    model_limits,
    provider_status,
)
from lab.training.tokens import (
    ASSUMED_IMAGE_SIZE,
    estimate_tokens,
    image_count,
    image_tokens,
    text_tokens,
    token_counting,
)
from lab.training.validate import validate_example

PNG_URL = "data:image/png;base64,iVBORw0KGgo="  # a PNG signature alone: its size cannot be read
SCREENSHOT_IMAGE_TOKENS = image_tokens(*ASSUMED_IMAGE_SIZE)


def example(text: str = "Add the cheese to the cart", images: int = 0, detail: str = "auto") -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}]
    parts += [{"type": "image_url", "image_url": {"url": PNG_URL, "detail": detail}}] * images
    return {
        "messages": [
            {"role": "system", "content": "You shop."},
            {"role": "user", "content": parts},
            {"role": "assistant", "content": '{"action": "click"}'},
        ]
    }


@pytest.fixture(autouse=True, scope="module")
def loaded_encodings() -> None:
    """tiktoken's encodings loaded before any timed hypothesis example (the first load takes a while)."""
    token_counting()


# --- the table ------------------------------------------------------------------------------------


def test_every_figure_names_its_source() -> None:
    for provider in PROVIDERS:
        limits = limits_for(provider)
        assert "https://" in limits.source
        for row in limits.models.values():
            assert row.source.startswith("https://"), row
            assert row.max_tokens_per_example > 0


def test_published_figures() -> None:
    assert (OPENAI_LIMITS.max_images_per_example, AZURE_LIMITS.max_images_per_example) == (10, 64)
    assert OPENAI_LIMITS.max_file_bytes == AZURE_LIMITS.max_file_bytes == 512 * 1024 * 1024
    assert OPENAI_LIMITS.min_examples == AZURE_LIMITS.min_examples == 10
    assert OPENAI_LIMITS.new_jobs_end == date(2027, 1, 6) and AZURE_LIMITS.new_jobs_end is None
    assert model_limits("openai", "gpt-4o-mini-2024-07-18").max_tokens_per_example == 65_536  # type: ignore[union-attr]
    assert model_limits("azure", "gpt-4.1-nano-2025-04-14").max_tokens_per_example == 32_768  # type: ignore[union-attr]


def test_which_models_take_images_depends_on_the_provider() -> None:
    takes = {(p, m): row.takes_images for p in ("openai", "azure") for m, row in limits_for(p).models.items()}
    assert takes[("openai", "gpt-4o-2024-08-06")] and takes[("azure", "gpt-4o-2024-08-06")]
    assert not takes[("openai", "gpt-4o-mini-2024-07-18")]
    # Azure trains gpt-4.1 on images; OpenAI's vision fine-tuning names only gpt-4o.
    assert takes[("azure", "gpt-4.1-2025-04-14")] and not takes[("openai", "gpt-4.1-2025-04-14")]


def test_fine_tuned_names_resolve_to_their_base_model() -> None:
    assert base_model("ft:gpt-4o-2024-08-06:codesight:shop:abc123") == "gpt-4o-2024-08-06"
    assert base_model("gpt-4o-mini-2024-07-18.ft-0123abcd-shop") == "gpt-4o-mini-2024-07-18"
    assert base_model("gpt-4.1-2025-04-14") == "gpt-4.1-2025-04-14"
    assert model_limits("openai", "ft:gpt-4o-2024-08-06:codesight::abc") is OPENAI_LIMITS.models["gpt-4o-2024-08-06"]


def test_unknown_providers_and_models() -> None:
    with pytest.raises(ValueError, match="ft_provider: unknown provider 'vertex'"):
        limits_for("vertex")
    assert model_limits("openai", "gpt-2") is None
    assert limits_for("compatible") is COMPATIBLE_LIMITS and COMPATIBLE_LIMITS.models == {}


def test_eleven_images_pass_azure_and_fail_openai_in_the_validator() -> None:
    eleven = example(images=11)
    assert [e.key for e in validate_example(eleven, limits_for("openai"))] == ["too_many_images"]
    assert validate_example(eleven, limits_for("azure")) == []
    assert validate_example(example(images=10), limits_for("openai")) == []


# --- dataset checks -------------------------------------------------------------------------------


def test_too_few_examples_read_as_the_api_reports_them() -> None:
    problems = check_dataset([example()] * 9, "openai", "gpt-4o-2024-08-06")
    assert [(p.code, p.message, p.param) for p in problems] == [
        ("invalid_n_examples", "Training file has 9 example(s), but must have at least 10 examples", "training_file")
    ]
    assert check_dataset([example()] * 10, "openai", "gpt-4o-2024-08-06") == []
    assert check_dataset([example()], "openai", "gpt-4o-2024-08-06", param="validation_file") == []


def test_images_on_a_text_only_model() -> None:
    rows = [example()] * 10 + [example(images=1)]
    problems = check_dataset(rows, "openai", "gpt-4o-mini-2024-07-18")
    assert [p.code for p in problems] == ["invalid_training_file"]
    assert "line 11" in problems[0].message and "does not take images" in problems[0].message
    assert check_dataset(rows, "openai", "gpt-4o-2024-08-06") == []


def test_examples_over_the_token_limit_and_files_over_the_size_limit() -> None:
    long = example(text="buy " * 40_000)  # one token per word: over 32,768
    problems = check_dataset([example()] * 10 + [long], "azure", "gpt-4.1-nano-2025-04-14", size_bytes=600 * 2**20)
    assert {p.code for p in problems} == {"invalid_training_file", "file_too_large"}
    assert any("32768-token limit" in p.message and "line 11" in p.message for p in problems)
    assert check_dataset([example()] * 10 + [long], "azure", "gpt-4.1-2025-04-14") == []


def test_unknown_models_only_get_file_level_checks() -> None:
    assert check_dataset([example(images=3)] * 10, "compatible", "llama-vision") == []


# --- provider status ------------------------------------------------------------------------------


def test_openai_refuses_new_jobs_from_2027_01_06_and_says_where_to_go() -> None:
    status = provider_status("openai", date(2027, 1, 6))
    assert not status.accepts_new_jobs
    assert status.warning is not None and "2027-01-06" in status.warning
    assert "https://developers.openai.com/api/docs/deprecations" in status.warning
    assert status.suggestion is not None and "azure" in status.suggestion and "compatible" in status.suggestion


def test_openai_warns_before_the_cutoff() -> None:
    status = provider_status("openai", date(2026, 11, 26))
    assert status.accepts_new_jobs
    assert status.warning is not None and "in 41 days" in status.warning
    assert status.suggestion is not None


def test_azure_and_compatible_take_jobs_without_warnings() -> None:
    for provider in ("azure", "compatible"):
        status = provider_status(provider, date(2027, 6, 1), "gpt-4o-2024-08-06")
        assert status.accepts_new_jobs and status.warning is None and status.suggestion is None


def test_a_base_model_shutdown_is_announced_then_refused() -> None:
    before = provider_status("openai", date(2026, 12, 1), "gpt-4o-mini-2024-07-18")
    assert before.accepts_new_jobs and before.warning is not None and "2027-01-14" in before.warning
    after = provider_status("openai", date(2027, 1, 14), "ft:gpt-4o-mini-2024-07-18:codesight::abc")
    assert not after.accepts_new_jobs and after.warning is not None and "shut down" in after.warning


# --- token estimate -------------------------------------------------------------------------------


def test_token_estimate_counts_text_framing_and_images() -> None:
    plain = estimate_tokens(example(text="abcd" * 100))
    texts = ["system", "You shop.", "user", "abcd" * 100, "assistant", '{"action": "click"}']
    assert plain == 3 + 3 * 3 + sum(text_tokens(text) for text in texts)  # priming, framing, roles and contents
    assert SCREENSHOT_IMAGE_TOKENS == 1105  # 1440x900 -> 1229x768: 3 x 2 tiles of 170, plus 85
    assert estimate_tokens(example(text="abcd" * 100, images=2)) == plain + 2 * SCREENSHOT_IMAGE_TOKENS
    assert estimate_tokens(example(text="abcd" * 100, images=1, detail="low")) == plain + 85
    assert estimate_tokens("not an example") == 0


def test_tool_calls_and_definitions_cost_tokens() -> None:
    calls = example()
    calls["messages"][2] = {
        "role": "assistant",
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "click", "arguments": '{"s": "#a"}'}}],
    }
    with_tools = {**calls, "tools": [{"type": "function", "function": {"name": "click"}}]}
    assert estimate_tokens(with_tools) > estimate_tokens(calls) > estimate_tokens({"messages": calls["messages"][:2]})


@given(text=st.text(max_size=400), extra=st.text(min_size=1, max_size=200), images=st.integers(0, 12))
def test_token_estimate_grows_with_content(text: str, extra: str, images: int) -> None:
    base = example(text=text, images=images)
    longer = copy.deepcopy(base)
    longer["messages"].append({"role": "user", "content": extra})
    assert estimate_tokens(longer) > estimate_tokens(base) >= images * SCREENSHOT_IMAGE_TOKENS
    assert image_count(base) == images
