"""A subset of AIP-160 filters: parse text into a small, typed AST.

Supported (see https://google.aip.dev/160):

* comparisons ``FIELD OP VALUE`` with OP one of ``= != < <= > >= :``;
  FIELD is identifiers joined by dots (``labels.env``, ``model.provider``)
  and the last part may be quoted (``labels."my-key"``) for map keys that
  are not identifiers;
* values: quoted strings (``"..."`` or ``'...'`` with backslash escapes),
  numbers (``42``, ``-1.5``, ``1e3``), ``true``/``false``, ``null`` and bare
  words (``ACTIVE``, ``us-east-1``, ``*``);
* ``AND``, ``OR``, ``NOT`` (upper case only), ``-`` as a short NOT,
  juxtaposition (``a=1 b=2``) as AND, and parentheses.

Precedence follows AIP-160, which differs from most languages: OR binds
tighter than AND, so ``a AND b OR c`` is ``a AND (b OR c)``.

Not supported: global search terms without a field (``foo``), functions and
wildcards inside ``=``. Anything the parser cannot accept raises
`FilterError`; no other exception escapes `parse_filter` for any string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, NoReturn, TypeAlias

__all__ = [
    "And",
    "Comparison",
    "Expr",
    "FilterError",
    "Not",
    "Or",
    "Value",
    "ValueKind",
    "OPERATORS",
    "parse_filter",
    "split_field_path",
]

OPERATORS = frozenset({"=", "!=", "<", "<=", ">", ">=", ":"})
ValueKind: TypeAlias = Literal["string", "number", "bool", "null", "word"]


class FilterError(ValueError):
    """A filter that cannot be parsed or applied; `position` is a 0-based offset into the text."""

    def __init__(self, message: str, position: int | None = None, *, hint: str | None = None) -> None:
        self.message = message
        self.position = position
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        text = self.message
        if self.position is not None:
            text += f" at position {self.position}"
        if self.hint:
            text += f"; {self.hint}"
        return text


# --- AST -------------------------------------------------------------------
# Positions are kept for error messages but ignored by ==, so tests and callers
# can build expected trees without them.


@dataclass(frozen=True)
class Value:
    kind: ValueKind
    text: str  # unescaped content for strings, the literal as written otherwise
    position: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Comparison:
    field: str  # dotted path as written, quotes included
    op: str
    value: Value
    position: int | None = field(default=None, compare=False, repr=False)

    @property
    def path(self) -> tuple[str, ...]:
        """The field's parts with quoted parts unquoted: `labels."a-b"` -> ("labels", "a-b")."""
        return split_field_path(self.field)


@dataclass(frozen=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    item: Expr


Expr: TypeAlias = And | Or | Not | Comparison


# --- Lexer -----------------------------------------------------------------

# Characters that end a bare word; everything else (except whitespace) is part of one.
_SPECIAL = frozenset('()"\'=!<>:')
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}
_KEYWORDS = frozenset({"AND", "OR", "NOT"})
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_PATH_RE = re.compile(rf"{_IDENT}(?:\.{_IDENT})*")
_QUOTED_KEY_PREFIX_RE = re.compile(rf"(?:{_IDENT}\.)+")
_NUMBER_RE = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


@dataclass(frozen=True)
class _Token:
    kind: str  # "word", "string", "op", "(", ")", "-", "AND", "OR", "NOT", "eof"
    text: str  # source text (for strings: the unescaped value)
    start: int
    end: int
    spaced: bool  # whitespace (or start of text) before it


