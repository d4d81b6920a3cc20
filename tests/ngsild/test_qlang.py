"""Tests of the q, scopeQ and type selection parsers (ETSI GS CIM 009 clauses 4.9, 4.17, 4.19)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from civictwin.errors import BadRequestData, CivicTwinError, TooComplexQuery
from civictwin.ngsild.qlang import (
    MAX_NESTING,
    And,
    AttrPath,
    Comparison,
    Exists,
    Node,
    Or,
    ScopeMatch,
    TypeName,
    ValueList,
    ValueRange,
    parse_q,
    parse_scope_q,
    parse_type_selection,
    unparse,
)

EX = "https://ex.org/"
OBSERVED_AT = "https://uri.etsi.org/ngsi-ld/observedAt"


def same(name: str) -> str:
    """Return the name unchanged."""
    return name


def expand(name: str) -> str:
    """Expand a short name the way a test @context would."""
    return OBSERVED_AT if name == "observedAt" else EX + name


def compact(iri: str) -> str:
    """Undo `expand`."""
    return "observedAt" if iri == OBSERVED_AT else iri.removeprefix(EX)


def attr(name: str, sub: str | None = None, *json_path: str) -> AttrPath:
    """Return the path of an attribute expanded by `expand`."""
    return AttrPath(EX + name, None if sub is None else expand(sub), json_path)


def cmp(path: AttrPath, op: str, value: object) -> Comparison:
    """Build a Comparison without repeating the cast at every call site."""
    return Comparison(path, op, value)  # type: ignore[arg-type]


# Clause 4.9 examples 0-12 (example 11's jsonKeys and 12's expandValues are other parameters).
SPEC_Q_EXAMPLES = [
    ("temperature", Exists(attr("temperature"))),
    ("temperature==20", cmp(attr("temperature"), "==", 20)),
    ('brandName!="Mercedes"', cmp(attr("brandName"), "!=", "Mercedes")),
    (
        'isParked=="urn:ngsi-ld:OffStreetParking:Downtown1"',
        cmp(attr("isParked"), "==", "urn:ngsi-ld:OffStreetParking:Downtown1"),
    ),
    (
        'speed>50;brandName!="Mercedes"',
        And((cmp(attr("speed"), ">", 50), cmp(attr("brandName"), "!=", "Mercedes"))),
    ),
    ("isMonitoredBy", Exists(attr("isMonitoredBy"))),
    (
        '((speed>50|rpm>3000);brandName=="Mercedes")',
        And(
            (
                Or((cmp(attr("speed"), ">", 50), cmp(attr("rpm"), ">", 3000))),
                cmp(attr("brandName"), "==", "Mercedes"),
            )
        ),
    ),
    (
        "(temperature>=20;temperature<=25)|capacity<=10",
        Or(
            (
                And((cmp(attr("temperature"), ">=", 20), cmp(attr("temperature"), "<=", 25))),
                cmp(attr("capacity"), "<=", 10),
            )
        ),
    ),
    (
        "temperature.observedAt>=2017-12-24T12:00:00Z",
        cmp(attr("temperature", "observedAt"), ">=", "2017-12-24T12:00:00.000000Z"),
    ),
    ('address[city]=="Berlin"', cmp(attr("address", None, "city"), "==", "Berlin")),
    (
        "sensor.rawdata[airquality.particulate]==40",
        cmp(attr("sensor", "rawdata", "airquality", "particulate"), "==", 40),
    ),
    (
        'parkingTickets[value]=="Overstay 60 minutes"',
        cmp(attr("parkingTickets", None, "value"), "==", "Overstay 60 minutes"),
    ),
    ("gender==Male", cmp(attr("gender"), "==", "Male")),
    # Values from the operator descriptions of clause 4.9.
    ('color=="red"', cmp(attr("color"), "==", "red")),
    ('color=="black","red"', cmp(attr("color"), "==", ValueList(("black", "red")))),
    ('color!= "black", "red"', cmp(attr("color"), "!=", ValueList(("black", "red")))),
    ("temperature==10..20", cmp(attr("temperature"), "==", ValueRange(10, 20))),
    ("temperature!=10..20", cmp(attr("temperature"), "!=", ValueRange(10, 20))),
    ('color[en]=="red"', cmp(attr("color", None, "en"), "==", "red")),
    ('color[*]!="red"', cmp(attr("color", None, "*"), "!=", "red")),
    ('color=="http://example/red"', cmp(attr("color"), "==", "http://example/red")),
]


@pytest.mark.parametrize(("text", "expected"), SPEC_Q_EXAMPLES)
def test_spec_q_examples(text: str, expected: Node) -> None:
    """Parse the examples of clause 4.9 into the expected AST."""
    assert parse_q(text, expand) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a==-1.5e3", cmp(attr("a"), "==", -1500.0)),
        ("a==0", cmp(attr("a"), "==", 0)),
        ("a>=-2", cmp(attr("a"), ">=", -2)),
        ("a<1E+2", cmp(attr("a"), "<", 100.0)),
        ("a==-2..-1.5", cmp(attr("a"), "==", ValueRange(-2, -1.5))),
        ("a==true", cmp(attr("a"), "==", True)),
        ("a!=false", cmp(attr("a"), "!=", False)),
        ("a==trueish", cmp(attr("a"), "==", "trueish")),
        ('a=="tab\\t\\"q\\" \\u00e9"', cmp(attr("a"), "==", 'tab\t"q" é')),
        ('a==1,"x",true', cmp(attr("a"), "==", ValueList((1, "x", True)))),
        ("a==urn:x:1,urn:x:2", cmp(attr("a"), "==", ValueList(("urn:x:1", "urn:x:2")))),
        ("a==2017-12-24", cmp(attr("a"), "==", "2017-12-24")),
        ("a<12:30:00", cmp(attr("a"), "<", "12:30:00")),
        ("a==2017-12-24..2018-01-01", cmp(attr("a"), "==", ValueRange("2017-12-24", "2018-01-01"))),
        # dateTimes are normalized to the store's UTC form.
        ("a>2017-12-24T13:00:00+01:00", cmp(attr("a"), ">", "2017-12-24T12:00:00.000000Z")),
        ("a>2017-12-24T12:00", cmp(attr("a"), ">", "2017-12-24T12:00:00.000000Z")),
        ("a>2017-12-24T12:00:00.25Z", cmp(attr("a"), ">", "2017-12-24T12:00:00.250000Z")),
        ("a[b][c]==1", cmp(attr("a", None, "b", "c"), "==", 1)),
        ("a.b[c.d]", Exists(attr("a", "b", "c", "d"))),
        ("ex:temp>1", cmp(AttrPath(EX + "ex:temp"), ">", 1)),
        ("température>1", cmp(attr("température"), ">", 1)),
        (
            " a == 1 ; ( b | c ) ",
            And((cmp(attr("a"), "==", 1), Or((Exists(attr("b")), Exists(attr("c")))))),
        ),
        ("a;(b;c)", And((Exists(attr("a")), Exists(attr("b")), Exists(attr("c"))))),
        (
            "a|b;c|d",
            Or((Exists(attr("a")), And((Exists(attr("b")), Exists(attr("c")))), Exists(attr("d")))),
        ),
        ("((a))", Exists(attr("a"))),
    ],
)
def test_q_values_and_paths(text: str, expected: Node) -> None:
    """Parse numbers, strings, booleans, dates, URIs, ranges, lists and paths."""
    assert parse_q(text, expand) == expected


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("name~=^Mer.*", "^Mer.*"),
        ("name~=(foo|bar)", "(foo|bar)"),
        ("name~=[;|)]x", "[;|)]x"),
        ("name~=a\\)b", "a\\)b"),
        ('name~="a|b;c\\\\)"', "a|b;c\\)"),
        ("name~=(?i)mercedes", "(?i)mercedes"),
    ],
)
def test_regex_extent(text: str, pattern: str) -> None:
    """Read an unquoted regex up to `;`, `|` or `)` outside its brackets, or a quoted one."""
    assert parse_q(text, expand) == cmp(attr("name"), "~=", pattern)


def test_regex_stops_at_logical_operators() -> None:
    """End an unquoted regex at `;`, `|` and a closing parenthesis of the query."""
    node = parse_q("(a~=x.*;b!~=(y|z))|c", expand)
    assert node == Or(
        (
            And((cmp(attr("a"), "~=", "x.*"), cmp(attr("b"), "!~=", "(y|z)"))),
            Exists(attr("c")),
        )
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "q: expected an attribute name, found end of input at position 0"),
        ("a>=", "q: expected a value after '>=', found end of input at position 3"),
        ("temperature>= ;x", "q: expected a value after '>=', found ';' at position 14"),
        ("a=1", "found '=' at position 1"),
        ("a>true", "q: expected a number, quoted string, dateTime, date or time after '>'"),
        ("a>urn:x:y", "after '>' at position 2"),
        ("a==20x", "q: unexpected 'x' in a value at position 5"),
        ("a==1..b", "after '..' at position 6"),
        ('a==1.."b"', "range bounds must both be numbers or both be strings at position 3"),
        (
            "a==true..false",
            "q: range bounds must be numbers, strings, dateTimes, dates or times at position 3",
        ),
        ('a=="x', "q: unterminated string at position 3"),
        ('a=="\\x"', "q: invalid string"),
        ('a=="\\ud800"', "q: invalid string (lone surrogate) at position 3"),
        ('a=="\\u0000"', "NUL"),
        ("a==1e999", "q: invalid number '1e999' (out of range) at position 3"),
        ("a==2017-13-01", "q: invalid date '2017-13-01'"),
        ("a>2017-12-24T25:00:00Z", "q: invalid datetime"),
        ("a~=", "q: expected a regular expression after '~=', found end of input at position 3"),
        ("a~=x(", "q: invalid regular expression (missing ), unterminated subpattern)"),
        ("a~=a{99999999999}", "q: invalid regular expression"),
        ("a.b.c", "q: paths deeper than one sub-attribute (a.b.c) are not supported at position 3"),
        ("a.", "q: expected a sub-attribute name after '.', found end of input at position 2"),
        ("a[", "q: expected a member name after '['"),
        ("a[b", "q: expected '.' or ']' in the value path, found end of input at position 3"),
        ("a[*][b]", "q: '[*]' must be the whole value path at position 4"),
        ("a{b}==1", "q: linked-entity paths ('{') are not supported at position 1"),
        ("(a", "q: expected ';', '|' or ')', found end of input at position 2"),
        ("a)", "q: expected ';', '|' or end of input, found ')' at position 1"),
        ("a;;b", "q: expected an attribute name, found ';' at position 2"),
        ("a|", "q: expected an attribute name, found end of input at position 2"),
        ("1a", "q: expected an attribute name, found '1' at position 0"),
        ("a,b", "found ','"),
        ("a\x00", "q: NUL character not allowed at position 1"),
    ],
)
def test_q_syntax_errors(text: str, message: str) -> None:
    """Reject malformed queries with a BadRequestData naming position and expectation."""
    with pytest.raises(BadRequestData) as caught:
        parse_q(text, expand)
    assert message in caught.value.detail
    assert caught.value.status == 400


def test_regex_length_limit() -> None:
    """Accept a 999-character regex and reject a 1000-character one."""
    assert parse_q('a~="' + "b" * 999 + '"', expand) == cmp(attr("a"), "~=", "b" * 999)
    with pytest.raises(BadRequestData, match="longer than 999"):
        parse_q('a~="' + "b" * 1000 + '"', expand)


def test_too_complex_queries() -> None:
    """Raise TooComplexQuery for over-long text and over-deep nesting."""
    with pytest.raises(TooComplexQuery):
        parse_q("a|" * 2048 + "a", expand)
    deep = "(" * MAX_NESTING + "a" + ")" * MAX_NESTING
    assert parse_q(deep, expand) == Exists(attr("a"))
    with pytest.raises(TooComplexQuery, match="nested"):
        parse_q("(" + deep + ")", expand)
    with pytest.raises(TooComplexQuery):
        parse_scope_q("(" * 40 + "/a" + ")" * 40)


def test_expand_failures() -> None:
    """Pass on the broker's own errors from `expand` and wrap anything else."""

    def refuse(name: str) -> str:
        raise BadRequestData(f"unknown term {name}")

    def crash(name: str) -> str:
        raise KeyError(name)

    with pytest.raises(BadRequestData, match="unknown term a"):
        parse_q("a==1", refuse)
    with pytest.raises(BadRequestData, match="q: cannot expand 'b' at position 3"):
        parse_q("a;(b)", lambda n: crash(n) if n == "b" else n)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/Madrid", ScopeMatch("/Madrid")),
        ("/Madrid/Gardens/#", ScopeMatch("/Madrid/Gardens/#")),
        ("/Madrid/+/ParqueNorte", ScopeMatch("/Madrid/+/ParqueNorte")),
        (
            "(/Madrid/Districts;/CompanyA)",
            And((ScopeMatch("/Madrid/Districts"), ScopeMatch("/CompanyA"))),
        ),
        (
            "(/Madrid/Districts;/CompanyA)|/CompanyB",
            Or(
                (
                    And((ScopeMatch("/Madrid/Districts"), ScopeMatch("/CompanyA"))),
                    ScopeMatch("/CompanyB"),
                )
            ),
        ),
        (
            "(/Madrid/Districts;/CompanyA),/CompanyB",
            Or(
                (
                    And((ScopeMatch("/Madrid/Districts"), ScopeMatch("/CompanyA"))),
                    ScopeMatch("/CompanyB"),
                )
            ),
        ),
        ("/#", ScopeMatch("/#")),
        ("/a_1/+/#", ScopeMatch("/a_1/+/#")),
    ],
)
def test_spec_scope_examples(text: str, expected: Node) -> None:
    """Parse the examples of clause 4.19 (example 5 with the leading '/' it lacks)."""
    assert parse_scope_q(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Madrid", "scopeQ: expected '/' to start a scope, found 'M' at position 0"),
        ("/a/", "scopeQ: expected a scope level (a name or '+') after '/', found end of input"),
        ("/a//b", "at position 3"),
        ("/a/#/b", "scopeQ: expected ';', '|', ',' or end of input, found '/' at position 4"),
        ("/1a", "found '1' at position 1"),
        ("/a|", "scopeQ: expected '/' to start a scope, found end of input at position 3"),
    ],
)
def test_scope_syntax_errors(text: str, message: str) -> None:
    """Reject malformed scope queries precisely."""
    with pytest.raises(BadRequestData) as caught:
        parse_scope_q(text)
    assert message in caught.value.detail


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Building|House", Or((TypeName(EX + "Building"), TypeName(EX + "House")))),
        ("Building,House", Or((TypeName(EX + "Building"), TypeName(EX + "House")))),
        ("(Home;Vehicle)", And((TypeName(EX + "Home"), TypeName(EX + "Vehicle")))),
        (
            "(Home;Vehicle)|Motorhome",
            Or(
                (And((TypeName(EX + "Home"), TypeName(EX + "Vehicle"))), TypeName(EX + "Motorhome"))
            ),
        ),
        (
            "(Home;Vehicle),Motorhome",
            Or(
                (And((TypeName(EX + "Home"), TypeName(EX + "Vehicle"))), TypeName(EX + "Motorhome"))
            ),
        ),
        ("ex:Building", TypeName(EX + "ex:Building")),
    ],
)
def test_spec_type_examples(text: str, expected: Node) -> None:
    """Parse the examples of clause 4.17."""
    assert parse_type_selection(text, expand) == expected


