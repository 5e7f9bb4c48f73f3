"""`codesight validate FILE.jsonl`: counts per error key, the provider's limits, tokens; non-zero exit on errors."""

from __future__ import annotations

import base64
import copy
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from PIL import Image

from web.cli import main


def png_url() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "white").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


IMAGE = {"type": "image_url", "image_url": {"url": png_url()}}


def example(images: int = 1) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "You shop on the web by calling tools."},
            {"role": "user", "content": [{"type": "text", "text": "Add the kettle to the cart"}] + [IMAGE] * images},
            {"role": "assistant", "content": '{"action": "click", "selector": "#add-9"}'},
        ]
    }


def mutated(change: Callable[[dict[str, Any]], object]) -> str:
    broken = copy.deepcopy(example())
    change(broken)
    return json.dumps(broken)


# One line per kind of format error, as the API and the cookbook name them.
BROKEN_LINES: dict[str, str] = {
    "invalid_json": '{"messages": [',
    "data_type": json.dumps([1, 2]),
    "missing_messages_list": json.dumps({"prompt": "x"}),
    "message_missing_key": mutated(lambda e: e["messages"][0].pop("role")),
    "message_unrecognized_key": mutated(lambda e: e["messages"][0].update(colour="red")),
    "unrecognized_role": mutated(lambda e: e["messages"][0].update(role="robot")),
    "missing_content": mutated(lambda e: e["messages"][2].update(content="")),
    "example_missing_assistant_message": mutated(lambda e: e["messages"].pop(2)),
    "example_unrecognized_key": mutated(lambda e: e.update(temperature=1)),
    "invalid_weight": mutated(lambda e: e["messages"][1].update(weight=1)),
    "image_not_in_user_message": mutated(lambda e: e["messages"][2].update(content=[IMAGE])),
    "invalid_image_url": mutated(lambda e: e["messages"][1]["content"][1]["image_url"].update(url="ftp://x/y.png")),
    "invalid_content_part": mutated(lambda e: e["messages"][1]["content"].append({"type": "audio", "audio": "x"})),
    "too_many_images": json.dumps(example(images=11)),
}


def jsonl(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def validate(path: Path, *options: str) -> Result:
    return CliRunner().invoke(main, ["validate", str(path), *options], catch_exceptions=False)


def valid_lines(n: int = 12) -> list[str]:
    return [json.dumps(example())] * n


@pytest.mark.parametrize("key", sorted(BROKEN_LINES))
def test_each_kind_of_format_error_is_counted_and_fails(tmp_path: Path, key: str) -> None:
    lines = valid_lines()
    lines[4:4] = [BROKEN_LINES[key], BROKEN_LINES[key]]
    result = validate(jsonl(tmp_path, lines), "--provider", "openai", "--model", "gpt-4o-2024-08-06")
    assert result.exit_code == 1, result.output
    assert "14 examples, 2 invalid; errors by key:" in result.output
    assert f"  {key}: 2" in result.output
    assert f"line 5: {key}" in result.output and f"line 6: {key}" in result.output


def test_a_clean_file_passes_with_token_counts_and_the_billing_estimate(tmp_path: Path) -> None:
    result = validate(jsonl(tmp_path, valid_lines()), "--provider", "openai", "--model", "gpt-4o-2024-08-06")
    assert result.exit_code == 0, result.output
    assert "checked for openai / gpt-4o-2024-08-06" in result.output
    assert "12 examples, no errors found" in result.output
    assert "tokens counted with tiktoken's o200k_base" in result.output
    assert "x 8 epochs" in result.output  # the cookbook's default for 12 examples: ceil(100 / 12)


def test_eleven_images_in_an_example_pass_azure_and_fail_openai(tmp_path: Path) -> None:
    path = jsonl(tmp_path, [*valid_lines(), json.dumps(example(images=11))])
    azure = validate(path, "--provider", "azure", "--model", "gpt-4o-2024-08-06")
    assert azure.exit_code == 0, azure.output
    openai = validate(path, "--provider", "openai", "--model", "gpt-4o-2024-08-06")
    assert openai.exit_code == 1 and "too_many_images: 1" in openai.output
    assert "11 images; the limit is 10" in openai.output


def test_limits_of_the_provider_and_model_fail_the_file(tmp_path: Path) -> None:
    few = validate(jsonl(tmp_path, valid_lines(3)), "--provider", "openai", "--model", "gpt-4o-2024-08-06")
    assert few.exit_code == 1 and "invalid_n_examples" in few.output and "at least 10 examples" in few.output
    text_only = validate(jsonl(tmp_path, valid_lines()), "--provider", "openai", "--model", "gpt-4o-mini-2024-07-18")
    assert text_only.exit_code == 1 and "does not take images" in text_only.output


def test_an_unknown_provider_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["validate", str(jsonl(tmp_path, valid_lines())), "--provider", "acme"])
    assert result.exit_code == 2 and "unknown provider 'acme'" in result.output
