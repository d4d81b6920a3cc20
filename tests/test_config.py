"""Settings: typed, documented, read from a file and the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from civictwin.config import Settings, load_settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_documents_every_setting() -> None:
    text = README.read_text("utf-8")
    for name in Settings.model_fields:
        assert f"`{name}`" in text and f"`CIVICTWIN_{name.upper()}`" in text, name


def test_file_then_environment_then_overrides(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "twin.toml"
    config.write_text('port = 2000\nhost = "0.0.0.0"\ncontext_allowlist = "a.org, b.org"\n')
    monkeypatch.setenv("CIVICTWIN_PORT", "3000")
    settings = load_settings(config, max_limit=50)
    assert (settings.host, settings.port, settings.max_limit) == ("0.0.0.0", 3000, 50)
    assert settings.context_allowlist == ("a.org", "b.org")


def test_bad_values_and_unknown_keys_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "twin.toml"
    config.write_text("prot = 1\n")
    with pytest.raises(ValidationError, match="prot"):
        load_settings(config)
    with pytest.raises(ValidationError, match="port"):
        load_settings(None, port=0)


def test_lists_come_comma_separated_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIVICTWIN_NOTIFICATION_ALLOWLIST", "127.0.0.1, 10.0.0.0/8")
    monkeypatch.setenv("CIVICTWIN_MQTT_MAPPINGS", "meters.toml,air.toml")
    monkeypatch.setenv("CIVICTWIN_CONTEXT_ALLOWLIST", "a.org")
    settings = load_settings(None)
    assert settings.notification_allowlist == ("127.0.0.1", "10.0.0.0/8")
    assert settings.mqtt_mappings == ("meters.toml", "air.toml")
    assert settings.context_allowlist == ("a.org",)
    assert Settings.model_fields["notification_allowlist"].default == ()  # public only