def test_type_uris_are_passed_to_expand() -> None:
    """Hand full type URIs to `expand` like short names."""
    assert parse_type_selection("https://ex.org/T|U", same) == Or(
        (TypeName("https://ex.org/T"), TypeName("U"))
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "type: expected an entity type, found end of input at position 0"),
        ("A||B", "type: expected an entity type, found '|' at position 2"),
        ("1A", "type: invalid entity type '1A' at position 0"),
        ("(A;B", "type: expected ';', '|', ',' or ')', found end of input at position 4"),
    ],
)
def test_type_syntax_errors(text: str, message: str) -> None:
    """Reject malformed type selections precisely."""
    with pytest.raises(BadRequestData) as caught:
        parse_type_selection(text, expand)
    assert message in caught.value.detail


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        (
            '((speed>50|rpm>3000);brandName=="Mercedes")',
            '(speed>50|rpm>3000);brandName=="Mercedes"',
        ),
        ("a[b][c]==Male", 'a[b.c]=="Male"'),
        ("t.observedAt>2017-12-24T13:00:00+01:00", 't.observedAt>"2017-12-24T12:00:00.000000Z"'),
        ("a~=(x|y)", 'a~="(x|y)"'),
        ("a == 1 , 2.5 , true", "a==1,2.5,true"),
    ],
)
def test_unparse_is_canonical(text: str, canonical: str) -> None:
    """Print parsed queries in one canonical spelling, compacting IRIs."""
    assert unparse(parse_q(text, expand), compact) == canonical


