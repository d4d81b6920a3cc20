"""Compile query-language ASTs (ngsild/qlang.py) to SQLAlchemy Core boolean expressions.

Every leaf becomes a correlated EXISTS over `attribute_values` (or `entity_types`) for the
entity whose primary key is `entity_pk`; values are always bound parameters. Because an
attribute instance is stored as one row per list member, "any member matches" needs no
special case. `!=` follows clause 4.9: the target exists and some instance (one datasetId)
has no member equal to the value, so a value of another JSON type counts as unequal.

JSON paths (`a[b.c]`) read inside the `json` column; a type test guards every cast so that a
string where a number was expected neither matches nor makes PostgreSQL fail a cast. The
type tests are small constructs compiled per dialect (SQLite JSON1 / PostgreSQL JSONB).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    and_,
    bindparam,
    case,
    literal_column,
    not_,
    or_,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import NamedFromClause

from civictwin.ngsild.qlang import (
    And,
    AttrPath,
    Comparison,
    Exists,
    Node,
    Or,
    Scalar,
    ScopeMatch,
    TypeName,
    ValueList,
    ValueRange,
)
from civictwin.store.schema import attribute_values, entity_types

SCOPE_IRI = "https://uri.etsi.org/ngsi-ld/scope"

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
# Clause 4.9: a Relationship compared with anything but == or != does not match.
_RELATIONSHIP_KINDS = ("Relationship", "ListRelationship")
# Text shapes of the store's dateTime, date and time values, as LIKE patterns.
_TEMPORAL_SHAPES = (
    (
        re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z"),
        "____-__-__T__:__:__%",
    ),
    (re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"), "____-__-__"),
    (re.compile(r"[0-9]{2}:[0-9]{2}.*"), "__:__%"),
)


class _JsonTest(FunctionElement[bool]):
    """Base of the JSON type tests: `(json_column, path)`, true when the test holds."""

    type = Boolean()
    inherit_cache = True


class _JsonIsNumber(_JsonTest):
    """The JSON value at the path is a number."""

    name = "json_is_number"
    inherit_cache = True


class _JsonIsString(_JsonTest):
    """The JSON value at the path is a string."""

    name = "json_is_string"
    inherit_cache = True


class _JsonIsBoolean(_JsonTest):
    """The JSON value at the path is true or false."""

    name = "json_is_boolean"
    inherit_cache = True


class _JsonIsDefined(_JsonTest):
    """The path leads to a JSON value (possibly null)."""

    name = "json_is_defined"
    inherit_cache = True


_SQLITE_TESTS = {
    "json_is_number": "IN ('integer', 'real')",
    "json_is_string": "= 'text'",
    "json_is_boolean": "IN ('true', 'false')",
    "json_is_defined": "IS NOT NULL",
}
_POSTGRES_TESTS = {
    "json_is_number": "= 'number'",
    "json_is_string": "= 'string'",
    "json_is_boolean": "= 'boolean'",
    "json_is_defined": "IS NOT NULL",
}


@compiles(_JsonTest, "sqlite")
def _json_test_sqlite(element: _JsonTest, compiler: SQLCompiler, **kw: Any) -> str:
    """Render a JSON type test with SQLite's json_type()."""
    column, path = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"(json_type({column}, {path}) {_SQLITE_TESTS[element.name]})"


@compiles(_JsonTest, "postgresql")
def _json_test_postgresql(element: _JsonTest, compiler: SQLCompiler, **kw: Any) -> str:
    """Render a JSON type test with PostgreSQL's jsonb_typeof()."""
    column, path = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"(jsonb_typeof({column} #> CAST({path} AS TEXT[])) {_POSTGRES_TESTS[element.name]})"


