"""A bad CODESIGHT_* variable stops every command with one line naming it, not a traceback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from lab.config import get_settings
from web.cli import main


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CODESIGHT_PORT", "eighty", "CODESIGHT_PORT: Input should be a valid integer"),
        ("CODESIGHT_WEBHOOK_URLS", '["https://hooks.example/x"]', "CODESIGHT_WEBHOOK_SECRET: required"),
        ("CODESIGHT_WEBHOOK_EVENTS", '["session.exploded"]', "CODESIGHT_WEBHOOK_EVENTS: unknown session.exploded"),
    ],
)
def test_a_bad_setting_is_named_in_one_line(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    result = CliRunner().invoke(main, ["webhooks", "secret"])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: configuration: {message}")
    assert "Traceback" not in result.output


def test_webhooks_secret_prints_a_standard_webhooks_secret() -> None:
    import base64

    result = CliRunner().invoke(main, ["webhooks", "secret"])
    secret = result.output.strip()
    assert result.exit_code == 0 and secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
