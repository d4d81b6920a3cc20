"""Run compiled q, type and scope queries on real SQLite and PostgreSQL databases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from civictwin.ngsild.qlang import (
    ScopeMatch,
    TypeName,
    parse_q,
    parse_scope_q,
    parse_type_selection,
)
from civictwin.store.qsql import SCOPE_IRI, compile_q, compile_scope, compile_types
from civictwin.store.schema import attribute_values, entities, entity_types, metadata
from tests.services import require_postgres_url

EX = "https://ex.org/"
OBSERVED_AT = "https://uri.etsi.org/ngsi-ld/observedAt"


def expand(name: str) -> str:
    """Expand a short name the way a test @context would."""
    return OBSERVED_AT if name == "observedAt" else EX + name


# (attribute, sub-attribute, datasetId, kind, value): one attribute_values row each.
Row = tuple[str, str | None, str, str, Any]
GARDENS = {"city": "Berlin", "street": "Ulrich Strasse", "floors": 3, "open": True}
CITY: dict[str, tuple[list[str], list[Row]]] = {
    "e1": (
        ["Building"],
        [
            ("temperature", None, "@none", "Property", 20),
            ("temperature", "observedAt", "@none", "Property", "2017-12-24T12:00:00.000000Z"),
            ("brandName", None, "@none", "Property", "Mercedes"),
            ("isParked", None, "@none", "Relationship", "urn:ngsi-ld:OffStreetParking:Downtown1"),
            ("address", None, "@none", "Property", {**GARDENS, "geo": {"lat": 52.5}}),
            ("tags", None, "@none", "ListProperty", "red"),
            ("tags", None, "@none", "ListProperty", "blue"),
            ("active", None, "@none", "Property", True),
            ("name", None, "@none", "LanguageProperty", "rouge"),
            ("name", None, "@none", "LanguageProperty", "red"),
            ("scope", None, "@none", "Property", "/Madrid/Gardens/ParqueNorte"),
        ],
    ),
    "e2": (
        ["House"],
        [
            ("temperature", None, "@none", "Property", 25.5),
            ("temperature", "observedAt", "@none", "Property", "2018-01-01T00:00:00.000000Z"),
            ("brandName", None, "@none", "Property", "Audi"),
            (
                "address",
                None,
                "@none",
                "Property",
                {"city": "Paris", "floors": "three", "open": False},
            ),
            ("tags", None, "@none", "ListProperty", "green"),
            ("active", None, "@none", "Property", False),
            ("location", None, "@none", "GeoProperty", None),
            ("scope", None, "@none", "Property", "/Madrid/Sights/ParqueNorte"),
        ],
    ),
    "e3": (
        ["Building", "House"],
        [
            ("temperature", None, "@none", "Property", "hot"),
            ("tags", None, "@none", "ListProperty", None),
            ("speed", None, "@none", "Property", 60),
            ("rpm", None, "@none", "Property", 2000),
            ("isParked", None, "@none", "Relationship", "urn:ngsi-ld:OffStreetParking:Other"),
            ("scope", None, "@none", "Property", "/CompanyA"),
            ("scope", None, "@none", "Property", "/Madrid/Districts"),
        ],
    ),
    "e4": (
        ["Vehicle"],
        [
            ("temperature", None, "@none", "Property", 10),
            ("temperature", None, "urn:ngsi-ld:Dataset:1", "Property", 30),
            ("speed", None, "@none", "Property", 40),
            ("rpm", None, "@none", "Property", 3500),
            ("brandName", None, "@none", "Property", "Mercedes"),
            ("scope", None, "@none", "Property", "/Maxrid/Y"),
        ],
    ),
    "e5": (["Vehicle"], []),
}


def value_columns(value: Any) -> dict[str, Any]:
    """Split a value into the num/text/flag/json columns as the store does."""
    columns: dict[str, Any] = {"num": None, "text": None, "flag": None, "json": None}
    if isinstance(value, bool):
        columns["flag"] = value
    elif isinstance(value, int | float):
        columns["num"] = float(value)
    elif isinstance(value, str):
        columns["text"] = value
    elif value is not None:
        columns["json"] = value
    return columns


def load_city(engine: sa.Engine) -> None:
    """Create the schema and insert the test entities by hand."""
    metadata.create_all(engine)
    with engine.begin() as conn:
        for entity_id, (types, rows) in CITY.items():
            pk = conn.execute(
                entities.insert()
                .values(tenant="", id=f"urn:{entity_id}", doc="{}", created_at="", modified_at="")
                .returning(entities.c.pk)
            ).scalar_one()
            for entity_type in types:
                conn.execute(
                    entity_types.insert().values(entity_pk=pk, type=EX + entity_type, tenant="")
                )
            for name, sub, dataset_id, kind, value in rows:
                iri = SCOPE_IRI if name == "scope" else EX + name
                conn.execute(
                    attribute_values.insert().values(
                        entity_pk=pk,
                        tenant="",
                        name=iri,
                        sub="" if sub is None else expand(sub),
                        dataset_id=dataset_id,
                        kind=kind,
                        **value_columns(value),
                    )
                )


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def engine(request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    """Yield an engine on a database holding the test city: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        lite = sa.create_engine("sqlite://")
        load_city(lite)
        yield lite
        lite.dispose()
        return
    url = require_postgres_url()
    if url is None:
        pytest.skip("CIVICTWIN_TEST_DATABASE_URL is not set: no PostgreSQL to run on")
    base = sa.create_engine(sa.make_url(url).set(drivername="postgresql+psycopg"))
    schema = f"test_qsql_{uuid.uuid4().hex[:12]}"
    with base.begin() as conn:
        conn.execute(sa.schema.CreateSchema(schema))
    try:
        scoped = base.execution_options(schema_translate_map={None: schema})
        load_city(scoped)
        yield scoped
    finally:
        with base.begin() as conn:
            conn.execute(sa.schema.DropSchema(schema, cascade=True))
        base.dispose()


