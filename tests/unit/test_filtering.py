"""Specification of Runwire's AIP-160 filter subset: parsing (domain/filtering.py) and SQL (store/filter_sql.py)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import JSON, Boolean, Column, DateTime, Integer, MetaData, String, Table, create_engine, select
from sqlalchemy.engine import Engine

from runwire.server.core.filtering import And, Comparison, FilterError, Not, Or, Value, parse_filter, split_field_path
from runwire.server.store.filter_sql import FieldSpec, filter_to_sql, parse_timestamp


def cmp(field: str, op: str, kind: str, text: str) -> Comparison:
    return Comparison(field, op, Value(kind, text))  # type: ignore[arg-type]


A = cmp("a", "=", "number", "1")
B = cmp("b", "=", "number", "2")
C = cmp("c", "=", "number", "3")
D = cmp("d", "=", "number", "4")


def error_of(text: str, **limits: int) -> FilterError:
    with pytest.raises(FilterError) as info:
        parse_filter(text, **limits)
    return info.value


# --- Parsing: structure ---------------------------------------------------------


class TestStructure:
    @pytest.mark.parametrize("text", ["", "   ", "\t\n"])
    def test_empty_filter_is_none(self, text: str) -> None:
        assert parse_filter(text) is None

    def test_single_comparison(self) -> None:
        assert parse_filter("a=1") == A
        assert parse_filter("  a = 1  ") == A

    def test_or_binds_tighter_than_and(self) -> None:
        # AIP-160: `a AND b OR c` is `a AND (b OR c)`, unlike most languages.
        assert parse_filter("a=1 AND b=2 OR c=3") == And((A, Or((B, C))))
        assert parse_filter("a=1 OR b=2 AND c=3") == And((Or((A, B)), C))

    def test_juxtaposition_is_and(self) -> None:
        assert parse_filter("a=1 b=2") == And((A, B))
        assert parse_filter("a=1 b=2 OR c=3") == And((A, Or((B, C))))

    def test_chains_are_flattened(self) -> None:
        assert parse_filter("a=1 AND b=2 AND c=3 d=4") == And((A, B, C, D))
        assert parse_filter("a=1 OR b=2 OR c=3") == Or((A, B, C))
        assert parse_filter("(a=1 OR b=2) OR c=3") == Or((A, B, C))

    def test_parentheses_group(self) -> None:
        assert parse_filter("(a=1 AND b=2) OR c=3") == Or((And((A, B)), C))
        assert parse_filter("((a=1))") == A

    def test_not_and_minus_negate(self) -> None:
        assert parse_filter("NOT a=1") == Not(A)
        assert parse_filter("-a=1") == Not(A)
        assert parse_filter("NOT (a=1 OR b=2)") == Not(Or((A, B)))
        assert parse_filter("-(a=1 b=2)") == Not(And((A, B)))
        assert parse_filter("NOT(a=1)") == Not(A)

    def test_negation_applies_to_one_term(self) -> None:
        assert parse_filter("NOT a=1 OR b=2") == Or((Not(A), B))
        assert parse_filter("-a=1 b=2") == And((Not(A), B))
        assert parse_filter("NOT NOT a=1") == Not(Not(A))

    def test_all_operators(self) -> None:
        for op in ["=", "!=", "<", "<=", ">", ">=", ":"]:
            assert parse_filter(f"a{op}1") == cmp("a", op, "number", "1")
            assert parse_filter(f"a {op} 1") == cmp("a", op, "number", "1")

    def test_keywords_are_upper_case_only(self) -> None:
        assert "keywords are upper case: AND" in str(error_of("a=1 and b=2"))
        # Lower-case words are ordinary values.
        assert parse_filter("a = or") == cmp("a", "=", "word", "or")

    def test_positions_are_kept_but_ignored_by_equality(self) -> None:
        parsed = parse_filter("x=1 AND  yy = 'v'")
        assert isinstance(parsed, And)
        second = parsed.items[1]
        assert isinstance(second, Comparison)
        assert (second.position, second.value.position) == (9, 14)


# --- Parsing: fields and values -------------------------------------------------


class TestFieldsAndValues:
    def test_dotted_fields(self) -> None:
        parsed = parse_filter("model.provider = openai")
        assert parsed == cmp("model.provider", "=", "word", "openai")
        assert isinstance(parsed, Comparison) and parsed.path == ("model", "provider")

    def test_quoted_map_key(self) -> None:
        parsed = parse_filter('labels."my-key" = "v"')
        assert parsed == cmp('labels."my-key"', "=", "string", "v")
        assert isinstance(parsed, Comparison) and parsed.path == ("labels", "my-key")
        assert split_field_path("labels.'a.b'") == ("labels", "a.b")
        assert split_field_path('labels."say \\"hi\\""') == ("labels", 'say "hi"')

    @pytest.mark.parametrize(
        ("source", "kind", "text"),
        [
            ('"hello world"', "string", "hello world"),
            ("'single'", "string", "single"),
            ('"with \\"escaped\\" quotes"', "string", 'with "escaped" quotes'),
            ("'it\\'s'", "string", "it's"),
            ('"back\\\\slash"', "string", "back\\slash"),
            ('"tab\\tnl\\n"', "string", "tab\tnl\n"),
            ('"AND"', "string", "AND"),
            ('""', "string", ""),
            ('"a=b (c)"', "string", "a=b (c)"),
            ("42", "number", "42"),
            ("-7", "number", "-7"),
            ("3.25", "number", "3.25"),
            ("-1.5e3", "number", "-1.5e3"),
            ("true", "bool", "true"),
            ("false", "bool", "false"),
            ("null", "null", "null"),
            ("ACTIVE", "word", "ACTIVE"),
            ("us-east-1", "word", "us-east-1"),
            ("-foo", "word", "-foo"),
            ("*", "word", "*"),
            ("1.2.3", "word", "1.2.3"),
            ("True", "word", "True"),
        ],
    )
    def test_values(self, source: str, kind: str, text: str) -> None:
        assert parse_filter(f"f = {source}") == cmp("f", "=", kind, text)

    def test_has_operator_with_star(self) -> None:
        assert parse_filter("labels.env:*") == cmp("labels.env", ":", "word", "*")
        assert parse_filter("labels:env") == cmp("labels", ":", "word", "env")


# --- Parsing: errors --------------------------------------------------------------


class TestParseErrors:
    @pytest.mark.parametrize(
        ("text", "position", "fragment"),
        [
            ("state = ACTIVE)", 14, "unexpected ')'"),
            ("(a=1", 4, "expected ')', found end of filter"),
            ("(a=1 b=2", 8, "the '(' at position 0 is not closed"),
            ("()", 1, "unexpected ')'"),
            ("a=1 AND", 7, "unexpected end of filter"),
            ("a=1 OR", 6, "unexpected end of filter"),
            ("AND a=1", 0, "unexpected AND"),
            ("a=1 OR OR b=2", 7, "unexpected OR"),
            ("NOT", 3, "unexpected end of filter"),
            ("-", 1, "unexpected end of filter"),
            ("a=", 2, "expected a value after '='"),
            ("a = )", 4, "expected a value after '='"),
            ("a = AND", 4, "quote it to use a keyword as a value"),
            ("a = (1)", 4, "expected a value"),
            ("a == 1", 3, "expected a value after '='"),
            ("a=1 = 2", 4, "unexpected '='"),
            ("a ! b", 2, "unexpected '!'"),
            ('a = "open', 4, "unterminated string"),
            ("a = 'x\\", 4, "unterminated string"),
            ('a = "bad \\q"', 9, "unknown escape sequence '\\q'"),
            ("foo", 0, "a field is required: bare value foo"),
            ('a=1 "text"', 4, 'a field is required: bare value "text"'),
            ("a=1 42", 4, "a field is required"),
            ("1abc = 2", 0, 'invalid field name "1abc"'),
            ("a-b = 2", 0, 'invalid field name "a-b"'),
            ("a..b = 2", 0, "invalid field name"),
            ("a. = 2", 0, "invalid field name"),
            ('-x-y."k" = 2', 1, "invalid field name"),
            ('labels."k" x', 11, "expected an operator"),
            ('labels."k"', 10, "expected an operator"),
            ('labels. "k" = 1', 0, "a field is required"),
        ],
    )
    def test_error_message_and_position(self, text: str, position: int, fragment: str) -> None:
        error = error_of(text)
        assert error.position == position
        assert fragment in str(error)
        assert f"at position {position}" in str(error)

    def test_str_reads_like_a_sentence(self) -> None:
        assert str(error_of("state = ACTIVE)")) == "unexpected ')' at position 14; no '(' to close"
        error = error_of("a=1 )")
        assert (error.message, error.position) == ("unexpected ')'", 4)

    def test_filter_error_is_a_value_error(self) -> None:
        assert issubclass(FilterError, ValueError)
        assert str(FilterError("plain")) == "plain"


class TestLimits:
    def test_length(self) -> None:
        assert parse_filter("a=1" + " " * 1997) == A
        error = error_of("a=1" + " " * 1998)
        assert "too long: 2001 characters, at most 2000" in str(error)
        assert "at most 10" in str(error_of("a=" + "x" * 10, max_length=10))

    def test_terms(self) -> None:
        parse_filter(" ".join(["a=1"] * 50))
        error = error_of(" ".join(["a=1"] * 51))
        assert "more than 50 comparisons" in str(error)
        assert error.position == 200
        assert "more than 2 comparisons" in str(error_of("a=1 OR b=2 OR c=3", max_terms=2))

    def test_depth_counts_parentheses_and_negations(self) -> None:
        assert parse_filter("(" * 10 + "a=1" + ")" * 10) == A
        error = error_of("(" * 11 + "a=1" + ")" * 11)
        assert "nests more than 10 levels" in str(error)
        assert error.position == 10
        assert "nests" in str(error_of("NOT " * 11 + "a=1"))
        assert "nests" in str(error_of("-(-(a=1))", max_depth=3))

    def test_huge_depth_limit_still_raises_only_filter_error(self) -> None:
        with pytest.raises(FilterError):
            parse_filter("(" * 20000 + "a=1" + ")" * 20000, max_length=100000, max_depth=10**9)


# --- SQL translation against SQLite -----------------------------------------------

metadata = MetaData()
items = Table(
    "items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String, nullable=False),
    Column("note", String, nullable=True),
    Column("count", Integer, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("state", Integer, nullable=False),
    Column("created", DateTime, nullable=False),
    Column("labels", JSON, nullable=False),
    Column("parent", String, nullable=True),
)

ROWS = [
    dict(id=1, name="Alpha", note="first", count=1, active=True, state=1, created=datetime(2026, 1, 1),
         labels={"env": "prod", "tier": "web"}, parent=None),
    dict(id=2, name="beta_test", note=None, count=5, active=False, state=2, created=datetime(2026, 1, 2, 12),
         labels={"env": "dev"}, parent="1"),
    dict(id=3, name="Gamma 100%", note="third", count=-3, active=True, state=2, created=datetime(2026, 2, 1),
         labels={}, parent=""),
    dict(id=4, name="delta\\path", note=None, count=10, active=False, state=1, created=datetime(2025, 12, 31, 23, 30),
         labels={"my-key": "x", "a.b": "dotted", "n": 7}, parent="2"),
    dict(id=5, name="betaXtest", note="", count=0, active=True, state=3, created=datetime(2026, 1, 1, 0, 0, 0, 500000),
         labels={"env": "PROD"}, parent=None),
]
ALL = {1, 2, 3, 4, 5}

FIELDS = {
    "name": FieldSpec(items.c.name, "string"),
    "note": FieldSpec(items.c.note, "string"),
    "count": FieldSpec(items.c.count, "int"),
    "active": FieldSpec(items.c.active, "bool"),
    "state": FieldSpec(items.c.state, "enum", {"ITEM_STATE_ACTIVE": 1, "ITEM_STATE_ARCHIVED": 2, "ITEM_STATE_PAUSED": 3}),
    "create_time": FieldSpec(items.c.created, "timestamp"),
    "labels": FieldSpec(items.c.labels, "map"),
    "parent": FieldSpec(items.c.parent, "string", nullable_empty=True),
    "env": FieldSpec(items.c.labels["env"].as_string(), "string"),  # a JSON path exposed as a plain field
    "limited": FieldSpec(items.c.name, "string", ops=frozenset({"="})),
}


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(items.insert(), ROWS)
    yield engine
    engine.dispose()


def select_ids(engine: Engine, text: str) -> set[int]:
    where = filter_to_sql(parse_filter(text), FIELDS)
    query = select(items.c.id)
    if where is not None:
        query = query.where(where)
    with engine.connect() as conn:
        return set(conn.scalars(query))


def translation_error(text: str) -> FilterError:
    with pytest.raises(FilterError) as info:
        filter_to_sql(parse_filter(text), FIELDS)
    return info.value


CASES = [
    # no filter
    ("", ALL),
    # strings: = exact, : case-insensitive contains with LIKE wildcards taken literally
    ('name = "Alpha"', {1}),
    ("name = Alpha", {1}),
    ('name = "alpha"', set()),
    ('name != "Alpha"', {2, 3, 4, 5}),
    ("name:ALP", {1}),
    ('name:"_"', {2}),
    ('name:"%"', {3}),
    ('name:"a_t"', {2}),
    ('name:"\\\\"', {4}),
    ('name:"beta"', {2, 5}),
    ('name > "b"', {2, 4, 5}),
    ('name <= "Gamma 100%"', {1, 3}),
    # nullable strings: NULL never equals, always differs; `:*` means set and non-empty
    ('note = "first"', {1}),
    ('note != "first"', {2, 3, 4, 5}),
    ("note:*", {1, 3}),
    ("note = null", {2, 4}),
    ("note != null", {1, 3, 5}),
    ('note:"ir"', {1, 3}),
    ("NOT note:ir", {2, 4, 5}),
    # ints
    ("count = 5", {2}),
    ("count > 0", {1, 2, 4}),
    ("count >= -3 AND count < 1", {3, 5}),
    ("count != 10", {1, 2, 3, 5}),
    # bools
    ("active = true", {1, 3, 5}),
    ("active != true", {2, 4}),
    ("active = false", {2, 4}),
    # enums: full name, short name, quoted
    ("state = ITEM_STATE_ACTIVE", {1, 4}),
    ("state = ACTIVE", {1, 4}),
    ('state = "ARCHIVED"', {2, 3}),
    ("state != PAUSED", {1, 2, 3, 4}),
    # timestamps: RFC 3339, offsets converted to naive UTC
    ('create_time >= "2026-01-01T00:00:00Z"', {1, 2, 3, 5}),
    ('create_time > "2026-01-01T00:00:00Z"', {2, 3, 5}),
    ('create_time = "2026-01-01T00:00:00.5Z"', {5}),
    ('create_time < "2026-01-01T01:45:00+02:00"', {4}),
    ('create_time <= "2025-12-31T20:30:00-03:00"', {4}),
    ('create_time > "2026-01-02T12:00:00.000001Z"', {3}),
    # maps
    ('labels.env = "prod"', {1}),
    ("labels.env = prod", {1}),
    ('labels.env != "prod"', {2, 3, 4, 5}),
    ("labels.env:PRO", {1, 5}),
    ("labels:env", {1, 2, 5}),
    ("labels.env:*", {1, 2, 5}),
    ("-labels:env", {3, 4}),
    ('labels."my-key" = x', {4}),
    ("labels.'a.b':*", {4}),
    ("labels.n = 7", {4}),
    ("labels.tier = null", {2, 3, 4, 5}),
    ("labels.tier != null", {1}),
    # a JSON path declared as an ordinary string field
    ("env = dev", {2}),
    # nullable_empty: "" and null both mean "no parent"
    ('parent = ""', {1, 3, 5}),
    ("parent = null", {1, 3, 5}),
    ('parent != ""', {2, 4}),
    ('parent = "1"', {2}),
    ('parent != "1"', {1, 3, 4, 5}),
    ("parent:*", {2, 4}),
    # boolean structure, with AIP-160 precedence
    ("state = ACTIVE AND count > 5 OR active = true", {1, 4}),  # ACTIVE AND (count > 5 OR active)
    ("state = ACTIVE count > 5", {4}),
    ("(state = ACTIVE AND count > 5) OR active = true", {1, 3, 4, 5}),
    ("NOT state = ACTIVE", {2, 3, 5}),
    ("-(labels.env = prod OR labels.env = dev)", {3, 4, 5}),
    ("limited = Alpha", {1}),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_filter_selects_exactly(engine: Engine, text: str, expected: set[int]) -> None:
    assert select_ids(engine, text) == expected


@pytest.mark.parametrize("text", [text for text, _ in CASES if text])
def test_not_is_the_exact_complement(engine: Engine, text: str) -> None:
    # NULLs must not fall out of both a filter and its negation (SQL three-valued logic).
    assert select_ids(engine, f"NOT ({text})") == ALL - select_ids(engine, text)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("colour = red", 'unknown field "colour" at position 0; filterable fields: name, note, count'),
        ("name.first = x", 'unknown field "name.first"'),
        ("labels.a.b = x", 'quote a key that contains dots: labels."a.b"'),
        ("state < ACTIVE", "operator '<' is not supported for field state at position 0; allowed operators: =, !="),
        ("active : true", "operator ':' is not supported for field active"),
        ("limited:x", "allowed operators: ="),
        ("labels = x", "use labels:KEY to test for a key, or labels.KEY = VALUE"),
        ("labels.env < x", "operator '<' is not supported"),
        ("count = abc", "field count expects an integer such as 42, got abc at position 8"),
        ("count = 1.5", "expects an integer"),
        ('count = "5"', 'expects an integer such as 42, got "5"'),
        ("active = yes", "field active expects true or false, got yes"),
        ("active = 1", "expects true or false"),
        ("state = RUNNING", "field state expects one of ACTIVE, ARCHIVED, PAUSED, got RUNNING"),
        ("state = active", "expects one of"),
        ("state = 1", "expects one of"),
        ('create_time > "2026-01-01"', "expects an RFC 3339 timestamp"),
        ('create_time > "2026-01-01T00:00:00"', "with a time zone"),
        ('create_time > "2026-13-01T00:00:00Z"', "RFC 3339"),
        ('create_time > "2026-01-01T00:00:00+25:00"', "RFC 3339"),
        ("create_time > 5", "RFC 3339"),
        ("count < null", "null can only be compared with = or !="),
        ('labels."" = x', "invalid map key"),
        ('labels."a\\"b" = x', "invalid map key"),
    ],
)
def test_translation_errors(text: str, fragment: str) -> None:
    assert fragment in str(translation_error(text))


def test_no_filter_means_no_clause() -> None:
    assert filter_to_sql(None, FIELDS) is None


def test_translation_error_carries_position() -> None:
    error = translation_error("name = x AND count = many")
    assert error.position == 21


def test_field_spec_rejects_misconfiguration() -> None:
    with pytest.raises(ValueError):
        FieldSpec(items.c.name, "text")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        FieldSpec(items.c.state, "enum")
    with pytest.raises(ValueError):
        FieldSpec(items.c.name, "string", ops=frozenset({"~"}))


def test_enum_full_names_win_over_short_ones() -> None:
    spec = FieldSpec(items.c.state, "enum", {"KIND_A": 1, "KIND_B": 2, "B": 3})
    # "B" is itself a full name, so it does not alias KIND_B; no shared prefix means no short names at all.
    assert spec._enum_lookup == {"KIND_A": 1, "KIND_B": 2, "B": 3}
    spec = FieldSpec(items.c.state, "enum", {"KIND_A": 1, "KIND_B": 2})
    assert spec._enum_lookup == {"KIND_A": 1, "KIND_B": 2, "A": 1, "B": 2}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-01T00:00:00Z", datetime(2026, 1, 1)),
        ("2026-01-01t10:00:00+10:00", datetime(2026, 1, 1)),
        ("2025-12-31T19:00:00-05:00", datetime(2026, 1, 1)),
        ("2026-01-01T00:00:00.123456789Z", datetime(2026, 1, 1, 0, 0, 0, 123456)),
        ("2026-01-01 00:00:00Z", datetime(2026, 1, 1)),
        ("2026-02-30T00:00:00Z", None),
        ("0001-01-01T00:00:00+01:00", None),
        ("2026-01-01T00:00Z", None),
        ("2026-01-01T00:00:00", None),
    ],
)
def test_parse_timestamp(text: str, expected: datetime | None) -> None:
    assert parse_timestamp(text) == expected


# --- Fuzzing ------------------------------------------------------------------------

FUZZ_PIECES = [
    *"abnl.=!<>:()\"'\\-*_ 019xé\t",
    " AND ", " OR ", "NOT ", "labels", "state", "count", "name", "ACTIVE", "true", "null",
    "\"2026-01-01T00:00:00Z\"", "'x'", "-1.5", "labels.\"k\"", "= ", ": ",
]
FUZZ_FIELDS = {**FIELDS, "a": FieldSpec(items.c.name, "string"), "b": FieldSpec(items.c.count, "int")}


def test_fuzz_only_filter_error_escapes(engine: Engine) -> None:
    rng = random.Random(160)
    parsed = 0
    for _ in range(4000):
        text = "".join(rng.choice(FUZZ_PIECES) for _ in range(rng.randint(0, 14)))
        try:
            expr = parse_filter(text, max_terms=5, max_depth=4)
        except FilterError as error:
            assert error.position is None or 0 <= error.position <= len(text), text
            continue
        parsed += 1
        try:
            where = filter_to_sql(expr, FUZZ_FIELDS)
        except FilterError:
            continue
        if where is not None:  # whatever translates must also run
            with engine.connect() as conn:
                conn.execute(select(items.c.id).where(where)).all()
    assert parsed > 100  # the alphabet produces enough valid filters to exercise translation


def test_fuzz_random_characters() -> None:
    rng = random.Random(2026)
    alphabet = "ab.=!<>:()\"'\\- \t\n*ANDORT1"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        try:
            parse_filter(text)
        except FilterError:
            pass


def test_a_page_token_never_reads_as_a_command_line_option() -> None:
    from runwire.server.core.paging import PageTokenCodec

    codec = PageTokenCodec(b"k" * 32)
    tokens = [codec.encode("query", [index, f"id-{index}"]) for index in range(2000)]
    assert not [token for token in tokens if token.startswith("-")]
    assert all(codec.decode(token, "query") == [index, f"id-{index}"] for index, token in enumerate(tokens))