def _describe(token: _Token) -> str:
    if token.kind == "eof":
        return "end of filter"
    if token.kind == "string":
        return f"string {_quote(token.text)}"
    if token.kind in _KEYWORDS:
        return token.kind
    return f"'{token.text}'"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def tokens(self) -> list[_Token]:
        tokens: list[_Token] = []
        while True:
            spaced = self._skip_space() or not tokens
            if self.pos >= len(self.text):
                tokens.append(_Token("eof", "", self.pos, self.pos, spaced))
                return tokens
            tokens.append(self._next(spaced))

    def _skip_space(self) -> bool:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1
        return self.pos > start

    def _next(self, spaced: bool) -> _Token:
        text, start = self.text, self.pos
        char = text[start]
        if char in "()":
            self.pos += 1
            return _Token(char, char, start, self.pos, spaced)
        if char in "\"'":
            return self._string(spaced)
        if char in "=!<>:":
            return self._operator(spaced)
        if char == "-" and not _NUMBER_RE.match(text, start):
            # A leading '-' that does not start a number negates: `-state=ACTIVE`.
            self.pos += 1
            return _Token("-", "-", start, self.pos, spaced)
        return self._word(spaced)

    def _operator(self, spaced: bool) -> _Token:
        start = self.pos
        two = self.text[start : start + 2]
        if two in ("!=", "<=", ">="):
            self.pos += 2
            return _Token("op", two, start, self.pos, spaced)
        if self.text[start] == "!":
            raise FilterError("unexpected '!'", start, hint="use != for 'not equal' or NOT / - to negate")
        self.pos += 1
        return _Token("op", self.text[start], start, self.pos, spaced)

    def _word(self, spaced: bool) -> _Token:
        start = self.pos
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char.isspace() or char in _SPECIAL:
                break
            self.pos += 1
        word = self.text[start : self.pos]
        kind = word if word in _KEYWORDS else "word"
        return _Token(kind, word, start, self.pos, spaced)

    def _string(self, spaced: bool) -> _Token:
        text, start = self.text, self.pos
        quote = text[start]
        out: list[str] = []
        i = start + 1
        while i < len(text):
            char = text[i]
            if char == quote:
                self.pos = i + 1
                return _Token("string", "".join(out), start, self.pos, spaced)
            if char == "\\":
                if i + 1 >= len(text):
                    break
                escaped = _ESCAPES.get(text[i + 1])
                if escaped is None:
                    raise FilterError(
                        f"unknown escape sequence '\\{text[i + 1]}'",
                        i,
                        hint='supported escapes are \\" \\\' \\\\ \\n \\t \\r',
                    )
                out.append(escaped)
                i += 2
                continue
            out.append(char)
            i += 1
        raise FilterError("unterminated string starting", start, hint=f"close it with {quote}")


# --- Parser ----------------------------------------------------------------
# filter     := expression? EOF
# expression := sequence (AND sequence)*
# sequence   := factor factor*            -- juxtaposition means AND
# factor     := term (OR term)*           -- OR binds tightest (AIP-160)
# term       := (NOT | '-') term | simple
# simple     := '(' expression ')' | FIELD OP VALUE

_TERM_START = frozenset({"word", "string", "(", "-", "NOT"})