def select_ids(engine: sa.Engine, condition: sa.ColumnElement[bool]) -> set[str]:
    """Return the short ids of the entities for which the condition holds."""
    with engine.connect() as conn:
        found = conn.scalars(sa.select(entities.c.id).where(condition))
        return {entity_id.removeprefix("urn:") for entity_id in found}


def q_ids(engine: sa.Engine, q: str) -> set[str]:
    """Return the short ids of the entities a q query selects."""
    return select_ids(engine, compile_q(parse_q(q, expand), entities.c.pk))


Q_CASES = [
    # existence, equality and ordering on numbers; multi-instance attributes match on any instance
    ("temperature", {"e1", "e2", "e3", "e4"}),
    ("temperature==20", {"e1"}),
    ("temperature==20.0", {"e1"}),
    ("temperature>20", {"e2", "e4"}),
    ("temperature>=20;temperature<=25", {"e1", "e4"}),
    ("temperature==10..20", {"e1", "e4"}),
    ("temperature==20,25.5", {"e1", "e2"}),
    # != : the target exists and some instance differs; another JSON type counts as unequal
    ("temperature!=20", {"e2", "e3", "e4"}),
    ("temperature!=10..20", {"e2", "e3", "e4"}),
    ("temperature!=10,20,25.5", {"e3", "e4"}),
    ("nothing!=1", set()),
    # strings
    ('temperature=="hot"', {"e3"}),
    ('brandName=="Mercedes"', {"e1", "e4"}),
    ('brandName!="Mercedes"', {"e2"}),
    ('brandName>"B"', {"e1", "e4"}),
    ("brandName==\"x' OR '1'='1\"", set()),
    # regular expressions only look at strings
    ("temperature~=^h", {"e3"}),
    ("temperature!~=^h", set()),
    ("brandName!~=^Merc", {"e2"}),
    ('brandName~="(?i)MERCEDES"', {"e1", "e4"}),
    ("brandName~=(Au|Mer)", {"e1", "e2", "e4"}),
    # relationships: == and != only
    ("isParked==urn:ngsi-ld:OffStreetParking:Downtown1", {"e1"}),
    ('isParked=="urn:ngsi-ld:OffStreetParking:Downtown1"', {"e1"}),
    ("isParked!=urn:ngsi-ld:OffStreetParking:Downtown1", {"e3"}),
    ('isParked>"a"', set()),
    ("isParked~=Downtown", set()),
    # sub-attributes and dateTimes
    ("temperature.observedAt", {"e1", "e2"}),
    ("temperature.observedAt>=2017-12-24T12:00:00Z", {"e1", "e2"}),
    ("temperature.observedAt>2017-12-24T13:00:00+01:00", {"e2"}),
    ("temperature.observedAt==2017-12-24T12:00:00Z..2017-12-31T00:00:00Z", {"e1"}),
    ("temperature.observedAt<2018-01-01", set()),
    ("brandName.observedAt", set()),
    # JSON paths inside compound values
    ('address[city]=="Berlin"', {"e1"}),
    ("address[city]", {"e1", "e2"}),
    ("address[zip]", set()),
    ("address[floors]>2", {"e1"}),
    ("address[floors]==3", {"e1"}),
    ('address[floors]=="three"', {"e2"}),
    ("address[open]==true", {"e1"}),
    ("address[open]==false", {"e2"}),
    ('address[city]!="Berlin"', {"e2"}),
    ("address[city]~=^B", {"e1"}),
    ('address[city]=="Berlin","Paris"', {"e1", "e2"}),
    ("address[geo.lat]>50", {"e1"}),
    ("address[geo]", {"e1"}),
    ("address[geo.lat.x]", set()),
    # list members, booleans, languages, value-less attributes
    ('tags=="red"', {"e1"}),
    ('tags!="red"', {"e2", "e3"}),
    ('tags=="green","red"', {"e1", "e2"}),
    ("tags", {"e1", "e2", "e3"}),
    ("active==true", {"e1"}),
    ("active==false", {"e2"}),
    ("active!=true", {"e2"}),
    ('name[*]=="rouge"', {"e1"}),
    ("location", {"e2"}),
    # logic and precedence (clause 4.9 example 6 and its unparenthesized form)
    ('(speed>50|rpm>3000);brandName=="Mercedes"', {"e4"}),
    ('speed>50|rpm>3000;brandName=="Mercedes"', {"e3", "e4"}),
    ("(temperature>=20;temperature<=25)|rpm<=2000", {"e1", "e3", "e4"}),
]


