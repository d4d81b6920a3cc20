"""The built page and its assets, and what the app says when the map is not built."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from civictwin.app import create_app
from civictwin.config import Settings
from civictwin.store import open_store
from civictwin.web import api as web_api


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    """A client of an app over an empty SQLite store."""
    store = open_store(f"sqlite:///{tmp_path / 'twin.db'}")
    settings = Settings(database_url="sqlite://", auth_required=False)
    return TestClient(create_app(settings, store=store))


def fake_build(root: Path) -> Path:
    root.mkdir()
    (root / "index.html").write_text("<!doctype html><title>map</title>")
    (root / "app.js").write_text("console.log('map')")
    return root


def test_the_page_and_its_assets_are_served(client: TestClient, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web_api, "STATIC", fake_build(tmp_path / "static"))
    page = client.get("/web/")
    assert page.status_code == 200 and "<title>map</title>" in page.text
    assert page.headers["content-type"].startswith("text/html")
    script = client.get("/web/static/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    moved = client.get("/web", follow_redirects=False)
    assert moved.status_code == 308 and moved.headers["location"] == "/web/"
    assert client.get("/web/static/nothing.js").status_code == 404
    (tmp_path / "secret.txt").write_text("no")
    assert client.get("/web/static/../secret.txt").status_code == 404
    assert client.get("/web/static/%2e%2e/secret.txt").status_code == 404


def test_an_unbuilt_map_says_how_to_build_it(client: TestClient, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web_api, "STATIC", tmp_path / "missing")
    page = client.get("/web/")
    assert page.status_code == 503
    assert "npm ci && npm run build" in page.text and "scripts/demo" in page.text
    # The data endpoints do not need the build.
    assert client.get("/web/map").status_code == 200
    assert client.get("/tiles/districts/0/0/0.mvt").status_code == 200