class _Parser:
    def __init__(self, text: str, max_terms: int, max_depth: int) -> None:
        self.tokens = _Lexer(text).tokens()
        self.index = 0
        self.terms = 0
        self.depth = 0
        self.max_terms = max_terms
        self.max_depth = max_depth

    @property
    def peek(self) -> _Token:
        return self.tokens[self.index]

    def _advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "eof":
            self.index += 1
        return token

    def _fail(self, token: _Token, hint: str | None = None) -> NoReturn:
        raise FilterError(f"unexpected {_describe(token)}", token.start, hint=hint)

    def parse(self) -> Expr:
        expr = self._expression()
        if self.peek.kind != "eof":
            hint = "no '(' to close" if self.peek.kind == ")" else None
            self._fail(self.peek, hint)
        return expr

    def _expression(self) -> Expr:
        items = [self._sequence()]
        while self.peek.kind == "AND":
            self._advance()
            items.append(self._sequence())
        return _combine(And, items)

    def _sequence(self) -> Expr:
        items = [self._factor()]
        while self.peek.kind in _TERM_START:
            items.append(self._factor())
        return _combine(And, items)

    def _factor(self) -> Expr:
        items = [self._term()]
        while self.peek.kind == "OR":
            self._advance()
            items.append(self._term())
        return _combine(Or, items)

    def _term(self) -> Expr:
        token = self.peek
        if token.kind in ("NOT", "-"):
            self._advance()
            self._enter(token)
            item = self._term()
            self.depth -= 1
            return Not(item)
        return self._simple()

    def _simple(self) -> Expr:
        token = self.peek
        if token.kind == "(":
            return self._group()
        if token.kind == "word":
            return self._restriction()
        if token.kind == "string":
            raise _bare_value(token)
        self._fail(token, "expected a comparison such as display_name:\"x\" or a '('")

    def _group(self) -> Expr:
        opening = self._advance()
        self._enter(opening)
        expr = self._expression()
        if self.peek.kind != ")":
            raise FilterError(
                f"expected ')', found {_describe(self.peek)}",
                self.peek.start,
                hint=f"the '(' at position {opening.start} is not closed",
            )
        self._advance()
        self.depth -= 1
        return expr

    def _enter(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > self.max_depth:
            raise FilterError(f"filter nests more than {self.max_depth} levels deep", token.start)

    def _restriction(self) -> Comparison:
        field_token = self._advance()
        field_text = self._field(field_token)
        op = self._advance()
        value = self._value(op)
        self.terms += 1
        if self.terms > self.max_terms:
            raise FilterError(f"filter has more than {self.max_terms} comparisons", field_token.start)
        return Comparison(field_text, op.text, value, field_token.start)

    def _field(self, token: _Token) -> str:
        """Validate the field path and check an operator follows; glues on a quoted last part (`labels."a-b"`)."""
        text = token.text
        nxt = self.peek
        if text.endswith(".") and nxt.kind == "string" and not nxt.spaced:
            if not _QUOTED_KEY_PREFIX_RE.fullmatch(text):
                raise _bad_field(text, token.start)
            self._advance()
            text += _quote(nxt.text)
        elif self.peek.kind != "op":
            raise _bare_value(token)
        elif not _PATH_RE.fullmatch(text):
            raise _bad_field(text, token.start)
        if self.peek.kind != "op":
            raise FilterError(
                f"expected an operator (=, !=, <, <=, >, >=, :) after field {text}, found {_describe(self.peek)}",
                self.peek.start,
            )
        return text

    def _value(self, op: _Token) -> Value:
        token = self.peek
        if token.kind == "string":
            self._advance()
            return Value("string", token.text, token.start)
        if token.kind == "-":
            # `x = -foo`: a word that happens to start with '-'.
            nxt = self.tokens[self.index + 1]
            if nxt.kind == "word" and not nxt.spaced:
                self._advance()
                self._advance()
                return Value("word", "-" + nxt.text, token.start)
        if token.kind == "word":
            self._advance()
            return Value(_word_kind(token.text), token.text, token.start)
        hint = "quote it to use a keyword as a value" if token.kind in _KEYWORDS else None
        raise FilterError(f"expected a value after '{op.text}', found {_describe(token)}", token.start, hint=hint)


def _word_kind(text: str) -> ValueKind:
    if text in ("true", "false"):
        return "bool"
    if text == "null":
        return "null"
    if _NUMBER_RE.fullmatch(text):
        return "number"
    return "word"


def _combine(kind: type[And] | type[Or], items: list[Expr]) -> Expr:
    """One item stays as is; nested nodes of the same kind are flattened (AND and OR are associative)."""
    if len(items) == 1:
        return items[0]
    flat: list[Expr] = []
    for item in items:
        flat.extend(item.items if isinstance(item, kind) else (item,))
    return kind(tuple(flat))


def _bare_value(token: _Token) -> FilterError:
    shown = _quote(token.text) if token.kind == "string" else token.text
    hint = "write FIELD OPERATOR VALUE, for example display_name:" + _quote(token.text)
    if token.kind == "word" and token.text.upper() in _KEYWORDS:
        hint = f"keywords are upper case: {token.text.upper()}"
    return FilterError(f"a field is required: bare value {shown} (global search is not supported)", token.start, hint=hint)


def _bad_field(text: str, position: int) -> FilterError:
    return FilterError(
        f"invalid field name {_quote(text)}",
        position,
        hint='fields are identifiers joined by dots; quote a map key like labels."my-key"',
    )


# --- Public API ------------------------------------------------------------


def parse_filter(text: str, *, max_length: int = 2000, max_terms: int = 50, max_depth: int = 10) -> Expr | None:
    """Parse an AIP-160 filter; None for an empty one. Raises only FilterError."""
    if len(text) > max_length:
        raise FilterError(f"filter is too long: {len(text)} characters, at most {max_length} allowed")
    if not text.strip():
        return None
    try:
        return _Parser(text, max_terms, max_depth).parse()
    except RecursionError:  # only reachable with a huge max_depth; keep the "only FilterError" promise
        raise FilterError("filter nests too deeply") from None


def split_field_path(field_text: str) -> tuple[str, ...]:
    """Split a field as written into parts: `labels."a.b"` -> ("labels", "a.b").

    Only the last part can be quoted (the parser guarantees it).
    """
    quote_at = min((i for i in (field_text.find('"'), field_text.find("'")) if i >= 0), default=-1)
    if quote_at < 0:
        return tuple(field_text.split("."))
    key = _Lexer(field_text[quote_at:])._string(spaced=False).text
    return (*field_text[: quote_at - 1].split("."), key)