@dataclass(frozen=True)
class _Target:
    """The typed values one attribute_values row offers to a predicate."""

    num: ColumnElement[Any]
    text: ColumnElement[Any]
    flag: ColumnElement[Any]
    defined: ColumnElement[bool] | None = None

    def column(self, value: Scalar) -> ColumnElement[Any]:
        """Return the value of the JSON type of `value`."""
        column: ColumnElement[Any] = getattr(self, _family(value))
        return column


def _family(value: Scalar) -> str:
    """Return which value column holds values of the JSON type of `value`."""
    if isinstance(value, bool):
        return "flag"
    return "num" if isinstance(value, int | float) else "text"


def _target(av: NamedFromClause, json_path: tuple[str, ...]) -> _Target:
    """Return the values a row offers, inside its JSON object when a path is given."""
    if not json_path or json_path == ("*",):
        return _Target(av.c.num, av.c.text, av.c.flag)
    doc = av.c.json
    value = doc[json_path]

    def path() -> Any:
        return bindparam(None, list(json_path), type_=JSON.JSONPathType())

    return _Target(
        num=case((_JsonIsNumber(doc, path()), value.as_float())),
        text=case((_JsonIsString(doc, path()), value.as_string())),
        flag=case((_JsonIsBoolean(doc, path()), value.as_boolean())),
        defined=_JsonIsDefined(doc, path()),
    )


def _bound(value: Scalar) -> Scalar:
    """Return the value to bind: numbers as floats, as the `num` column holds them."""
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _temporal_shape(text: ColumnElement[Any], value: Scalar) -> ColumnElement[bool] | None:
    """Return a LIKE test that keeps ordering of a dateTime/date/time to values of that shape."""
    if isinstance(value, str):
        for pattern, shape in _TEMPORAL_SHAPES:
            if pattern.fullmatch(value):
                return text.like(shape)
    return None


def _order(
    av: NamedFromClause, column: ColumnElement[Any], low: Scalar, test: ColumnElement[bool]
) -> ColumnElement[bool]:
    """Restrict an ordering test to non-relationships and to values of the literal's shape."""
    tests = [av.c.kind.not_in(_RELATIONSHIP_KINDS), test]
    shape = _temporal_shape(column, low)
    if shape is not None:
        tests.append(shape)
    return and_(*tests)


def _predicate(op: str, value: Any, av: NamedFromClause, target: _Target) -> ColumnElement[bool]:
    """Return the test one row must pass for `op value` to hold."""
    if op in ("~=", "!~="):
        matched = target.text.regexp_match(str(value))
        if op == "!~=":
            matched = and_(target.text.is_not(None), not_(matched))
        return and_(av.c.kind.not_in(_RELATIONSHIP_KINDS), matched)
    if isinstance(value, ValueRange):
        column = target.column(value.low)
        between = column.between(_bound(value.low), _bound(value.high))
        return _order(av, column, value.low, between)
    if isinstance(value, ValueList):
        groups: dict[str, list[Scalar]] = {}
        for item in value.values:
            groups.setdefault(_family(item), []).append(_bound(item))
        return or_(*(getattr(target, family).in_(items) for family, items in groups.items()))
    column = target.column(value)
    test = _COMPARE[op](column, _bound(value))
    return test if op == "==" else _order(av, column, value, test)


def _rows(
    path: AttrPath, entity_pk: ColumnElement[Any]
) -> tuple[NamedFromClause, _Target, list[Any]]:
    """Return an alias of attribute_values, its target and the tests selecting the path."""
    av = attribute_values.alias()
    target = _target(av, path.json_path)
    tests: list[Any] = [av.c.entity_pk == entity_pk, av.c.name == path.attr]
    tests.append(av.c.sub == (path.sub or ""))
    if target.defined is not None:
        tests.append(target.defined)
    return av, target, tests


def _exists(av: NamedFromClause, tests: list[Any]) -> ColumnElement[bool]:
    """Return EXISTS over the rows of `av` that pass all tests."""
    return select(literal_column("1")).where(*tests).correlate_except(av).exists()


