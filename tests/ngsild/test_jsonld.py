"""@context processing: bundled contexts, precedence of the core context, remote refusal."""

from __future__ import annotations

from typing import Any

import pytest

from civictwin.errors import InvalidRequest, LdContextNotAvailable
from civictwin.ngsild.jsonld import (
    CIVICTWIN_CONTEXT_URL,
    CORE_CONTEXT_URL,
    ContextResolver,
    parse_link_header,
    remote_loader,
)

NGSI = "https://uri.etsi.org/ngsi-ld/"


def resolver(loader: Any = None) -> ContextResolver:
    return ContextResolver(loader or (lambda url: None))


def test_core_terms_and_default_vocab() -> None:
    core = resolver().core
    assert core.expand("location") == NGSI + "location"
    assert core.expand("observedAt") == NGSI + "observedAt"
    assert core.expand("temperature") == NGSI + "default-context/temperature"
    assert core.compact(NGSI + "default-context/temperature") == "temperature"
    assert core.expand("https://example.org/x") == "https://example.org/x"


def test_user_terms_prefixes_and_core_precedence() -> None:
    ctx = resolver().resolve({"ex": "https://ex.org/ns#", "temp": "ex:temperature",
                              "location": "https://ex.org/not-allowed",
                              "full": {"@id": "https://ex.org/full", "@type": "@id"}})
    assert ctx.expand("temp") == "https://ex.org/ns#temperature"
    assert ctx.expand("ex:other") == "https://ex.org/ns#other"
    assert ctx.expand("full") == "https://ex.org/full"
    assert ctx.expand("location") == NGSI + "location"  # core terms are protected
    assert ctx.compact("https://ex.org/ns#temperature") == "temp"
    assert ctx.compact("https://ex.org/ns#nameless") == "ex:nameless"


def test_bundled_contexts_resolve_without_a_network() -> None:
    ctx = resolver().resolve([CIVICTWIN_CONTEXT_URL, CORE_CONTEXT_URL])
    assert ctx.expand("Building") == "https://smartdatamodels.org/dataModel.Building/Building"
    assert resolver().resolve("https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld")\
        .expand("location") == NGSI + "location"


def test_unknown_remote_context_is_refused_by_default() -> None:
    with pytest.raises(LdContextNotAvailable, match="not allowed"):
        resolver().resolve("https://example.org/context.jsonld")


def test_remote_fetch_obeys_allow_list_and_refuses_private_addresses() -> None:
    stored = {"https://hosted.example/c.jsonld": {"@context": {"a": "https://a.org/"}}}
    loader = remote_loader(True, ("localhost", "127.0.0.1"), 10_000, stored.get)
    ctx = resolver(loader).resolve("https://hosted.example/c.jsonld")
    assert ctx.expand("a") == "https://a.org/"
    with pytest.raises(LdContextNotAvailable, match="allow-list"):
        resolver(loader).resolve("https://elsewhere.example/c.jsonld")
    for url in ("http://localhost:1/c.jsonld", "http://127.0.0.1:1/c.jsonld"):
        with pytest.raises(LdContextNotAvailable, match="private address"):
            resolver(loader).resolve(url)
    with pytest.raises(LdContextNotAvailable, match="allow-list"):
        resolver(loader).resolve("file:///etc/passwd")


def test_context_nesting_and_size_are_bounded() -> None:
    with pytest.raises(Exception, match="more than"):
        resolver().resolve([{"a": "https://a/"}] * 100)
    chain = {f"https://c/{n}": {"@context": f"https://c/{n + 1}"} for n in range(20)}
    with pytest.raises(Exception, match="deeply"):
        resolver(chain.get).resolve("https://c/0")


def test_link_header_parsing() -> None:
    rel = 'rel="http://www.w3.org/ns/json-ld#context"'
    assert parse_link_header(f"<https://x/c.jsonld>; {rel}; type=\"application/ld+json\"") == \
        "https://x/c.jsonld"
    assert parse_link_header('<https://x/other>; rel="next"') is None
    with pytest.raises(InvalidRequest):
        parse_link_header(f"https://x/c.jsonld; {rel}")