def test_unparse_type_and_scope_keep_required_parentheses() -> None:
    """Parenthesize conjunctions of types and scopes as clauses 4.17 and 4.19 require."""
    assert unparse(parse_type_selection("(A;B),C", expand), compact) == "(A;B)|C"
    assert unparse(parse_scope_q("(/a;/b/#),/c")) == "(/a;/b/#)|/c"


# Hypothesis: generated ASTs survive unparse/parse; arbitrary text never escapes the parser.

NAMES = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{0,6}", fullmatch=True) | st.sampled_from(
    ["température", "名前", "x_1"]
)
PATHS = st.builds(
    AttrPath,
    NAMES,
    st.none() | NAMES,
    st.lists(NAMES, max_size=3).map(tuple) | st.just(("*",)),
)
NUMBERS = st.integers(-(10**20), 10**20) | st.floats(allow_nan=False, allow_infinity=False)
STRINGS = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
COMPARABLE = NUMBERS | STRINGS
SCALARS = COMPARABLE | st.booleans()
REGEXES = st.lists(
    st.sampled_from(
        ["a", "é", ".", ".*", "\\d+", "(x|y)", "[;|)]", "^", "$", "\\)", ";", "|", '"']
    ),
    min_size=1,
    max_size=6,
).map("".join)
Q_LEAVES = (
    st.builds(Exists, PATHS)
    | st.builds(Comparison, PATHS, st.sampled_from([">", ">=", "<", "<="]), COMPARABLE)
    | st.builds(
        Comparison,
        PATHS,
        st.sampled_from(["==", "!="]),
        SCALARS
        | st.builds(ValueRange, NUMBERS, NUMBERS)
        | st.builds(ValueRange, STRINGS, STRINGS)
        | st.lists(SCALARS, min_size=2, max_size=4).map(lambda v: ValueList(tuple(v))),
    )
    | st.builds(Comparison, PATHS, st.sampled_from(["~=", "!~="]), REGEXES)
)
SCOPES = st.just(ScopeMatch("/#")) | st.builds(
    lambda levels, below: ScopeMatch("/" + "/".join(levels) + ("/#" if below else "")),
    st.lists(
        st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,4}", fullmatch=True) | st.just("+"),
        min_size=1,
        max_size=4,
    ),
    st.booleans(),
)
TYPES = st.builds(TypeName, NAMES)


