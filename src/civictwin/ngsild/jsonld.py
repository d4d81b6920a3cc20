"""JSON-LD @context resolution and term expansion/compaction for NGSI-LD.

NGSI-LD only needs the term-to-IRI part of JSON-LD: attribute names, entity types and
VocabProperty values are expanded on the way in and compacted on the way out. Contexts are
processed into a flat term table; the core context is always applied last, so its terms win.
Contexts come from the package (core, civictwin), from the broker's own store (hosted via
/jsonldContexts), or — only when the operator allows it — from an allow-listed remote host.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import httpx

from civictwin.errors import BadRequestData, InvalidRequest, LdContextNotAvailable

NGSI_LD = "https://uri.etsi.org/ngsi-ld/"
DEFAULT_VOCAB = NGSI_LD + "default-context/"
CORE_CONTEXT_URL = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
CIVICTWIN_CONTEXT_URL = "https://civictwin.org/ns/civictwin-context.jsonld"
CORE_ALIASES = frozenset(
    ["https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"]
    + [f"https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.{n}.jsonld" for n in range(3, 9)]
)
BUNDLED = {CORE_CONTEXT_URL: "ngsi-ld-core-context-v1.8.jsonld",
           CIVICTWIN_CONTEXT_URL: "civictwin-context.jsonld"}
MAX_DEPTH = 8
MAX_ENTRIES = 64

RawContext = str | dict[str, Any] | list[Any] | None
ContextLoader = Callable[[str], dict[str, Any] | None]


@dataclass
class Context:
    """A processed @context: a flat table from terms to IRIs, and its inverse."""

    terms: dict[str, str] = field(default_factory=dict)
    vocab: str = DEFAULT_VOCAB
    inverse: dict[str, str] = field(default_factory=dict)
    prefixes: list[tuple[str, str]] = field(default_factory=list)

    def expand(self, term: str) -> str:
        """Return the IRI a term, compact IRI or absolute IRI stands for."""
        iri = self.terms.get(term)
        if iri is not None:
            return iri
        prefix, sep, suffix = term.partition(":")
        if sep:
            if not suffix.startswith("//") and prefix in self.terms:
                return self.terms[prefix] + suffix
            return term
        return self.vocab + term

    def compact(self, iri: str) -> str:
        """Return the shortest name for an IRI under this context."""
        term = self.inverse.get(iri)
        if term is not None:
            return term
        if iri.startswith(self.vocab) and ":" not in iri[len(self.vocab):]:
            rest = iri[len(self.vocab):]
            if rest and rest not in self.terms:
                return rest
        for prefix, base in self.prefixes:
            if iri.startswith(base) and len(iri) > len(base):
                return f"{prefix}:{iri[len(base):]}"
        return iri


def bundled_context(url: str) -> dict[str, Any] | None:
    """Return a context document shipped with civictwin, or None."""
    name = BUNDLED.get(CORE_CONTEXT_URL if url in CORE_ALIASES else url)
    if name is None:
        return None
    text = resources.files("civictwin.ngsild").joinpath("contexts", name).read_text("utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc


class ContextResolver:
    """Turn raw @context values into processed Contexts, with a bounded cache."""

    def __init__(self, loader: ContextLoader, cache_size: int = 256) -> None:
        self._loader = loader
        self._cache: OrderedDict[str, Context] = OrderedDict()
        self._cache_size = cache_size
        self.core = self.resolve(None)

    def resolve(self, raw: RawContext) -> Context:
        """Process a @context value (URL, object, list or None) with the core context last."""
        key = json.dumps(raw, sort_keys=True)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        definitions: dict[str, Any] = {}
        self._collect(raw, definitions, depth=0)
        core = bundled_context(CORE_CONTEXT_URL)
        assert core is not None
        self._collect(core["@context"], definitions, depth=0)
        context = _build(definitions)
        self._cache[key] = context
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return context

    def forget(self, url: str) -> None:
        """Drop cached results that may depend on a context document that changed."""
        self._cache = OrderedDict((k, v) for k, v in self._cache.items() if url not in k)

    def _collect(self, raw: Any, into: dict[str, Any], depth: int) -> None:
        if depth > MAX_DEPTH:
            raise BadRequestData("@context nests remote contexts too deeply")
        if raw is None:
            return
        if isinstance(raw, list):
            if len(raw) > MAX_ENTRIES:
                raise BadRequestData(f"@context has more than {MAX_ENTRIES} entries")
            for item in raw:
                self._collect(item, into, depth)
        elif isinstance(raw, str):
            self._collect(self._document(raw)["@context"], into, depth + 1)
        elif isinstance(raw, dict):
            for term, definition in raw.items():
                if term == "@import" and isinstance(definition, str):
                    self._collect(self._document(definition)["@context"], into, depth + 1)
                elif term == "@vocab" or not term.startswith("@"):
                    into[term] = definition
        else:
            raise BadRequestData("@context must be a URL, an object or a list of them")

    def _document(self, url: str) -> dict[str, Any]:
        doc = bundled_context(url) or self._loader(url)
        if doc is None:
            raise LdContextNotAvailable(
                f"@context {url} is not known to this broker and fetching remote contexts is "
                "not allowed here; host it with POST /ngsi-ld/v1/jsonldContexts or ask the "
                "operator to allow its host"
            )
        if not isinstance(doc, dict) or "@context" not in doc:
            raise LdContextNotAvailable(f"@context {url} is not a JSON-LD context document")
        return doc


def _build(definitions: dict[str, Any]) -> Context:
    context = Context()
    vocab = definitions.get("@vocab")
    if isinstance(vocab, str):
        context.vocab = vocab
    raw = {t: d for t, d in definitions.items() if not t.startswith("@")}
    for term, definition in raw.items():
        iri = _definition_iri(term, definition, raw, context.vocab, 0)
        if iri is not None and not iri.startswith("@"):
            context.terms[term] = iri
    for term in sorted(context.terms, key=lambda t: (len(t), t), reverse=True):
        context.inverse[context.terms[term]] = term
    context.prefixes = sorted(
        ((t, iri) for t, iri in context.terms.items()
         if iri.endswith(("/", "#")) and ":" not in t),
        key=lambda p: len(p[1]), reverse=True,
    )
    return context


def _definition_iri(
    term: str, definition: Any, raw: dict[str, Any], vocab: str, depth: int
) -> str | None:
    if depth > 8:
        return None
    if isinstance(definition, dict):
        definition = definition.get("@id", vocab + term if ":" not in term else term)
    if not isinstance(definition, str):
        return None
    prefix, sep, suffix = definition.partition(":")
    if sep and not suffix.startswith("//") and prefix in raw and prefix != term:
        base = _definition_iri(prefix, raw[prefix], raw, vocab, depth + 1)
        return None if base is None else base + suffix
    if not sep and not definition.startswith("@") and definition in raw and definition != term:
        return _definition_iri(definition, raw[definition], raw, vocab, depth + 1)
    return definition


def remote_loader(
    allowed: bool, allowlist: tuple[str, ...], max_bytes: int, stored: ContextLoader
) -> ContextLoader:
    """Return a loader that reads stored contexts and, if allowed, fetches from allowed hosts."""

    def load(url: str) -> dict[str, Any] | None:
        doc = stored(url)
        if doc is not None or not allowed:
            return doc
        return _fetch(url, allowlist, max_bytes)

    return load


def _fetch(url: str, allowlist: tuple[str, ...], max_bytes: int) -> dict[str, Any]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or host not in allowlist:
        raise LdContextNotAvailable(f"@context host {host!r} is not on the operator's allow-list")
    _refuse_private(host)
    try:
        with httpx.stream("GET", url, timeout=5.0, follow_redirects=False,
                          headers={"Accept": "application/ld+json, application/json"}) as resp:
            resp.raise_for_status()
            body = b""
            for chunk in resp.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise LdContextNotAvailable(f"@context {url} is larger than {max_bytes} bytes")
        doc: dict[str, Any] = json.loads(body)
    except (httpx.HTTPError, ValueError) as exc:
        raise LdContextNotAvailable(f"@context {url} could not be fetched: {exc}") from exc
    return doc


def _refuse_private(host: str) -> None:
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError as exc:
        raise LdContextNotAvailable(f"@context host {host!r} does not resolve") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address.is_private or address.is_loopback or address.is_link_local or \
                address.is_reserved or address.is_multicast or address.is_unspecified:
            raise LdContextNotAvailable(f"@context host {host!r} is a private address")


def parse_link_header(value: str | None) -> str | None:
    """Return the @context URL from an NGSI-LD Link header, or None."""
    if not value:
        return None
    for link in value.split(","):
        url_part, *params = link.split(";")
        url_part = url_part.strip()
        rel = [p.strip() for p in params if p.strip().startswith("rel=")]
        if rel and rel[0][4:].strip("\"'") == "http://www.w3.org/ns/json-ld#context":
            if not (url_part.startswith("<") and url_part.endswith(">")):
                raise InvalidRequest("Link header: the context URL must be in angle brackets")
            return url_part[1:-1]
    return None


def link_header(url: str) -> str:
    """Return the Link header that points a client to the @context of a response."""
    return f'<{url}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
