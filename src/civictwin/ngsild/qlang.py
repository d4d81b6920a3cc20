"""The NGSI-LD query language (ETSI GS CIM 009 clause 4.9): `q`, `scopeQ` and type selection.

Parsing yields a small immutable AST with attribute and type names already expanded to IRIs;
the store compiles it to SQL (store/qsql.py).

The three languages share one recursive-descent parser for `;` (AND, binds tighter), `|` (OR)
and parentheses; only the leaves differ. Beyond the strict ABNF we accept: blanks between
tokens, nested parentheses (as clause 4.9 example 6 does), `a[b][c]` for `a[b.c]`, `a[*]`
(any language of a LanguageProperty, json_path `("*",)`), bare names as `==`/`!=` values (as
example 12 does for expandValues) and a regular expression given as a quoted JSON string.
An unquoted regular expression runs to the first `;`, `|` or `)` outside its own brackets.
Positions in error messages are 0-based character offsets.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from typing import Literal as TypingLiteral

from civictwin.errors import BadRequestData, CivicTwinError, TooComplexQuery

Scalar = str | int | float | bool
Operator = TypingLiteral["==", "!=", ">", ">=", "<", "<=", "~=", "!~="]
Expand = Callable[[str], str]

MAX_QUERY_LENGTH = 4096
MAX_NESTING = 32
MAX_REGEX_LENGTH = 999
MAX_REGEX_REPEATS = 10
"""Most open-ended repetitions (`*`, `+`, `{n,}`, `{n,m}` with m > 16) one regex may hold."""
_SRE: Any = importlib.import_module("re._parser")  # the parse tree `re` compiles from
_SRE_REPEATS = (_SRE.MAX_REPEAT, _SRE.MIN_REPEAT)


@dataclass(frozen=True)
class AttrPath:
    """Where a comparison looks: an attribute, maybe a sub-attribute, maybe a JSON path.

    A json_path of `("*",)` stands for `[*]`: any language of a LanguageProperty.
    """

    attr: str
    sub: str | None = None
    json_path: tuple[str, ...] = ()


@dataclass(frozen=True)
class ValueRange:
    """An inclusive range `low..high`."""

    low: Scalar
    high: Scalar


@dataclass(frozen=True)
class ValueList:
    """A list of alternatives `a,b,c`."""

    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class Comparison:
    """`path op value`."""

    path: AttrPath
    op: Operator
    value: Scalar | ValueRange | ValueList


@dataclass(frozen=True)
class Exists:
    """A bare attribute path: the attribute (or sub-attribute) exists."""

    path: AttrPath


@dataclass(frozen=True)
class TypeName:
    """One entity type (expanded IRI) in a type selection."""

    iri: str


@dataclass(frozen=True)
class ScopeMatch:
    """One scope pattern such as `/Madrid/Gardens`, `/Madrid/#` or `/Madrid/+/East`."""

    pattern: str


@dataclass(frozen=True)
class And:
    """All of the items hold."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """At least one of the items holds."""

    items: tuple[Node, ...]


Node = Comparison | Exists | TypeName | ScopeMatch | And | Or

_Leaf = Callable[["_Cursor"], Node]

_OPERATORS: tuple[Operator, ...] = ("!~=", "~=", "==", "!=", ">=", "<=", ">", "<")
_TIME = r"[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)?"
_LITERALS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("datetime", re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T" + _TIME)),
    ("date", re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")),
    ("time", re.compile(_TIME)),
    ("number", re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")),
    ("bool", re.compile(r"true|false")),
    ("uri", re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s;|(),\"\\]+")),
)
_COMPARABLE = frozenset({"number", "string", "datetime", "date", "time"})
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S+")


class _Cursor:
    """A position in one query text, and the errors that name it."""

    def __init__(self, text: str, label: str) -> None:
        self.text = text
        self.label = label
        self.pos = 0

    def peek(self) -> str:
        """Return the character at the cursor, or "" at the end."""
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_blanks(self) -> None:
        """Move past any white space."""
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def found(self) -> str:
        """Describe what is at the cursor, for an error message."""
        return repr(self.peek()) if self.peek() else "end of input"

    def error(self, message: str, pos: int | None = None) -> BadRequestData:
        """Return a BadRequestData naming the language, the problem and the position."""
        where = self.pos if pos is None else pos
        return BadRequestData(f"{self.label}: {message} at position {where}")


def _start(text: str, label: str) -> _Cursor:
    """Check the overall limits of a query text and return a cursor on it."""
    if len(text) > MAX_QUERY_LENGTH:
        raise TooComplexQuery(f"{label}: query longer than {MAX_QUERY_LENGTH} characters")
    cur = _Cursor(text, label)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise cur.error("invalid character (lone surrogate)", exc.start) from None
    if "\x00" in text:
        raise cur.error("NUL character not allowed", text.index("\x00"))
    return cur


def _logical_ops(comma_or: bool) -> str:
    """Return how the logical operators of a language are named in messages."""
    return "';', '|', ','" if comma_or else "';', '|'"


def _parse_expression(cur: _Cursor, leaf: _Leaf, comma_or: bool) -> Node:
    """Parse a whole boolean expression of leaves and check that nothing follows it."""
    node = _parse_or(cur, leaf, comma_or, 0)
    if cur.peek():
        raise cur.error(f"expected {_logical_ops(comma_or)} or end of input, found {cur.found()}")
    return node


def _parse_or(cur: _Cursor, leaf: _Leaf, comma_or: bool, depth: int) -> Node:
    """Parse `primary (';' primary)*` groups joined by `|` (AND binds tighter than OR)."""
    groups: list[Node] = []
    while True:
        items = [_parse_primary(cur, leaf, comma_or, depth)]
        cur.skip_blanks()
        while cur.peek() == ";":
            cur.pos += 1
            items.append(_parse_primary(cur, leaf, comma_or, depth))
            cur.skip_blanks()
        groups.append(_join(And, items))
        if cur.peek() != "|" and not (comma_or and cur.peek() == ","):
            return _join(Or, groups)
        cur.pos += 1


def _parse_primary(cur: _Cursor, leaf: _Leaf, comma_or: bool, depth: int) -> Node:
    """Parse a parenthesized expression or one leaf."""
    cur.skip_blanks()
    if cur.peek() != "(":
        return leaf(cur)
    if depth >= MAX_NESTING:
        raise TooComplexQuery(
            f"{cur.label}: more than {MAX_NESTING} nested parentheses at position {cur.pos}"
        )
    cur.pos += 1
    node = _parse_or(cur, leaf, comma_or, depth + 1)
    if cur.peek() != ")":
        raise cur.error(f"expected {_logical_ops(comma_or)} or ')', found {cur.found()}")
    cur.pos += 1
    return node


def _join(kind: type[And] | type[Or], items: list[Node]) -> Node:
    """Combine items with AND or OR, flattening nested nodes of the same kind."""
    flat: list[Node] = []
    for item in items:
        flat.extend(item.items if isinstance(item, kind) else (item,))
    return flat[0] if len(flat) == 1 else kind(tuple(flat))


def _name_end(text: str, pos: int, prefixed: bool = False) -> int | None:
    """Return where a name (letter, then letters, digits or `_`) starting at pos ends."""
    if pos >= len(text) or not text[pos].isalpha():
        return None
    end = pos + 1
    while end < len(text) and (text[end].isalnum() or text[end] == "_"):
        end += 1
    if prefixed and text.startswith(":", end):
        rest = _name_end(text, end + 1)
        if rest is not None:
            return rest
    return end


def _take_name(cur: _Cursor, what: str, prefixed: bool = True) -> str:
    """Consume a name at the cursor or raise naming what was expected."""
    end = _name_end(cur.text, cur.pos, prefixed)
    if end is None:
        raise cur.error(f"expected {what}, found {cur.found()}")
    name = cur.text[cur.pos : end]
    cur.pos = end
    return name


def _expand(cur: _Cursor, expand: Expand, name: str, pos: int) -> str:
    """Expand a short name to its IRI, turning unexpected failures into BadRequestData."""
    try:
        return expand(name)
    except CivicTwinError:
        raise
    except Exception as exc:
        raise cur.error(f"cannot expand {name!r}", pos) from exc


def _parse_path(cur: _Cursor, expand: Expand) -> AttrPath:
    """Parse `attr[.sub][json.path]` and expand the attribute and sub-attribute names."""
    cur.skip_blanks()
    attr_pos = cur.pos
    attr = _take_name(cur, "an attribute name")
    sub: str | None = None
    if cur.peek() == ".":
        cur.pos += 1
        sub_pos = cur.pos
        sub = _expand(cur, expand, _take_name(cur, "a sub-attribute name after '.'"), sub_pos)
        if cur.peek() == ".":
            raise cur.error("paths deeper than one sub-attribute (a.b.c) are not supported")
    json_path: list[str] = []
    while cur.peek() == "[":
        if json_path[:1] == ["*"]:
            raise cur.error("'[*]' must be the whole value path")
        cur.pos += 1
        json_path.extend(_parse_json_path(cur, bool(json_path)))
        if cur.peek() != "]":
            raise cur.error(f"expected '.' or ']' in the value path, found {cur.found()}")
        cur.pos += 1
    if cur.peek() == "{":
        raise cur.error("linked-entity paths ('{') are not supported")
    return AttrPath(_expand(cur, expand, attr, attr_pos), sub, tuple(json_path))


def _parse_json_path(cur: _Cursor, nested: bool) -> list[str]:
    """Parse the dotted member names between `[` and `]` (or a lone `*`)."""
    if cur.peek() == "*" and not nested:
        cur.pos += 1
        if cur.peek() != "]":
            raise cur.error(f"expected ']' after '*', found {cur.found()}")
        return ["*"]
    names = [_take_name(cur, "a member name after '['", prefixed=False)]
    while cur.peek() == ".":
        cur.pos += 1
        names.append(_take_name(cur, "a member name after '.'", prefixed=False))
    return names


def _parse_term(cur: _Cursor, expand: Expand) -> Node:
    """Parse one q term: an attribute path, optionally followed by an operator and value."""
    path = _parse_path(cur, expand)
    cur.skip_blanks()
    op = next((o for o in _OPERATORS if cur.text.startswith(o, cur.pos)), None)
    if op is None:
        if cur.peek() not in ("", ";", "|", ")"):
            raise cur.error(
                "expected an operator (==, !=, >, >=, <, <=, ~=, !~=), ';', '|', ')' or end"
                f" of input after the attribute path, found {cur.found()}"
            )
        return Exists(path)
    cur.pos += len(op)
    cur.skip_blanks()
    if op in ("~=", "!~="):
        return Comparison(path, op, _parse_regex(cur, op))
    if op in ("==", "!="):
        return Comparison(path, op, _parse_equality_value(cur, op))
    return Comparison(path, op, _parse_comparable(cur, op))


def _parse_comparable(cur: _Cursor, op: str) -> Scalar:
    """Parse a number, quoted string, dateTime, date or time."""
    start = cur.pos
    value, kind = _scan_value(cur, op)
    if kind not in _COMPARABLE:
        raise cur.error(
            f"expected a number, quoted string, dateTime, date or time after '{op}'", start
        )
    return value


def _parse_equality_value(cur: _Cursor, op: str) -> Scalar | ValueRange | ValueList:
    """Parse the value of `==` or `!=`: a value, a range `low..high` or a list `a,b,c`."""
    start = cur.pos
    value, kind = _scan_value(cur, op)
    cur.skip_blanks()
    if cur.text.startswith("..", cur.pos):
        if kind not in _COMPARABLE:
            raise cur.error(
                "range bounds must be numbers, strings, dateTimes, dates or times", start
            )
        cur.pos += 2
        cur.skip_blanks()
        high = _parse_comparable(cur, "..")
        if isinstance(value, str) != isinstance(high, str):
            raise cur.error("range bounds must both be numbers or both be strings", start)
        return ValueRange(value, high)
    if cur.peek() != ",":
        return value
    values = [value]
    while cur.peek() == ",":
        cur.pos += 1
        cur.skip_blanks()
        values.append(_scan_value(cur, ",")[0])
        cur.skip_blanks()
    return ValueList(tuple(values))


def _delimited(text: str, end: int) -> bool:
    """Tell whether a value token may end at `end`."""
    if end >= len(text):
        return True
    return text[end] in ";|)," or text[end].isspace() or text.startswith("..", end)


def _scan_value(cur: _Cursor, after: str) -> tuple[Scalar, str]:
    """Consume one literal value and return it with its kind."""
    start = longest = cur.pos
    if cur.peek() == '"':
        return _scan_string(cur), "string"
    for kind, pattern in _LITERALS:
        match = pattern.match(cur.text, start)
        if match and _delimited(cur.text, match.end()):
            cur.pos = match.end()
            return _convert(cur, kind, match.group(), start), kind
        longest = max(longest, match.end() if match else start)
    end = _name_end(cur.text, start)
    if end is not None and _delimited(cur.text, end):
        cur.pos = end
        return cur.text[start:end], "word"
    if longest == start and end is None:
        raise cur.error(f"expected a value after '{after}', found {cur.found()}", start)
    cur.pos = max(longest, end or start)
    raise cur.error(f"unexpected {cur.found()} in a value")


def _convert(cur: _Cursor, kind: str, lexeme: str, start: int) -> Scalar:
    """Turn a matched literal lexeme into its value, checking dates and number ranges."""
    try:
        if kind == "number":
            return _number(lexeme)
        if kind == "datetime":
            return _normalize_datetime(lexeme)
        if kind == "date":
            date.fromisoformat(lexeme)
        elif kind == "time":
            time.fromisoformat(lexeme)
        elif kind == "bool":
            return lexeme == "true"
    except (ValueError, OverflowError) as exc:
        raise cur.error(f"invalid {kind} {lexeme!r} ({exc})", start) from None
    return lexeme


def _number(token: str) -> int | float:
    """Return the int or float a JSON number token denotes; it must fit a double."""
    if any(c in token for c in ".eE"):
        value = float(token)
        if value in (float("inf"), float("-inf")):
            raise OverflowError("out of range")
        return value
    number = int(token)
    float(number)
    return number


def _normalize_datetime(token: str) -> str:
    """Return the dateTime in the store's sortable form (see `sortable_datetime`)."""
    moment = datetime.fromisoformat(token)
    return sortable_datetime(moment)