def _unequal(path: AttrPath, value: Any, entity_pk: ColumnElement[Any]) -> ColumnElement[bool]:
    """Return the `!=` test: some instance of the target has no member equal to the value."""
    av, _, tests = _rows(path, entity_pk)
    member = attribute_values.alias()
    same_instance = [
        member.c.entity_pk == av.c.entity_pk,
        member.c.name == av.c.name,
        member.c.sub == av.c.sub,
        member.c.dataset_id == av.c.dataset_id,
    ]
    equal = _predicate("==", value, member, _target(member, path.json_path))
    return _exists(av, [*tests, not_(_exists(member, [*same_instance, equal]))])


def _term(node: Node, entity_pk: ColumnElement[Any]) -> ColumnElement[bool]:
    """Compile one q leaf (Exists or Comparison)."""
    if isinstance(node, Exists):
        av, _, tests = _rows(node.path, entity_pk)
        return _exists(av, tests)
    if not isinstance(node, Comparison):
        raise ValueError(f"not a q term: {node!r}")
    if node.op == "!=":
        return _unequal(node.path, node.value, entity_pk)
    av, target, tests = _rows(node.path, entity_pk)
    return _exists(av, [*tests, _predicate(node.op, node.value, av, target)])


def _combine(node: Node, leaf: Callable[[Node], ColumnElement[bool]]) -> ColumnElement[bool]:
    """Compile And/Or nodes recursively and the rest with `leaf`."""
    if isinstance(node, And):
        return and_(*(_combine(item, leaf) for item in node.items))
    if isinstance(node, Or):
        return or_(*(_combine(item, leaf) for item in node.items))
    return leaf(node)


def compile_q(node: Node, entity_pk: ColumnElement[Any]) -> ColumnElement[bool]:
    """Return a boolean SQL expression true for the entities the `q` AST selects."""
    return _combine(node, lambda leaf: _term(leaf, entity_pk))


def _type_term(node: Node, entity_pk: ColumnElement[Any]) -> ColumnElement[bool]:
    """Compile one TypeName leaf."""
    if not isinstance(node, TypeName):
        raise ValueError(f"not an entity type: {node!r}")
    et = entity_types.alias()
    return _exists(et, [et.c.entity_pk == entity_pk, et.c.type == node.iri])


def compile_types(node: Node, entity_pk: ColumnElement[Any]) -> ColumnElement[bool]:
    """Return a boolean SQL expression true for the entities a type selection selects."""
    return _combine(node, lambda leaf: _type_term(leaf, entity_pk))


def _scope_test(text: ColumnElement[Any], pattern: str) -> ColumnElement[bool]:
    """Return the test a stored scope must pass to match one scope pattern."""
    if pattern == "/#":
        return text.is_not(None)
    below = pattern.endswith("/#")
    base = pattern[:-2] if below else pattern
    levels = base.split("/")
    if "+" not in levels:
        exact = text == base
        return or_(exact, text.startswith(base + "/", autoescape=True)) if below else exact
    regex = "/".join("[^/]+" if level == "+" else re.escape(level) for level in levels)
    return text.regexp_match("^" + regex + ("(/.*)?" if below else "") + "$")


def _scope_term(node: Node, entity_pk: ColumnElement[Any]) -> ColumnElement[bool]:
    """Compile one ScopeMatch leaf."""
    if not isinstance(node, ScopeMatch):
        raise ValueError(f"not a scope pattern: {node!r}")
    av = attribute_values.alias()
    tests = [av.c.entity_pk == entity_pk, av.c.name == SCOPE_IRI, av.c.sub == ""]
    return _exists(av, [*tests, _scope_test(av.c.text, node.pattern)])


def compile_scope(node: Node, entity_pk: ColumnElement[Any]) -> ColumnElement[bool]:
    """Return a boolean SQL expression true for the entities a scopeQ AST selects."""
    return _combine(node, lambda leaf: _scope_term(leaf, entity_pk))
