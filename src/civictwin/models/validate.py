"""Check entities of the Smart Data Models types against their rules on the way in.

Entities are checked as stored: names expanded to IRIs. A type or attribute is recognised by
the IRI its short name expands to under the civictwin @context or under the core context
alone (a client that sends no @context), so both spellings are held to the same rules.
Entities of other types pass untouched.

An entity written whole (create, replace, upsert) must have every attribute its type
requires. A partial write (append, update, merge, batch upsert in update mode, as ingestion
uses) may build an entity up from several sources, so it is held to the value rules only, and
may not remove a required attribute the entity had.
"""

from __future__ import annotations

from dataclasses import dataclass

from civictwin.errors import BadRequestData
from civictwin.models.catalogue import MODELS, EntityModel
from civictwin.models.rules import Rule
from civictwin.ngsild.jsonld import CIVICTWIN_CONTEXT_URL, ContextResolver
from civictwin.store.base import Entity


@dataclass(frozen=True)
class _Compiled:
    model: EntityModel
    rules: dict[str, tuple[str, Rule]]  # attribute IRI -> (short name, rule)
    required: tuple[tuple[str, frozenset[str]], ...]  # (short name, its IRIs)


class EntityModels:
    """The SDM rules by expanded type IRI; `check` raises BadRequestData on a violation."""

    def __init__(self, resolver: ContextResolver, enabled: bool = True) -> None:
        self.enabled = enabled
        spellings = (resolver.resolve(CIVICTWIN_CONTEXT_URL), resolver.core)
        self._by_type: dict[str, _Compiled] = {}
        for model in MODELS:
            def iris(term: str) -> frozenset[str]:
                return frozenset(ctx.expand(term) for ctx in spellings)

            rules = {iri: (name, rule) for name, rule in model.attributes.items()
                     for iri in iris(name)}
            compiled = _Compiled(model, rules, tuple((n, iris(n)) for n in model.required))
            for iri in iris(model.type):
                self._by_type[iri] = compiled

    def check(self, entity: Entity) -> None:
        """Check an entity written whole: values and required attributes."""
        if not self.enabled:
            return
        for compiled in self._models(entity):
            self._values(entity, compiled)
            for name, iris in compiled.required:
                if iris.isdisjoint(entity.attrs):
                    raise _refused(entity, compiled, name, "is required")

    def check_change(self, before: Entity, after: Entity | None) -> None:
        """Check the result of a partial write: values, and no required attribute removed."""
        if not self.enabled or after is None:
            return
        for compiled in self._models(after):
            self._values(after, compiled)
            for name, iris in compiled.required:
                if iris.isdisjoint(after.attrs) and not iris.isdisjoint(before.attrs):
                    raise _refused(after, compiled, name, "is required and may not be removed")

    def _models(self, entity: Entity) -> list[_Compiled]:
        return [self._by_type[t] for t in entity.types if t in self._by_type]

    @staticmethod
    def _values(entity: Entity, compiled: _Compiled) -> None:
        rules = compiled.rules
        for iri, instances in entity.attrs.items():
            found = rules.get(iri)
            if found is None:
                continue
            name, rule = found
            for inst in instances:
                reason = rule.check(inst)
                if reason is not None:
                    dataset = inst.get("datasetId")
                    where = f"{name} (datasetId {dataset})" if dataset else name
                    raise _refused(entity, compiled, where, reason)


def _refused(entity: Entity, compiled: _Compiled, attribute: str, reason: str) -> BadRequestData:
    model = compiled.model
    return BadRequestData(f"entity {entity.id}: attribute {attribute!r} {reason} "
                          f"(Smart Data Models {model.type}, {model.source})")