def sortable_datetime(moment: datetime) -> str:
    """Return `YYYY-MM-DDTHH:MM:SS.ffffffZ` in UTC, which sorts as text in time order."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # isoformat, not strftime: glibc's %Y does not pad years before 1000 to four digits.
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _scan_string(cur: _Cursor) -> str:
    """Consume a JSON string literal and return its decoded text."""
    start = end = cur.pos
    end += 1
    while end < len(cur.text) and cur.text[end] != '"':
        end += 2 if cur.text[end] == "\\" else 1
    if end >= len(cur.text):
        raise cur.error("unterminated string", start)
    try:
        value = json.loads(cur.text[start : end + 1])
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise cur.error("invalid string (lone surrogate)", start) from None
    except ValueError as exc:
        raise cur.error(f"invalid string ({exc})", start) from None
    if not isinstance(value, str) or "\x00" in value:
        raise cur.error("invalid string (NUL character)", start)
    cur.pos = end + 1
    return value


def _parse_regex(cur: _Cursor, op: str) -> str:
    """Parse and validate the regular expression after `~=` or `!~=`."""
    start = cur.pos
    quoted = cur.peek() == '"'
    pattern = _scan_string(cur) if quoted else _scan_regex(cur)
    if not pattern:
        raise cur.error(f"expected a regular expression after '{op}', found {cur.found()}")
    if len(pattern) > MAX_REGEX_LENGTH:
        raise cur.error(f"regular expression longer than {MAX_REGEX_LENGTH} characters", start)
    try:
        re.compile(pattern)
    except re.error as exc:
        where = start + exc.pos if exc.pos is not None and not quoted else start
        raise cur.error(f"invalid regular expression ({exc.msg})", where) from None
    except (OverflowError, RecursionError, ValueError) as exc:
        raise cur.error(f"invalid regular expression ({exc})", start) from None
    problem = regex_problem(pattern)
    if problem is not None:
        raise cur.error(problem, start)
    return pattern


def check_regex(pattern: str, where: str) -> str:
    """Return `pattern` if it is a valid regex of bounded cost, else raise BadRequestData."""
    if len(pattern) > MAX_REGEX_LENGTH:
        raise BadRequestData(f"{where}: regular expression longer than {MAX_REGEX_LENGTH} "
                             "characters")
    try:
        re.compile(pattern)
    except (re.error, OverflowError, RecursionError, ValueError) as exc:
        raise BadRequestData(f"{where}: not a valid regular expression ({exc})") from None
    problem = regex_problem(pattern)
    if problem is not None:
        raise BadRequestData(f"{where}: {problem}")
    return pattern


def regex_problem(pattern: str) -> str | None:
    """Say why a valid regex could backtrack without bound (None if it cannot that way).

    A repetition inside a repetition (`(a+)+`, `(a*b?)*`) is the shape of catastrophic
    backtracking, and many open-ended repetitions in a row cost a high power of the text's
    length; both are refused before any database runs them. What slips through (`(a|aa)+`)
    is stopped by the statement timeout.
    """
    try:
        height, repeats = _repetition(_SRE.parse(pattern))
    except (re.error, OverflowError, RecursionError, ValueError):
        return "not a valid regular expression"
    if height > 1:
        return ("regular expression nests a repetition inside a repetition (like (a+)+), "
                "which can take exponential time; rewrite it without the nesting")
    if repeats > MAX_REGEX_REPEATS:
        return (f"regular expression holds {repeats} open-ended repetitions; at most "
                f"{MAX_REGEX_REPEATS} are allowed")
    return None


def _repetition(items: Any) -> tuple[int, int]:
    """Return (deepest nesting of open-ended repetitions, how many there are) in a parse."""
    height = repeats = 0
    for op, arg in items:
        children: list[Any] = []
        own = 0
        if op in _SRE_REPEATS:
            own = 1 if arg[1] > 16 else 0
            children = [arg[2]]
        elif op is _SRE.SUBPATTERN:
            children = [arg[-1]]
        elif op is _SRE.BRANCH:
            children = list(arg[1])
        elif op in (_SRE.ASSERT, _SRE.ASSERT_NOT):
            children = [arg[1]]
        elif op is _SRE.GROUPREF_EXISTS:
            children = [branch for branch in arg[1:] if branch is not None]
        inner = [_repetition(child) for child in children]
        height = max([height, *(own + h for h, _ in inner), own])
        repeats += own + sum(r for _, r in inner)
    return height, repeats


def _scan_regex(cur: _Cursor) -> str:
    """Consume an unquoted regex: up to `;`, `|` or `)` outside its own brackets."""
    text, end, depth, in_class = cur.text, cur.pos, 0, False
    while end < len(text):
        char = text[end]
        if char == "\\":
            end += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif char in ";|)" and not depth:
            break
        end += 1
    end = min(end, len(text))
    pattern = text[cur.pos : end].rstrip()
    cur.pos = end
    return pattern


def _parse_scope(cur: _Cursor) -> Node:
    """Parse one scope pattern: `/a/b`, `/a/+/c`, `/a/#` or `/#`."""
    cur.skip_blanks()
    start = cur.pos
    if cur.peek() != "/":
        raise cur.error(f"expected '/' to start a scope, found {cur.found()}")
    cur.pos += 1
    if cur.peek() == "#":
        cur.pos += 1
        return ScopeMatch("/#")
    while True:
        if cur.peek() == "+":
            cur.pos += 1
        else:
            _take_name(cur, "a scope level (a name or '+') after '/'", prefixed=False)
        if cur.peek() != "/":
            break
        cur.pos += 1
        if cur.peek() == "#":
            cur.pos += 1
            break
    return ScopeMatch(cur.text[start : cur.pos])


def _parse_type(cur: _Cursor, expand: Expand) -> Node:
    """Parse one entity type (a name, a prefixed name or a URI) and expand it."""
    cur.skip_blanks()
    start = end = cur.pos
    while end < len(cur.text) and cur.text[end] not in ",;|()" and not cur.text[end].isspace():
        end += 1
    token = cur.text[start:end]
    if not token:
        raise cur.error(f"expected an entity type, found {cur.found()}")
    if _name_end(token, 0, prefixed=True) != len(token) and not _URI.fullmatch(token):
        raise cur.error(f"invalid entity type {token!r}", start)
    cur.pos = end
    return TypeName(_expand(cur, expand, token, start))


def parse_q(text: str, expand: Expand) -> Node:
    """Parse an NGSI-LD `q` query (clause 4.9), expanding attribute names with `expand`."""
    return _parse_expression(_start(text, "q"), lambda cur: _parse_term(cur, expand), False)


def parse_scope_q(text: str) -> Node:
    """Parse an NGSI-LD `scopeQ` query (clause 4.19)."""
    return _parse_expression(_start(text, "scopeQ"), _parse_scope, True)


def parse_type_selection(text: str, expand: Expand) -> Node:
    """Parse an entity type selection (clause 4.17), expanding type names with `expand`."""
    cur = _start(text, "type")
    return _parse_expression(cur, lambda c: _parse_type(c, expand), True)


def _same(name: str) -> str:
    """Return the name unchanged."""
    return name


def unparse(node: Node, compact: Callable[[str], str] = _same) -> str:
    """Return canonical query text for an AST, compacting IRIs with `compact`."""
    if isinstance(node, And):
        text = ";".join(
            f"({unparse(item, compact)})" if isinstance(item, And | Or) else unparse(item, compact)
            for item in node.items
        )
        # Type selections and scopeQ only allow a conjunction in parentheses.
        leaves_need_parens = any(isinstance(item, TypeName | ScopeMatch) for item in node.items)
        return f"({text})" if leaves_need_parens else text
    if isinstance(node, Or):
        return "|".join(
            f"({unparse(item, compact)})" if isinstance(item, Or) else unparse(item, compact)
            for item in node.items
        )
    if isinstance(node, Exists):
        return _unparse_path(node.path, compact)
    if isinstance(node, Comparison):
        return _unparse_path(node.path, compact) + node.op + _unparse_value(node.value)
    if isinstance(node, TypeName):
        return compact(node.iri)
    return node.pattern


def _unparse_path(path: AttrPath, compact: Callable[[str], str]) -> str:
    """Return the text of an attribute path."""
    text = compact(path.attr)
    if path.sub is not None:
        text += "." + compact(path.sub)
    if path.json_path:
        text += "[" + ".".join(path.json_path) + "]"
    return text


def _unparse_value(value: Scalar | ValueRange | ValueList) -> str:
    """Return the text of a value, range or list."""
    if isinstance(value, ValueRange):
        return f"{_unparse_scalar(value.low)}..{_unparse_scalar(value.high)}"
    if isinstance(value, ValueList):
        return ",".join(_unparse_scalar(item) for item in value.values)
    return _unparse_scalar(value)


def _unparse_scalar(value: Scalar) -> str:
    """Return the text of one literal: JSON for strings, numbers and booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)