def normalized(node: Node) -> Node:
    """Flatten nested And/Or of the same kind, as the parser does."""
    if not isinstance(node, And | Or):
        return node
    items: list[Node] = []
    for item in map(normalized, node.items):
        items.extend(item.items if type(item) is type(node) else (item,))
    return type(node)(tuple(items))


def combined(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    """Return And and Or nodes over two or three children."""
    return st.lists(children, min_size=2, max_size=3).flatmap(
        lambda items: st.sampled_from([And(tuple(items)), Or(tuple(items))])
    )


def trees(leaves: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    """Return normalized ASTs over the given leaves."""
    tree: st.SearchStrategy[Node] = st.recursive(leaves, combined, max_leaves=8)
    return tree.map(normalized)


@given(trees(Q_LEAVES))
def test_q_round_trip(node: Node) -> None:
    """Parse the unparsed text of any q AST back to the same AST."""
    assert parse_q(unparse(node), same) == node


@given(trees(Q_LEAVES))
def test_q_round_trip_with_iris(node: Node) -> None:
    """Round-trip through IRIs: parse(unparse(parse(x))) == parse(x) with a real expansion."""
    parsed = parse_q(unparse(node), expand)
    assert parse_q(unparse(parsed, compact), expand) == parsed


@given(trees(SCOPES))
def test_scope_round_trip(node: Node) -> None:
    """Parse the unparsed text of any scopeQ AST back to the same AST."""
    assert parse_scope_q(unparse(node)) == node


@given(trees(TYPES))
def test_type_round_trip(node: Node) -> None:
    """Parse the unparsed text of any type selection AST back to the same AST."""
    assert parse_type_selection(unparse(node), same) == node


QUERY_CHARS = 'abcT.[]()*"\\;|,=!<>~0123456789-+:Z #/e\t'
ANY_TEXT = st.text(max_size=200) | st.text(QUERY_CHARS, max_size=200)


@given(ANY_TEXT)
def test_parse_q_only_raises_query_errors(text: str) -> None:
    """Return an AST or raise BadRequestData/TooComplexQuery, and round-trip what parses."""
    try:
        node = parse_q(text, same)
    except (BadRequestData, TooComplexQuery):
        return
    assert isinstance(node, Comparison | Exists | And | Or)
    assert parse_q(unparse(node), same) == node


@given(ANY_TEXT)
def test_parse_scope_q_only_raises_query_errors(text: str) -> None:
    """Return an AST or raise BadRequestData/TooComplexQuery for any scopeQ text."""
    try:
        node = parse_scope_q(text)
    except (BadRequestData, TooComplexQuery):
        return
    assert parse_scope_q(unparse(node)) == node


@given(ANY_TEXT)
def test_parse_type_selection_only_raises_query_errors(text: str) -> None:
    """Return an AST or raise BadRequestData/TooComplexQuery for any type selection."""
    try:
        node = parse_type_selection(text, same)
    except (BadRequestData, TooComplexQuery):
        return
    assert parse_type_selection(unparse(node), same) == node


def test_errors_are_civictwin_errors() -> None:
    """Map every parser error to a ProblemDetails-capable error."""
    with pytest.raises(CivicTwinError) as caught:
        parse_q("a>", same)
    assert caught.value.to_problem()["status"] == 400