@pytest.mark.parametrize(("q", "expected"), Q_CASES)
def test_q(engine: sa.Engine, q: str, expected: set[str]) -> None:
    """Select exactly the expected entities for each q query."""
    assert q_ids(engine, q) == expected


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        ("Building", {"e1", "e3"}),
        ("Building|House", {"e1", "e2", "e3"}),
        ("Building,Vehicle", {"e1", "e3", "e4", "e5"}),
        ("(Building;House)", {"e3"}),
        ("(Building;House)|Vehicle", {"e3", "e4", "e5"}),
        ("Unknown", set()),
    ],
)
def test_types(engine: sa.Engine, types: str, expected: set[str]) -> None:
    """Select exactly the entities of the expected types."""
    node = parse_type_selection(types, expand)
    assert select_ids(engine, compile_types(node, entities.c.pk)) == expected


@pytest.mark.parametrize(
    ("scope_q", "expected"),
    [
        ("/Madrid/#", {"e1", "e2", "e3"}),
        ("/Madrid/+/ParqueNorte", {"e1", "e2"}),
        ("/+/+/ParqueNorte/#", {"e1", "e2"}),
        ("/Madrid/+", {"e3"}),
        ("/#", {"e1", "e2", "e3", "e4"}),
        ("(/Madrid/Districts;/CompanyA)", {"e3"}),
        ("(/Madrid/Districts;/CompanyA)|/Madrid/Gardens/#", {"e1", "e3"}),
        ("/Madrid/Gardens", set()),
        ("/Madrid/Gardens/#", {"e1"}),
        ("/CompanyA,/Maxrid/Y", {"e3", "e4"}),
        ("/Ma_rid/#", set()),
        ("/Maxrid/#", {"e4"}),
    ],
)
def test_scopes(engine: sa.Engine, scope_q: str, expected: set[str]) -> None:
    """Select exactly the entities in the expected scopes."""
    node = parse_scope_q(scope_q)
    assert select_ids(engine, compile_scope(node, entities.c.pk)) == expected


def test_scope_patterns_are_escaped(engine: sa.Engine) -> None:
    """Treat LIKE wildcards in a hand-built pattern as plain characters."""
    node = ScopeMatch("/Ma%/#")
    assert select_ids(engine, compile_scope(node, entities.c.pk)) == set()


def test_filters_combine(engine: sa.Engine) -> None:
    """Combine type, scope and q conditions in one statement."""
    condition = sa.and_(
        compile_types(parse_type_selection("Building|Vehicle", expand), entities.c.pk),
        compile_scope(parse_scope_q("/Madrid/#"), entities.c.pk),
        compile_q(parse_q("speed|tags", expand), entities.c.pk),
    )
    assert select_ids(engine, condition) == {"e1", "e3"}


@pytest.mark.parametrize(
    "dialect", [sqlite.dialect(), sa.make_url("postgresql+psycopg://").get_dialect()()]
)
def test_values_are_bound_parameters(dialect: sa.Dialect) -> None:
    """Keep every user-supplied value out of the SQL text."""
    q = 'brandName=="x\' OR 1=1 --";address[evil]~=DROP_TABLE;t==1..2;u==3,"evil";sc'
    statement = sa.select(entities.c.id).where(
        sa.and_(
            compile_q(parse_q(q, expand), entities.c.pk),
            compile_scope(parse_scope_q("/Evil_/+/#"), entities.c.pk),
            compile_types(TypeName("Evil'Type"), entities.c.pk),
        )
    )
    sql = str(statement.compile(dialect=dialect))
    for fragment in ("OR 1=1", "evil", "DROP_TABLE", "Evil", "brandName", EX):
        assert fragment not in sql


def test_wrong_node_kinds_are_rejected() -> None:
    """Refuse to compile a leaf of another language."""
    with pytest.raises(ValueError, match="not a q term"):
        compile_q(TypeName("x"), entities.c.pk)
    with pytest.raises(ValueError, match="not an entity type"):
        compile_types(ScopeMatch("/a"), entities.c.pk)
    with pytest.raises(ValueError, match="not a scope pattern"):
        compile_scope(TypeName("x"), entities.c.pk)
