"""A recursive-descent parser for the JQL subset impactlink sends, strict as Jira is.

Grammar (keywords case-insensitive)::

    query   := [or] [ORDER BY field [ASC|DESC] {"," field [ASC|DESC]}]
    or      := and {OR and}
    and     := unary {AND unary}
    unary   := NOT unary | "(" or ")" | clause
    clause  := field ("=" | "!=" | ">" | ">=" | "<" | "<=") value
             | field [NOT] IN "(" value {"," value} ")"
    field   := word | string | cf[digits]
    value   := word | string

Strings take double or single quotes with the escapes \\" \\' \\\\ \\n \\r \\t \\uXXXX; an
unknown escape, an unterminated string or a stray character is a syntax error, as in Jira.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

KEYWORDS = {"and", "or", "not", "in", "order", "by", "asc", "desc", "empty", "null", "is"}
_WORD = re.compile(r"cf\[\d+\]|[A-Za-z0-9_.\-]+")
_OPS = ("!=", ">=", "<=", "=", ">", "<", "(", ")", ",")
_ESC = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "r": "\r", "t": "\t", " ": " "}


class JqlError(ValueError):
    """The query is not valid JQL (Jira answers 400 with this message)."""


@dataclass(frozen=True)
class Token:
    kind: str  # "word", "string", "op", "end"
    text: str
    at: int

    def keyword(self, *names: str) -> bool:
        return self.kind == "word" and self.text.lower() in names


@dataclass(frozen=True)
class Clause:
    field: str
    op: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Node:
    op: str  # "and", "or", "not"
    children: tuple[Any, ...]


@dataclass(frozen=True)
class Query:
    where: Node | Clause | None
    order: tuple[tuple[str, bool], ...]
    """(field, descending) pairs."""


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "\"'":
            value, i = _string(text, i)
            tokens.append(Token("string", value, i))
        elif text.startswith(_OPS, i):
            op = next(o for o in _OPS if text.startswith(o, i))
            tokens.append(Token("op", op, i))
            i += len(op)
        else:
            m = _WORD.match(text, i)
            if m is None:
                raise JqlError(f"Error in the JQL Query: The character '{c}' is a reserved "
                               f"JQL character. You must enclose it in a string or use the "
                               f"escape '\\u{ord(c):04x}' instead. (line 1, character {i + 1})")
            tokens.append(Token("word", m.group(0), i))
            i = m.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def _string(text: str, start: int) -> tuple[str, int]:
    quote, i = text[start], start + 1
    out: list[str] = []
    while i < len(text):
        c = text[i]
        if c == quote:
            return "".join(out), i + 1
        if c == "\\":
            nxt = text[i + 1: i + 2]
            if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2: i + 6]):
                out.append(chr(int(text[i + 2: i + 6], 16)))
                i += 6
                continue
            if nxt not in _ESC:
                raise JqlError(f"Error in the JQL Query: '\\{nxt}' is an illegal JQL escape "
                               f"sequence. (line 1, character {i + 1})")
            out.append(_ESC[nxt])
            i += 2
            continue
        out.append(c)
        i += 1
    raise JqlError(f"Error in the JQL Query: Unterminated string (character {start + 1})")


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def take(self) -> Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def expect_op(self, op: str) -> None:
        if not (self.tok.kind == "op" and self.tok.text == op):
            self.fail(f"Expecting '{op}'")
        self.pos += 1

    def fail(self, what: str) -> None:
        got = self.tok.text or "end of query"
        raise JqlError(f"Error in the JQL Query: {what} but got '{got}'. "
                       f"(line 1, character {self.tok.at + 1})")

    def query(self) -> Query:
        where = None if self.tok.kind == "end" or self.tok.keyword("order") else self.or_()
        order: list[tuple[str, bool]] = []
        if self.tok.keyword("order"):
            self.take()
            if not self.tok.keyword("by"):
                self.fail("Expecting 'by'")
            self.take()
            while True:
                name = self.field()
                desc = False
                if self.tok.keyword("asc", "desc"):
                    desc = self.take().text.lower() == "desc"
                order.append((name, desc))
                if not (self.tok.kind == "op" and self.tok.text == ","):
                    break
                self.take()
        if self.tok.kind != "end":
            self.fail("Expecting either 'OR' or 'AND'")
        return Query(where, tuple(order))

    def or_(self) -> Node | Clause:
        parts = [self.and_()]
        while self.tok.keyword("or"):
            self.take()
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else Node("or", tuple(parts))

    def and_(self) -> Node | Clause:
        parts = [self.unary()]
        while self.tok.keyword("and"):
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else Node("and", tuple(parts))

    def unary(self) -> Node | Clause:
        if self.tok.keyword("not"):
            self.take()
            return Node("not", (self.unary(),))
        if self.tok.kind == "op" and self.tok.text == "(":
            self.take()
            inner = self.or_()
            self.expect_op(")")
            return inner
        return self.clause()

    def field(self) -> str:
        tok = self.tok
        if tok.kind == "string" or (tok.kind == "word" and tok.text.lower() not in KEYWORDS):
            self.take()
            return tok.text
        self.fail("Expecting a field name")
        raise AssertionError  # unreachable

    def value(self) -> str:
        tok = self.tok
        if tok.kind == "string" or (tok.kind == "word" and tok.text.lower() not in KEYWORDS):
            self.take()
            return tok.text
        self.fail("Expecting either a value, list or function")
        raise AssertionError  # unreachable

    def clause(self) -> Clause:
        name = self.field()
        negate = False
        if self.tok.keyword("not"):
            self.take()
            negate = True
            if not self.tok.keyword("in"):
                self.fail("Expecting 'in'")
        if self.tok.keyword("in"):
            self.take()
            self.expect_op("(")
            values = [self.value()]
            while self.tok.kind == "op" and self.tok.text == ",":
                self.take()
                values.append(self.value())
            self.expect_op(")")
            return Clause(name, "not in" if negate else "in", tuple(values))
        if self.tok.kind == "op" and self.tok.text in {"=", "!=", ">", ">=", "<", "<="}:
            op = self.take().text
            return Clause(name, op, (self.value(),))
        self.fail("Expecting operator")
        raise AssertionError  # unreachable


def parse(text: str) -> Query:
    """Parse a query or raise JqlError with Jira's kind of message."""
    return _Parser(text).query()


def clauses(node: Node | Clause | None) -> list[Clause]:
    """Return every clause of a where tree."""
    if node is None:
        return []
    if isinstance(node, Clause):
        return [node]
    return [c for child in node.children for c in clauses(child)]
