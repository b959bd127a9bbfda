"""Verify a proposed controller guard (MODEL.md §7): the guard language, its analysis, the verdict.

A *guard* is a predicate over the acting controller's **view** (cert-manager's informer cache),
conjoined to that controller's actions where the real code would return early.  This module

* parses the guard language with a hand-written tokenizer and recursive-descent parser (no
  ``eval``, ``exec`` or ``ast`` of user text), type-checks it against the model's fields, and
  compiles it to a :class:`certloop.checker.expr.Expr` (:func:`parse_guard`, :func:`compile_guard`);
* analyses each guard alone with Z3 (:func:`analyse`): satisfiable, a tautology, and its relation
  to the shipped v1.18 guard with readable example views;
* model-checks the guard set over a matrix of scenarios (:func:`verify`) and reduces the result
  to one verdict, ACCEPTED or REJECTED (:data:`COUNTED`);
* runs MODEL.md §7.3's minimal-guard-set experiment (:func:`minimal_guards`);
* names the guards of MODEL.md §7 (:data:`BUILTINS`).

The grammar and every name are documented in ``docs/guards.md``.

>>> g = parse_guard("keymanager", "not view.certificate.deletion_timestamp")
>>> g.controller, g.action
('keymanager', None)
>>> parse_guard("keymanager", "not view.certificate.deletion_timstamp")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
certloop.guards.GuardError: unknown field 'deletion_timstamp' of view.certificate at column 22; ...
"""

from __future__ import annotations

import difflib
import itertools
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Mapping, Sequence

from certloop.checker.check import HOLDS, UNKNOWN, VIOLATED
from certloop.checker.expr import (
    Expr, ModelError, Var, and_, const, implies, ite, not_, or_, select, show, variables,
)
from certloop.checker.spec import Conjunct
from certloop.model.apiserver import CR_NAMES, DEFAULTS, PHASE, SLOTS, REV_MOD, Obj
from certloop.model.controllers.base import GATED, NextRequest
from certloop.model.scenario import VERSIONS, Config, World, build

__all__ = [
    "GuardError", "Guard", "parse_guard", "parse_guard_file", "compile_guard", "guard_hook",
    "CONTROLLERS", "ACTIONS", "TARGETS", "OBJECTS", "FIELDS", "BUILTINS", "builtin_guards",
    "REFERENCE", "MAX_LENGTH", "MAX_DEPTH", "MAX_QUANTIFIERS",
    "Analysis", "analyse", "analysis_world",
    "DEFAULT_MATRIX", "FRESH_SCENARIO", "COUNTED", "counted_properties", "matrix_scenarios",
    "Verification", "verify",
    "MINIMAL_SCENARIOS", "MINIMAL_PROPERTIES", "MinimalGuards", "minimal_guards",
]

MAX_LENGTH = 2000         # characters of one guard
MAX_DEPTH = 64            # nesting of parentheses, not, implies, quantifiers, unary minus
MAX_QUANTIFIERS = 3       # nested any/all (each expands its body once per CertificateRequest slot)
MAX_DIGITS = 9

# --------------------------------------------------------------------------- names

CONTROLLERS = ("trigger", "keymanager", "requestmanager", "issuing", "signer")
ACTIONS: dict[str, tuple[str, ...]] = {
    "trigger": ("set_issuing",),
    "keymanager": ("delete_key", "unset_next_key", "create_key", "set_next_key"),
    "requestmanager": ("delete_request", "create_request"),
    "issuing": ("issue_certificate", "fail_issuance", "reown_secret"),
    "signer": ("sign_request", "fail_request"),
}
# A guard targets a whole controller or one action of a certificate controller.  The signer's
# guard applies to both of its actions (per CertificateRequest).
TARGETS = CONTROLLERS + tuple(f"{c}.{a}" for c in GATED for a in ACTIONS[c])

BOOL, INT, PHASE_T, STRING = "bool", "int", "phase", "string"
CERT, REQ, SECRET = "Certificate", "CertificateRequest", "Secret"

# user field -> (model field, type, one-line meaning), per kind of object
FIELDS: dict[str, dict[str, tuple[str, str, str]]] = {
    CERT: {
        "exists": ("present", BOOL, "the Certificate is in the view (always true where a certificate "
                                    "controller acts: the lister NotFound check comes first)"),
        "deletion_timestamp": ("delTS", BOOL, "metadata.deletionTimestamp is set"),
        "has_foreground_finalizer": ("fg", BOOL, "the foregroundDeletion finalizer is present"),
        "has_orphan_finalizer": ("orphan", BOOL, "the orphan finalizer is present"),
        "has_test_finalizer": ("test", BOOL, "the #7361 e2e test's own finalizer is present"),
        "issuing": ("issuing", BOOL, "the Issuing condition is True"),
        "next_key_set": ("nextKeySet", BOOL, "status.nextPrivateKeySecretName is set"),
        "revision": ("rev", INT, "status.revision modulo 6 (0..5)"),
        "failed": ("failed", BOOL, "a failed issuance is backing off"),
    },
    REQ: {
        "exists": ("present", BOOL, "the CertificateRequest is in the view"),
        "deletion_timestamp": ("delTS", BOOL, "metadata.deletionTimestamp is set"),
        "has_issuer_finalizer": ("fin", BOOL, "the external issuer's finalizer is present"),
        "phase": ("phase", PHASE_T, 'its phase: "Pending", "Issued" or "Failed"'),
        "revision": ("rev", INT, "its revision annotation modulo 6 (0..5)"),
        "key": ("key", INT, "which private key its CSR was made with (0..2)"),
        "owned": ("ref", BOOL, "it carries the Certificate's blocking controller reference"),
    },
    SECRET: {
        "exists": ("present", BOOL, "the Secret is in the view"),
        "deletion_timestamp": ("delTS", BOOL, "always false in the model: Secrets carry no finalizers, so "
                                              "a DELETE removes them at once"),
        "key": ("key", INT, "which private key it holds (0..2)"),
        "owned": ("ref", BOOL, "it carries the Certificate's blocking controller reference"),
    },
}

# user object -> (kind, is a collection, meaning); "request" is the signer's own CR
OBJECTS: dict[str, tuple[str, bool, str]] = {
    "certificate": (CERT, False, "the Certificate being reconciled"),
    "secret": (SECRET, False, "the spec Secret (spec.secretName)"),
    "next_key": (SECRET, False, "the next-private-key Secret"),
    "next_request": (REQ, False, "the CertificateRequest of revision status.revision+1 (absent if the "
                                 "slot holds no CR of that revision)"),
    "current_request": (REQ, False, "the CertificateRequest of revision status.revision"),
    "requests": (REQ, True, "the three CertificateRequest name slots: `any r in view.requests: ...`, "
                            "or view.requests[0..2]"),
    "request": (REQ, False, "the signer only: the CertificateRequest it is reconciling"),
}
_MODEL_NAME = {"certificate": "C", "secret": "S", "next_key": "K"}

ROOTS = {"view": "the acting controller's own informer cache (cert-manager's shared cache)",
         "live": "the live object in the API server (a GET; rejected unless --allow-live)"}
OTHER_PROCESS_ROOTS = {
    "issuer_view": "the external issuer's cache, another process",
    "gc_view": "the garbage collector's graph, another process",
    "graph": "the garbage collector's graph, another process",
    "cache": None, "lister": None,
}
KEYWORDS = ("and", "or", "not", "implies", "any", "all", "in", "true", "false")

# The shipped v1.18 guard of each controller (PR #7454): the reference of the Z3 comparison.
REFERENCE = {c: "not view.certificate.deletion_timestamp" for c in GATED}
REFERENCE["signer"] = "not view.request.deletion_timestamp"


# --------------------------------------------------------------------------- errors


class GuardError(ValueError):
    """A guard is not well-formed: a syntax error, an unknown name, a type error, a limit.

    ``column`` (1-based) points into ``text``; ``str()`` gives the message, the position, the
    valid names and a caret line.
    """

    def __init__(self, message: str, text: str = "", pos: int = 0, valid: Sequence[str] | None = None,
                 hint: str | None = None, where: str = ""):
        self.message = message
        self.text = text
        self.pos = max(0, min(pos, len(text)))
        self.valid = list(valid) if valid else []
        self.hint = hint
        self.where = where
        super().__init__(self._render())

    @property
    def line(self) -> int:
        return self.text.count("\n", 0, self.pos) + 1

    @property
    def column(self) -> int:
        start = self.text.rfind("\n", 0, self.pos) + 1
        return self.pos - start + 1

    def _render(self) -> str:
        loc = f" at column {self.column}" if self.line == 1 else f" at line {self.line}, column {self.column}"
        head = (f"{self.where}: " if self.where else "") + self.message + (loc if self.text else "")
        if self.hint:
            head += f"; did you mean {self.hint!r}?"
        if self.valid:
            head += "; valid: " + ", ".join(self.valid)
        if not self.text:
            return head
        return head + "\n" + self.caret()

    def caret(self) -> str:
        """The offending line (a window of at most 76 characters) and a caret under the position."""
        start = self.text.rfind("\n", 0, self.pos) + 1
        end = self.text.find("\n", self.pos)
        line = self.text[start:end if end >= 0 else len(self.text)]
        col = self.pos - start
        lo = max(0, col - 38)
        hi = min(len(line), lo + 76)
        shown = "".join(c if c.isprintable() and ord(c) < 0x7f else "?" for c in line[lo:hi])
        pre = "..." if lo > 0 else ""
        post = "..." if hi < len(line) else ""
        return f"    {pre}{shown}{post}\n    {' ' * (len(pre) + col - lo)}^"

    def located(self, where: str) -> "GuardError":
        return GuardError(self.message, self.text, self.pos, self.valid, self.hint, where)


def _close(word: str, options: Iterable[str]) -> str | None:
    m = difflib.get_close_matches(word, list(options), n=1, cutoff=0.75)
    return m[0] if m else None


def _q(s: str) -> str:
    """User text quoted for a message: ASCII only (escapes), at most 60 characters."""
    s = str(s)
    return ascii(s[:60]) + ("..." if len(s) > 60 else "")


def _show_char(c: str) -> str:
    if c.isprintable() and ord(c) < 0x7f:
        return f"'{c}'"
    return f"U+{ord(c):04X}"


# --------------------------------------------------------------------------- tokenizer


@dataclass(frozen=True)
class Token:
    kind: str          # "name", "int", "string", "op", "eof"
    text: str
    pos: int


_OPS2 = ("==", "!=", "<=", ">=")
_OPS1 = "<>+-().,:[]"
_BAD = {"&&": "use 'and'", "||": "use 'or'", "=>": "use 'implies'", "->": "use 'implies'",
        "&": "use 'and'", "|": "use 'or'", "!": "use 'not'", "=": "use '==' to compare",
        "~": "use 'not'", "^": "there is no exclusive or; use '!=' between booleans"}


def tokenize(text: str) -> list[Token]:
    """Split a guard into tokens; ``#`` starts a comment that runs to the end of the line."""
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
            continue
        if c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if c.isascii() and (c.isalpha() or c == "_"):
            j = i + 1
            while j < n and text[j].isascii() and (text[j].isalnum() or text[j] == "_"):
                j += 1
            if j < n and not text[j].isascii() and text[j].isalnum():
                raise GuardError(f"names are ASCII only; unexpected character {_show_char(text[j])}", text, j)
            out.append(Token("name", text[i:j], i))
            i = j
            continue
        if c.isascii() and c.isdigit():
            j = i
            while j < n and text[j].isascii() and text[j].isdigit():
                j += 1
            if j < n and text[j].isascii() and (text[j].isalpha() or text[j] == "_"):
                raise GuardError("a number runs into a name", text, j)
            if j - i > MAX_DIGITS:
                raise GuardError(f"integer literal longer than {MAX_DIGITS} digits", text, i)
            out.append(Token("int", text[i:j], i))
            i = j
            continue
        if c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                if not (text[j].isascii() and text[j].isprintable()):
                    raise GuardError(f"strings are printable ASCII only; unexpected character "
                                     f"{_show_char(text[j])}", text, j)
                j += 1
            if j >= n or text[j] != c:
                raise GuardError("unterminated string (strings have no escapes and end on the same line)",
                                 text, i)
            out.append(Token("string", text[i + 1:j], i))
            i = j + 1
            continue
        two = text[i:i + 2]
        if two in _OPS2:
            out.append(Token("op", two, i))
            i += 2
            continue
        if two in _BAD:
            raise GuardError(f"unexpected {two!r}: {_BAD[two]}", text, i)
        if c in _OPS1:
            out.append(Token("op", c, i))
            i += 1
            continue
        if c in _BAD:
            raise GuardError(f"unexpected {c!r}: {_BAD[c]}", text, i)
        raise GuardError(f"unexpected character {_show_char(c)}", text, i)
    out.append(Token("eof", "", n))
    return out


# --------------------------------------------------------------------------- syntax tree


@dataclass(frozen=True)
class Node:
    pos: int


@dataclass(frozen=True)
class Lit(Node):
    value: Any
    type: str


@dataclass(frozen=True)
class Path(Node):
    parts: tuple[tuple[Any, int], ...]      # (name or int index, position)

    def text(self, upto: int | None = None) -> str:
        s = ""
        for k, (p, _) in enumerate(self.parts[:upto]):
            s += f"[{p}]" if isinstance(p, int) else (("." if k else "") + p)
        return s


@dataclass(frozen=True)
class Not(Node):
    arg: Node


@dataclass(frozen=True)
class BoolOp(Node):
    op: str                                  # "and" | "or"
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Implies(Node):
    a: Node
    b: Node


@dataclass(frozen=True)
class Cmp(Node):
    op: str
    a: Node
    b: Node


@dataclass(frozen=True)
class Sum(Node):
    terms: tuple[tuple[str, Node], ...]      # ("+" | "-", term)


@dataclass(frozen=True)
class Quant(Node):
    kind: str                                # "any" | "all"
    var: str
    coll: Path
    body: Node


_CMP = ("==", "!=", "<", "<=", ">", ">=")


class _Parser:
    """Recursive descent.  Precedence, loosest first: quantifier body / implies (right), or, and,
    not, comparison (non-associative), + and -, primary."""

    def __init__(self, text: str):
        self.text = text
        self.toks = tokenize(text)
        self.i = 0
        self.depth = 0
        self.quant_depth = 0

    # ---- helpers
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def _is(self, kind: str, text: str | None = None) -> bool:
        t = self.tok
        return t.kind == kind and (text is None or t.text == text)

    def _kw(self, word: str) -> bool:
        return self._is("name", word)

    def _next(self) -> Token:
        t = self.tok
        if t.kind != "eof":
            self.i += 1
        return t

    def _err(self, msg: str, pos: int | None = None, **kw: Any) -> GuardError:
        return GuardError(msg, self.text, self.tok.pos if pos is None else pos, **kw)

    def _describe(self, t: Token) -> str:
        if t.kind == "eof":
            return "the end of the guard"
        if t.kind == "string":
            return f'the string "{t.text}"'
        return f"'{t.text}'"

    def _enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self._err(f"the guard nests deeper than {MAX_DEPTH} levels", pos)

    def _leave(self) -> None:
        self.depth -= 1

    # ---- grammar
    def parse(self) -> Node:
        node = self.expr()
        if not self._is("eof"):
            t = self.tok
            extra = ""
            if t.kind == "op" and t.text == ")":
                extra = " (an unmatched ')')"
            elif t.kind == "op" and t.text in "([":
                extra = " (the guard language has no calls or subscripts of values)"
            elif t.kind == "op" and t.text in _CMP:
                extra = " (comparisons do not chain; join them with 'and')"
            raise self._err(f"unexpected {self._describe(t)} after a complete expression{extra}")
        return node

    def expr(self) -> Node:
        self._enter(self.tok.pos)
        try:
            if self._kw("any") or self._kw("all"):
                return self.quant()
            left = self.disjunction()
            if self._kw("implies"):
                pos = self._next().pos
                right = self.expr()
                return Implies(pos, left, right)
            return left
        finally:
            self._leave()

    def disjunction(self) -> Node:
        pos = self.tok.pos
        items = [self.conjunction()]
        while self._kw("or"):
            self._next()
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else BoolOp(pos, "or", tuple(items))

    def conjunction(self) -> Node:
        pos = self.tok.pos
        items = [self.negation()]
        while self._kw("and"):
            self._next()
            items.append(self.negation())
        return items[0] if len(items) == 1 else BoolOp(pos, "and", tuple(items))

    def negation(self) -> Node:
        if self._kw("not"):
            pos = self._next().pos
            self._enter(pos)
            try:
                return Not(pos, self.negation())
            finally:
                self._leave()
        if self._kw("any") or self._kw("all"):
            return self.quant()
        return self.comparison()

    def quant(self) -> Node:
        kw = self._next()
        self._enter(kw.pos)
        self.quant_depth += 1
        try:
            if self.quant_depth > MAX_QUANTIFIERS:
                raise self._err(f"more than {MAX_QUANTIFIERS} nested quantifiers", kw.pos)
            t = self.tok
            if t.kind != "name" or t.text in KEYWORDS:
                raise self._err(f"expected a variable name after '{kw.text}', found {self._describe(t)}")
            if t.text in ROOTS or t.text in OTHER_PROCESS_ROOTS:
                raise self._err(f"'{t.text}' is reserved; choose another variable name")
            var = self._next()
            if not self._kw("in"):
                raise self._err(f"expected 'in' after '{kw.text} {var.text}', found {self._describe(self.tok)}")
            self._next()
            if not self._is("name") or self.tok.text in KEYWORDS:
                raise self._err(f"expected a collection such as view.requests, found {self._describe(self.tok)}")
            coll = self.path()
            if not self._is("op", ":"):
                raise self._err(f"expected ':' after '{kw.text} {var.text} in {coll.text()}', "
                                f"found {self._describe(self.tok)}")
            self._next()
            body = self.expr()
            return Quant(kw.pos, kw.text, var.text, coll, body)
        finally:
            self.quant_depth -= 1
            self._leave()

    def comparison(self) -> Node:
        left = self.sum()
        if self._is("op") and self.tok.text in _CMP:
            op = self._next()
            right = self.sum()
            if self._is("op") and self.tok.text in _CMP:
                raise self._err("comparisons do not chain; join them with 'and'")
            return Cmp(op.pos, op.text, left, right)
        return left

    def sum(self) -> Node:
        pos = self.tok.pos
        terms: list[tuple[str, Node]] = []
        sign = "+"
        if self._is("op", "-"):
            self._next()
            sign = "-"
        terms.append((sign, self.primary()))
        while self._is("op", "+") or self._is("op", "-"):
            sign = self._next().text
            terms.append((sign, self.primary()))
        if len(terms) == 1 and terms[0][0] == "+":
            return terms[0][1]
        return Sum(pos, tuple(terms))

    def primary(self) -> Node:
        t = self.tok
        if t.kind == "op" and t.text == "(":
            self._next()
            e = self.expr()
            if not self._is("op", ")"):
                raise self._err(f"expected ')' to close the '(' at column {t.pos + 1}, "
                                f"found {self._describe(self.tok)}")
            self._next()
            return e
        if t.kind == "int":
            self._next()
            return Lit(t.pos, int(t.text), INT)
        if t.kind == "string":
            self._next()
            return Lit(t.pos, t.text, STRING)
        if t.kind == "name":
            if t.text in ("true", "false"):
                self._next()
                return Lit(t.pos, t.text == "true", BOOL)
            if t.text in ("any", "all"):
                raise self._err(f"a quantifier inside a comparison or sum must be parenthesised: "
                                f"({t.text} r in view.requests: ...)")
            if t.text in KEYWORDS:
                raise self._err(f"expected a value, found the keyword '{t.text}'")
            return self.path()
        if t.kind == "eof":
            raise self._err("the guard ends too early; expected a value such as view.certificate.issuing")
        if t.kind == "op" and t.text == "-":
            raise self._err("expected a value, found '-'")
        raise self._err(f"expected a value, found {self._describe(t)}")

    def path(self) -> Path:
        t = self._next()
        parts: list[tuple[Any, int]] = [(t.text, t.pos)]
        while True:
            if self._is("op", "."):
                self._next()
                n = self.tok
                if n.kind != "name" or n.text in KEYWORDS:
                    raise self._err(f"expected a name after '.', found {self._describe(n)}")
                self._next()
                parts.append((n.text, n.pos))
            elif self._is("op", "["):
                b = self._next()
                n = self.tok
                if n.kind != "int":
                    raise self._err(f"expected an integer index after '[', found {self._describe(n)}")
                self._next()
                if not self._is("op", "]"):
                    raise self._err(f"expected ']' to close the '[' at column {b.pos + 1}")
                self._next()
                parts.append((int(n.text), n.pos))
            else:
                break
        return Path(t.pos, tuple(parts))


def parse(text: str) -> Node:
    """Parse a guard's text into a syntax tree (no names are checked yet)."""
    if not isinstance(text, str):
        raise GuardError(f"a guard must be text, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise GuardError(f"the guard is {len(text)} characters long; the limit is {MAX_LENGTH}",
                         text[:MAX_LENGTH + 1], MAX_LENGTH)
    stripped = "\n".join(line.split("#", 1)[0] for line in text.split("\n")).strip()
    if not stripped:
        raise GuardError("empty guard; write a boolean expression such as "
                         "'not view.certificate.deletion_timestamp' (or 'true')")
    return _Parser(text).parse()


# --------------------------------------------------------------------------- type checking


@dataclass(frozen=True)
class TNode:
    type: str


@dataclass(frozen=True)
class TConst(TNode):
    value: Any


@dataclass(frozen=True)
class TField(TNode):
    root: str              # "view" | "live"
    obj: tuple             # ("certificate",), ("requests", 2), ("var", "r"), ("request",), ...
    field: str             # model field name
    label: str             # user text, for messages


@dataclass(frozen=True)
class TNot(TNode):
    arg: TNode


@dataclass(frozen=True)
class TBool(TNode):
    op: str
    args: tuple[TNode, ...]


@dataclass(frozen=True)
class TCmp(TNode):
    op: str
    a: TNode
    b: TNode


@dataclass(frozen=True)
class TSum(TNode):
    terms: tuple[tuple[str, TNode], ...]


@dataclass(frozen=True)
class TQuant(TNode):
    kind: str
    var: str
    root: str
    body: TNode


_TYPE_WORD = {BOOL: "a boolean", INT: "an integer", PHASE_T: "a phase", STRING: "a string"}


def _tword(t: str) -> str:
    if t.startswith("object:"):
        return f"a {t.split(':', 1)[1]} object"
    if t.startswith("collection:"):
        return f"a collection of {t.split(':', 1)[1]}s"
    return _TYPE_WORD.get(t, t)


class _Checker:
    def __init__(self, text: str, controller: str, allow_live: bool):
        self.text = text
        self.controller = controller
        self.allow_live = allow_live
        self.bound: dict[str, str] = {}      # variable -> root
        self.reads: set[tuple[str, str]] = set()

    def err(self, msg: str, pos: int, **kw: Any) -> GuardError:
        return GuardError(msg, self.text, pos, **kw)

    def objects(self) -> list[str]:
        return [o for o in OBJECTS if o != "request" or self.controller == "signer"]

    def roots(self) -> list[str]:
        return ["view"] + (["live"] if self.allow_live else []) + sorted(self.bound)

    # ---- paths
    def path(self, p: Path, want_collection: bool = False) -> TNode | tuple[str, str]:
        parts = p.parts
        head, hpos = parts[0]
        if head in self.bound:
            obj: tuple = ("var", head)
            root = self.bound[head]
            kind, coll = REQ, False
            rest = parts[1:]
            seen = head
        else:
            if head == "live" and not self.allow_live:
                raise self.err("'live' reads the API server, not the controller's cache: a guard may only "
                               "read its own view (--allow-live permits it, for MODEL.md §7.2 W1)", hpos)
            if head in OTHER_PROCESS_ROOTS:
                what = OTHER_PROCESS_ROOTS[head] or "not a view the acting controller has"
                raise self.err(f"'{head}' is {what}; a {self.controller} guard reads only its own view "
                               f"(view.)", hpos, valid=self.roots())
            if head not in ROOTS:
                hint = _close(head, self.roots() + list(OBJECTS))
                msg = f"unknown name '{head}'"
                if head in OBJECTS:
                    msg += f" (objects are read through the view: view.{head})"
                    hint = None
                raise self.err(msg, hpos, valid=self.roots(), hint=hint)
            root = head
            if len(parts) == 1:
                raise self.err(f"'{head}' is a view; name an object: {head}.certificate, ...", hpos,
                               valid=[f"{head}.{o}" for o in self.objects()])
            oname, opos = parts[1]
            if isinstance(oname, int):
                raise self.err(f"'{head}' cannot be indexed; name an object", opos, valid=self.objects())
            if oname == "request" and self.controller != "signer":
                raise self.err(f"{head}.request is the CertificateRequest the signer reconciles; only a "
                               f"signer guard has it, not a {self.controller} guard", opos, valid=self.objects(),
                               hint="next_request")
            if oname not in OBJECTS:
                raise self.err(f"unknown object '{oname}' of {head}", opos, valid=self.objects(),
                               hint=_close(oname, self.objects()))
            kind, coll, _ = OBJECTS[oname]
            obj = (oname,)
            rest = parts[2:]
            seen = f"{head}.{oname}"
            if coll and rest and isinstance(rest[0][0], int):
                idx, ipos = rest[0]
                if not 0 <= idx < SLOTS:
                    raise self.err(f"{seen} has slots 0..{SLOTS - 1}, not {idx}", ipos)
                obj = (oname, idx)
                coll = False
                seen = f"{seen}[{idx}]"
                rest = rest[1:]
        if coll:
            if rest:
                fname, fpos = rest[0]
                raise self.err(f"{seen} is a collection; use 'any r in {seen}: r.{fname}' or {seen}[0..2]", fpos)
            if not want_collection:
                raise self.err(f"{seen} is a collection; quantify over it: any r in {seen}: ...", p.pos)
            return (root, obj[0])
        if want_collection:
            raise self.err(f"{seen} is not a collection; quantify over view.requests", p.pos)
        if not rest:
            raise self.err(f"{seen} is {_tword('object:' + kind)}, not a value; name a field", p.pos,
                           valid=list(FIELDS[kind]))
        fname, fpos = rest[0]
        if isinstance(fname, int):
            raise self.err(f"{seen} cannot be indexed", fpos)
        if fname not in FIELDS[kind]:
            raise self.err(f"unknown field '{fname}' of {seen}", fpos, valid=list(FIELDS[kind]),
                           hint=_close(fname, FIELDS[kind]))
        if len(rest) > 1:
            x, xpos = rest[1]
            raise self.err(f"{seen}.{fname} has no parts", xpos)
        mfield, ftype, _ = FIELDS[kind][fname]
        self.reads.add((root, obj[0] if obj[0] != "var" else "requests"))
        return TField(ftype, root, obj, mfield, f"{seen}.{fname}")

    # ---- expressions
    def check(self, n: Node) -> TNode:
        if isinstance(n, Lit):
            return TConst(n.type, n.value)
        if isinstance(n, Path):
            r = self.path(n)
            assert isinstance(r, TNode)
            return r
        if isinstance(n, Not):
            a = self.need(self.check(n.arg), BOOL, "'not'", n.arg)
            return TNot(BOOL, a)
        if isinstance(n, BoolOp):
            return TBool(BOOL, n.op, tuple(self.need(self.check(x), BOOL, f"'{n.op}'", x) for x in n.args))
        if isinstance(n, Implies):
            a = self.need(self.check(n.a), BOOL, "'implies'", n.a)
            b = self.need(self.check(n.b), BOOL, "'implies'", n.b)
            return TBool(BOOL, "or", (TNot(BOOL, a), b))
        if isinstance(n, Sum):
            terms = tuple((s, self.need(self.check(x), INT, f"'{s}'", x)) for s, x in n.terms)
            return TSum(INT, terms)
        if isinstance(n, Cmp):
            return self.cmp(n)
        if isinstance(n, Quant):
            if n.var in self.bound:
                raise self.err(f"'{n.var}' is already bound by an enclosing quantifier", n.pos)
            root, _ = self.path(n.coll, want_collection=True)  # type: ignore[misc]
            self.bound[n.var] = root
            try:
                body = self.need(self.check(n.body), BOOL, f"the body of '{n.kind}'", n.body)
            finally:
                del self.bound[n.var]
            return TQuant(BOOL, n.kind, n.var, root, body)
        raise self.err("unsupported expression", n.pos)  # pragma: no cover

    def need(self, t: TNode, typ: str, where: str, n: Node) -> TNode:
        if t.type != typ:
            what = f"{t.label} is " if isinstance(t, TField) else "this is "
            raise self.err(f"{where} needs {_tword(typ)}; {what}{_tword(t.type)}", _start(n))
        return t

    def cmp(self, n: Cmp) -> TNode:
        a, b = self.check(n.a), self.check(n.b)
        ta, tb = a.type, b.type
        if STRING in (ta, tb):
            other, lit, lnode = (b, a, n.a) if ta == STRING else (a, b, n.b)
            if other.type != PHASE_T:
                raise self.err(f"a string can only be compared with a phase; the other side is "
                               f"{_tword(other.type)}", _start(lnode))
            if lit.value not in PHASE.values:  # type: ignore[attr-defined]
                raise self.err(f"{lit.value!r} is not a phase", _start(lnode), valid=list(PHASE.values),  # type: ignore[attr-defined]
                               hint=_close(str(lit.value), PHASE.values))  # type: ignore[attr-defined]
            lit = TConst(PHASE_T, lit.value)  # type: ignore[attr-defined]
            a, b = (lit, other) if ta == STRING else (other, lit)
            ta = tb = PHASE_T
        if ta != tb:
            raise self.err(f"'{n.op}' compares {_tword(ta)} with {_tword(tb)}", n.pos)
        if n.op in ("<", "<=", ">", ">=") and ta != INT:
            raise self.err(f"'{n.op}' needs integers; these are {_tword(ta)}s (use == or !=)", n.pos)
        return TCmp(BOOL, n.op, a, b)


def _start(n: Node) -> int:
    while True:
        if isinstance(n, (BoolOp,)):
            n = n.args[0]
        elif isinstance(n, Implies):
            n = n.a
        elif isinstance(n, Cmp):
            n = n.a
        elif isinstance(n, Sum) and n.terms[0][0] == "+":
            n = n.terms[0][1]
        else:
            return n.pos


# --------------------------------------------------------------------------- guards


@dataclass(frozen=True)
class Guard:
    """One checked guard: ``target`` is a controller or ``controller.action``."""

    target: str
    text: str
    tree: TNode
    reads: frozenset[tuple[str, str]]
    source: str = "user"
    allow_live: bool = False

    @property
    def controller(self) -> str:
        return self.target.split(".", 1)[0]

    @property
    def action(self) -> str | None:
        return self.target if "." in self.target else None

    @property
    def per_request(self) -> bool:
        """The guard reads the signer's own CR, so it differs per CertificateRequest slot."""
        return any(o == "request" for _, o in self.reads)

    @property
    def reads_live(self) -> bool:
        return any(r == "live" for r, _ in self.reads)

    def describe(self) -> str:
        return f"{self.target}: {' '.join(self.text.split())}"


def check_target(target: str) -> str:
    t = target.strip()
    if t in TARGETS:
        return t
    if "." in t and t.split(".", 1)[0] == "signer":
        raise GuardError(f"the signer's guard applies to all of its actions; target 'signer', not {_q(t)}")
    raise GuardError(f"unknown controller or action {_q(t)}", valid=list(TARGETS), hint=_close(t, TARGETS))


def parse_guard(target: str, text: str, allow_live: bool = False, source: str = "user") -> Guard:
    """Parse and type-check one guard for ``target``; raises :class:`GuardError`."""
    target = check_target(target)
    tree = parse(text)
    ck = _Checker(text, target.split(".", 1)[0], allow_live)
    t = ck.check(tree)
    if t.type != BOOL:
        what = f"{t.label} is " if isinstance(t, TField) else "this is "
        raise GuardError(f"a guard must be a boolean; {what}{_tword(t.type)}", text, _start(tree))
    return Guard(target, text, t, frozenset(ck.reads), source, allow_live)


def parse_guard_file(text: str, name: str = "<guard file>", allow_live: bool = False) -> list[Guard]:
    """Lines ``target: expression``; ``#`` comments; an indented line continues the previous guard."""
    if len(text) > 200 * MAX_LENGTH:
        raise GuardError(f"{name}: the file is too long ({len(text)} characters)")
    entries: list[tuple[int, int, str, list[str]]] = []      # (line number, column offset, target, lines)
    for k, line in enumerate(text.splitlines(), start=1):
        body = line.rstrip()
        if not body.strip() or body.lstrip().startswith("#"):
            continue
        if body[0] in " \t":
            if not entries:
                raise GuardError(f"{name}:{k}: an indented line continues a guard, but none has started")
            entries[-1][3].append(body)
            continue
        head, sep, rest = body.partition(":")
        if not sep:
            raise GuardError(f"{name}:{k}: expected 'controller: expression'", body, len(body))
        try:
            target = check_target(head)
        except GuardError as e:
            raise GuardError(e.message, body, 0, e.valid, e.hint, where=f"{name}:{k}") from None
        entries.append((k, len(head) + 1, target, [" " * (len(head) + 1) + rest]))
    if not entries:
        raise GuardError(f"{name}: no guard in the file (lines 'controller: expression')")
    out = []
    for k, off, target, lines in entries:
        expr = "\n".join(lines)
        try:
            g = parse_guard(target, expr, allow_live, source=f"{name}:{k}")
            out.append(replace(g, text=" ".join(expr.split())))
        except GuardError as e:
            ln = k + e.text.count("\n", 0, e.pos) if e.text else k
            raise GuardError(e.message, e.text, e.pos, e.valid, e.hint, where=f"{name}:{ln}") from None
    return out


# --------------------------------------------------------------------------- compiling


class _RequestAt:
    """The CR of revision ``V.C.rev + offset`` in its slot, or absent (``nextCR`` for offset 1)."""

    def __init__(self, V: Mapping[str, Obj], offset: int):
        if offset == 1:
            n = NextRequest(dict(V))
            self._present, self._field = n.present, n.field
            return
        C = V["C"]
        rev = (C.rev + offset) % REV_MOD
        slot = (C.rev + offset) % SLOTS
        self._present = or_(*[slot.eq(s) & V[f"CR[{s}]"].present & V[f"CR[{s}]"].rev.eq(rev) for s in range(SLOTS)])
        self._field = lambda f: select(slot, list(range(SLOTS)), lambda s: getattr(V[f"CR[{s}]"], f))

    def get(self, f: str) -> Expr:
        if f == "present":
            return self._present
        return ite(self._present, self._field(f), _default(f))


def _default(f: str) -> Expr:
    d = DEFAULTS[f]
    return const(d, PHASE) if f == "phase" else const(d)


@dataclass
class Scope:
    """What a guard's names refer to: the view and live objects, and the signer's CR slot."""

    view: Mapping[str, Obj]
    live: Mapping[str, Obj]
    slot: int | None = None

    def table(self, root: str) -> Mapping[str, Obj]:
        return self.view if root == "view" else self.live


def compile_guard(g: Guard | TNode, scope: Scope) -> Expr:
    """The guard as an expression over ``scope``'s objects."""
    tree = g.tree if isinstance(g, Guard) else g
    return _Compiler(scope).go(tree, {})


class _Compiler:
    def __init__(self, scope: Scope):
        self.scope = scope
        self.reqs: dict[tuple[str, int], _RequestAt] = {}

    def obj_field(self, n: TField, env: Mapping[str, tuple[str, int]]) -> Expr:
        root, obj, f = n.root, n.obj, n.field
        if obj[0] == "var":
            root, slot = env[obj[1]]
            return getattr(self.scope.table(root)[f"CR[{slot}]"], f)
        table = self.scope.table(root)
        name = obj[0]
        if name in _MODEL_NAME:
            return getattr(table[_MODEL_NAME[name]], f)
        if name == "requests":
            return getattr(table[f"CR[{obj[1]}]"], f)
        if name == "request":
            if self.scope.slot is None:
                raise ModelError("view.request needs the signer's CR slot")
            return getattr(table[f"CR[{self.scope.slot}]"], f)
        off = 1 if name == "next_request" else 0
        key = (root, off)
        if key not in self.reqs:
            self.reqs[key] = _RequestAt(table, off)
        return self.reqs[key].get(f)

    def go(self, n: TNode, env: Mapping[str, tuple[str, int]]) -> Expr:
        if isinstance(n, TConst):
            if n.type == PHASE_T:
                return const(n.value, PHASE)
            return const(n.value)
        if isinstance(n, TField):
            return self.obj_field(n, env)
        if isinstance(n, TNot):
            return not_(self.go(n.arg, env))
        if isinstance(n, TBool):
            parts = [self.go(x, env) for x in n.args]
            return and_(*parts) if n.op == "and" else or_(*parts)
        if isinstance(n, TSum):
            acc: Expr | None = None
            for sign, x in n.terms:
                e = self.go(x, env)
                if acc is None:
                    acc = (const(0) - e) if sign == "-" else e
                else:
                    acc = acc + e if sign == "+" else acc - e
            assert acc is not None
            return acc
        if isinstance(n, TCmp):
            a, b = self.go(n.a, env), self.go(n.b, env)
            if n.op == "==":
                return a.eq(b)
            if n.op == "!=":
                return a.ne(b)
            if n.op == "<":
                return a < b
            if n.op == "<=":
                return a <= b
            if n.op == ">":
                return b < a
            return b <= a
        if isinstance(n, TQuant):
            bodies = [self.go(n.body, {**env, n.var: (n.root, s)}) for s in range(SLOTS)]
            return or_(*bodies) if n.kind == "any" else and_(*bodies)
        raise ModelError(f"cannot compile {n!r}")  # pragma: no cover


def _conjunct_name(i: int) -> str:
    return f"proposed_guard_{i}"


def guard_hook(guards: Sequence[Guard], chain: Callable[[Any], None] | None = None) -> Callable[[Any], None]:
    """A ``build(cfg, guard_hook)`` hook adding each guard as one conjunct where it applies.

    Controller guards go to ``ctx.extra_controller`` (every action of that controller), action
    guards to ``ctx.extra_action``, and a signer guard that reads ``view.request`` to
    ``ctx.extra_signer`` (compiled once per CertificateRequest slot).
    """
    def hook(cx: Any) -> None:
        if chain is not None:
            chain(cx)
        for i, g in enumerate(guards):
            name, gloss = _conjunct_name(i), f"proposed guard ({g.source}): {' '.join(g.text.split())}"
            if g.controller == "signer" and g.per_request:
                for s, cr in enumerate(CR_NAMES):
                    e = compile_guard(g, Scope(cx.views.cm, cx.cl.live, s))
                    cx.extra_signer.setdefault(cr, []).append(Conjunct(name, gloss, e))
                continue
            e = compile_guard(g, Scope(cx.views.cm, cx.cl.live, None))
            c = Conjunct(name, gloss, e)
            if g.action is not None:
                cx.extra_action.setdefault(g.action, []).append(c)
            else:
                cx.extra_controller.setdefault(g.controller, []).append(c)
    return hook


# --------------------------------------------------------------------------- built-in guards


@dataclass(frozen=True)
class Builtin:
    name: str
    title: str
    guards: tuple[tuple[str, str], ...]
    allow_live: bool = False
    expected: str = ""


BUILTINS: dict[str, Builtin] = {b.name: b for b in (
    Builtin("v1.17", "G17, PR #7361: requestmanager and issuing return early on the cached deletionTimestamp",
            (("requestmanager", "not view.certificate.deletion_timestamp"),
             ("issuing", "not view.certificate.deletion_timestamp"))),
    Builtin("v1.18", "G18, PR #7454: all four certificate controllers, and the in-tree signer skips "
                     "terminating CRs",
            tuple((c, "not view.certificate.deletion_timestamp") for c in GATED)
            + (("signer", "not view.request.deletion_timestamp"),)),
    Builtin("never-create", "W0: keymanager and requestmanager never act (creates nothing)",
            (("keymanager", "false"), ("requestmanager", "false"))),
    Builtin("live-check-rm-only", "W1: requestmanager GETs the live Certificate before creating a CR",
            (("requestmanager.create_request", "not live.certificate.deletion_timestamp"),), allow_live=True),
    Builtin("terminating-cr-blocks", "W2: requestmanager creates nothing while any of its CRs is terminating",
            (("requestmanager.create_request",
              "not (any r in view.requests: r.exists and r.deletion_timestamp)"),)),
    Builtin("require-spec-secret", "W3: trigger, keymanager's create and requestmanager's create need the "
                                   "spec Secret",
            (("trigger", "view.secret.exists"), ("keymanager.create_key", "view.secret.exists"),
             ("requestmanager.create_request", "view.secret.exists"))),
    Builtin("foreground-only", "W4: the four certificate controllers test foregroundDeletion, not the "
                               "deletionTimestamp",
            tuple((c, "not view.certificate.has_foreground_finalizer") for c in GATED)),
)}


def builtin_guards(name: str) -> list[Guard]:
    b = BUILTINS.get(name)
    if b is None:
        raise GuardError(f"unknown built-in guard {_q(name)}", valid=list(BUILTINS), hint=_close(name, BUILTINS))
    return [parse_guard(t, x, allow_live=b.allow_live, source=f"built-in {name}") for t, x in b.guards]


# --------------------------------------------------------------------------- Z3 analysis


def analysis_world(base: str = "v1.16") -> World:
    """A model whose cert-manager view is separate from the live state (lagging caches), so that
    ``view.`` and ``live.`` are distinct variables; only its objects are used."""
    return build(Config(version=base, issuer="in-tree", init="in-flight", cache_cm="lagging",
                        cache_ext="lagging", cache_gc="lagging", gc="abstract"))


def well_formed(table: Mapping[str, Obj]) -> Expr:
    """What every record of a view satisfies (MODEL.md §4.1, K2, TypeOK): an absent object reads
    as its defaults; C's GC finalizers imply its deletionTimestamp; a terminating object keeps a
    finalizer (C: fg, orphan or test; a CR: the issuer's)."""
    out = []
    for n, o in table.items():
        defaults = [getattr(o, f).eq(_default(f)) for f in o.stored() if f not in ("present", "inc")]
        out.append(implies(~o.present, and_(*defaults)))
        if n == "C":
            out.append(implies(o.fg | o.orphan, o.delTS))
            out.append(implies(o.delTS, o.fg | o.orphan | o.test))
        elif n.startswith("CR"):
            out.append(implies(o.delTS, o.fin))
    return and_(*out)


@dataclass
class Analysis:
    guard: Guard
    expr: str                       # the compiled expression, shown
    reference: str                  # the v1.18 guard of that controller
    satisfiable: bool | None
    tautology: bool | None
    relation: str | None            # equivalent | stronger | weaker | incomparable (vs the reference)
    allowed_example: list[str] = field(default_factory=list)
    blocked_example: list[str] = field(default_factory=list)
    newly_blocks: list[list[str]] = field(default_factory=list)   # views v1.18 lets act, this guard blocks
    newly_allows: list[list[str]] = field(default_factory=list)   # views v1.18 blocks, this guard lets act
    assumptions: str = ""
    error: str | None = None

    def summary(self) -> str:
        if self.error:
            return f"unknown ({self.error})"
        sat = {True: "satisfiable", False: "UNSATISFIABLE (blocks every action)", None: "unknown"}[self.satisfiable]
        taut = {True: "a TAUTOLOGY (never blocks)", False: "not a tautology", None: "unknown"}[self.tautology]
        rel = {"equivalent": "equivalent to", "stronger": "stronger than (blocks more than)",
               "weaker": "weaker than (blocks less than)", "incomparable": "incomparable with"}.get(
            self.relation or "", "unknown vs")
        return f"{sat}; {taut}; {rel} v1.18's `{self.reference}`"

    def to_json(self) -> dict[str, Any]:
        return {"target": self.guard.target, "guard": self.guard.text, "source": self.guard.source,
                "compiled": self.expr, "reference": self.reference, "satisfiable": self.satisfiable,
                "tautology": self.tautology, "relation_to_reference": self.relation,
                "example_allowed": self.allowed_example, "example_blocked": self.blocked_example,
                "newly_blocks": self.newly_blocks, "newly_allows": self.newly_allows,
                "assumptions": self.assumptions, "error": self.error}


_OBJ_LABEL = {"C": "certificate", "K": "next_key", "S": "secret", **{f"CR[{s}]": f"requests[{s}]" for s in range(SLOTS)}}
_ORDER = ["C", *CR_NAMES, "K", "S"]


def _user_field(objname: str, mfield: str) -> str:
    kind = CERT if objname == "C" else REQ if objname.startswith("CR") else SECRET
    for u, (m, _, _) in FIELDS[kind].items():
        if m == mfield:
            return u
    return mfield


class _Renderer:
    """Assignments of view/live variables as readable objects."""

    def __init__(self, world: World):
        self.where: dict[Var, tuple[str, str, str]] = {}
        for root, table in (("view", world.views.cm), ("live", world.cluster.live)):
            for n, o in table.items():
                for f in o.stored():
                    self.where[o.var(f)] = (root, n, f)
        self.world = world

    def render(self, assignment: Mapping[Any, Any], touched: set[Var], signer: bool = False,
               derived: Iterable[tuple[str, str]] = ()) -> list[str]:
        """One line per object touched: the fields read, and any other field that is not at its
        default (``assignment`` should be a completion that prefers defaults)."""
        objs: dict[tuple[str, str], dict[str, Any]] = {}
        for v in touched:
            w = self.where.get(v)
            if w is None:
                continue
            root, n, f = w
            objs.setdefault((root, n), {})[f] = assignment.get(v)
        for v, val in assignment.items():
            w = self.where.get(v) if isinstance(v, Var) else None
            if w is None or (w[0], w[1]) not in objs or w[2] == "inc":
                continue
            if val != DEFAULTS[w[2]]:
                objs[(w[0], w[1])].setdefault(w[2], val)
        lines = []
        for root in ("view", "live"):
            table = self.world.views.cm if root == "view" else self.world.cluster.live
            for n in _ORDER:
                if (root, n) not in objs:
                    continue
                vals = objs[(root, n)]
                present = assignment.get(table[n].var("present"))
                label = _OBJ_LABEL[n]
                if signer and n == "CR[0]":
                    label = "request"
                if present is False:
                    desc = "absent"
                else:
                    parts = ["exists"]
                    for f in table[n].stored():
                        if f in ("present", "inc") or f not in vals:
                            continue
                        val = vals[f]
                        val = str(val).lower() if isinstance(val, bool) else val
                        parts.append(f"{_user_field(n, f)}={val}")
                    desc = ", ".join(parts)
                lines.append(f"{root}.{label}: {desc}")
        for root, name in derived:
            table = self.world.views.cm if root == "view" else self.world.cluster.live
            crev = assignment.get(table["C"].var("rev"), 0)
            off = 1 if name == "next_request" else 0
            slot, rev = (crev + off) % SLOTS, (crev + off) % REV_MOD
            cr = table[f"CR[{slot}]"]
            if assignment.get(cr.var("present")) and assignment.get(cr.var("rev")) == rev:
                lines.append(f"{root}.{name} = {root}.requests[{slot}] (revision {rev})")
            else:
                lines.append(f"{root}.{name}: absent (no CR of revision {rev} in slot {slot})")
        return lines

    def default_of(self, v: Var) -> Expr | None:
        w = self.where.get(v)
        if w is None or w[2] == "inc":
            return None
        return v.ref.eq(_default(w[2]))


def analyse(guards: Sequence[Guard], base: str = "v1.16", examples: int = 2,
            timeout_ms: int = 20000) -> list[Analysis]:
    """Z3 analysis of each guard alone, over well-formed views in which the controller can act.

    For each guard: is it satisfiable (else it disables the controller), a tautology (else it
    blocks something), and how does it relate to the shipped v1.18 guard of its controller
    (:data:`REFERENCE`)?  Example views are minimal: objects absent and fields at their defaults
    wherever the predicate allows.
    """
    from certloop.checker.smt import Smt, SmtUnknown
    world = analysis_world(base)
    V, L = world.views.cm, world.cluster.live
    rend = _Renderer(world)
    out = []
    memo: dict[tuple[str, str], Analysis] = {}
    for g in guards:
        key = (REFERENCE[g.controller], " ".join(g.text.split()))
        if key in memo:                           # the same text on another controller: same answer
            out.append(replace(memo[key], guard=g))
            continue
        smt = Smt(timeout_ms=timeout_ms)
        signer = g.controller == "signer"
        scope = Scope(V, L, 0 if signer else None)
        e = compile_guard(g, scope)
        ref_text = REFERENCE[g.controller]
        ref = compile_guard(parse_guard(g.controller, ref_text), scope)
        touched_vars = variables(e) | variables(ref)
        names = {tbl_name: [n for n, o in tbl.items() if any(o.var(f) in touched_vars for f in o.stored())]
                 for tbl_name, tbl in (("view", V), ("live", L))}
        ctx = [well_formed({n: V[n] for n in names["view"]})]
        assume = "well-formed views (absent objects read as defaults; a terminating object keeps a finalizer)"
        if names["live"]:
            ctx.append(well_formed({n: L[n] for n in names["live"]}))
            assume += "; the live objects likewise, unrelated to the view (caches lag without bound)"
        if signer:
            ctx.append(V["CR[0]"].present)
            assume += "; the signer's request (shown as requests[0]) is cached"
        else:
            ctx.append(V["C"].present)
            assume += "; the Certificate is cached (the lister NotFound check comes first)"
        context = and_(*ctx)
        objs = [V[n] for n in _ORDER if n in names["view"]] + [L[n] for n in _ORDER if n in names["live"]]
        touched = set(touched_vars) | {o.var("present") for o in objs}
        derived = sorted((r, o) for r, o in g.reads if o in ("next_request", "current_request"))

        def example(pred: Expr, limit: int) -> list[list[str]]:
            found: list[list[str]] = []
            avoid: list[Expr] = []
            for _ in range(limit):
                fixed = [pred, *avoid]
                ok, model = smt.is_satisfiable(and_(*fixed))
                if not ok:
                    break
                for o in objs:                    # prefer absent objects, then default fields
                    fs = sorted(o.stored(), key=lambda f: f == "fg")   # leave foregroundDeletion for last
                    ds = [d for d in (rend.default_of(o.var(f)) for f in fs) if d is not None]
                    ok, m = smt.is_satisfiable(and_(*fixed, *ds))
                    if ok:
                        fixed += ds
                        model = m
                        continue
                    for d in ds[1:]:
                        ok, m = smt.is_satisfiable(and_(*fixed, d))
                        if ok:
                            fixed.append(d)
                            model = m
                assert model is not None
                found.append(rend.render(model, touched, signer, derived))
                avoid.append(not_(and_(*[v.ref.eq(_lit(v, model[v])) for v in touched if v in model])))
            return found

        an = Analysis(g, show(e), ref_text, None, None, None, assumptions=assume)
        try:
            allowed = example(and_(context, e), 1)
            an.satisfiable = bool(allowed)
            an.allowed_example = allowed[0] if allowed else []
            blocked = example(and_(context, not_(e)), 1)
            an.tautology = not blocked
            an.blocked_example = blocked[0] if blocked else []
            an.newly_blocks = example(and_(context, ref, not_(e)), examples)   # v1.18 lets it act
            an.newly_allows = example(and_(context, e, not_(ref)), examples)   # v1.18 blocks
            an.relation = {(False, False): "equivalent", (True, False): "stronger",
                           (False, True): "weaker", (True, True): "incomparable"}[
                (bool(an.newly_blocks), bool(an.newly_allows))]
        except SmtUnknown as x:
            an.error = str(x)
        memo[key] = an
        out.append(an)
    return out


def _lit(v: Var, value: Any) -> Expr:
    return const(value, v.type if value.__class__ is str else None)


# --------------------------------------------------------------------------- model checking

# The rows of MODEL.md §6 that exercise a deletion, one per distinct configuration once the
# version is replaced by the base (rows 12-19 repeat rows 1-11 with another version).
DEFAULT_MATRIX = ("v1.16-idle", "seed", "v1.16-in-tree-in-flight", "v1.16-external-in-flight",
                  "v1.16-owner-ref-idle", "v1.16-background", "v1.16-orphan", "v1.16-orphan-owner-ref",
                  "v1.16-namespace-deletion", "v1.16-second-delete", "v1.16-e2e",
                  "v1.16-background-external-finalizer")
FRESH_SCENARIO = "v1.16-fresh"       # issuance_progresses from a fresh Certificate

# The properties that decide ACCEPTED / REJECTED (see counted_properties and docs/guards.md).
COUNTED = ("deletion_completes", "foreground_released", "deletion_completes_after_ns",
           "deletion_completes_after_second_delete", "bounded_churn", "no_create_after_deletion_seen_e2e",
           "issuance_progresses")


def counted_properties(cfg: Config) -> list[str]:
    """The properties that count for a scenario.

    * Completion: ``foreground_released`` if the e2e test finalizer is on (C then stays until the
      user removes it, which the user need never do); else ``deletion_completes_after_ns`` with
      namespace deletion, ``deletion_completes_after_second_delete`` with a second DELETE
      (MODEL.md §6: judge rows 9, 10 and 19 by these); else ``deletion_completes``.
    * ``bounded_churn`` (no fair cycle creates anything after the delete) and
      ``no_create_after_deletion_seen_e2e`` (what the #7361 e2e test observes), always.
    * ``issuance_progresses`` wherever it applies (a fresh start with a signing issuer).
    """
    if cfg.test_finalizer:
        out = ["foreground_released"]
    elif cfg.namespace_deletion:
        out = ["deletion_completes_after_ns"]
    elif cfg.again is not None:
        out = ["deletion_completes_after_second_delete"]
    else:
        out = ["deletion_completes"]
    out += ["bounded_churn", "no_create_after_deletion_seen_e2e"]
    if cfg.init == "fresh" and cfg.issuer_signs and not cfg.may_fail:
        out.append("issuance_progresses")
    return out


def _rebase(s: Any, base: str | None, gates: frozenset[str] | None, gc: str | None, caches: str | None) -> Any:
    from certloop.properties.scenarios import with_modes
    s = with_modes(s, gc=gc, caches=caches)
    cfg = s.config
    if base is not None:
        cfg = replace(cfg, version=base, gates=None, signer_guard=None)
    if gates is not None:
        cfg = replace(cfg, gates=frozenset(gates))
    return replace(s, config=cfg)


def matrix_scenarios(names: Sequence[str] | None = None, *, base: str = "v1.16", gc: str | None = "abstract",
                     caches: str | None = "fresh") -> list[Any]:
    """The scenarios to verify on, each with its version replaced by ``base``.

    ``names``: scenario names, or ``default`` (:data:`DEFAULT_MATRIX` plus :data:`FRESH_SCENARIO`)
    or ``all`` (every named scenario); configurations that coincide after the replacement are
    kept once (the first name)."""
    from certloop.properties import scenarios as scen
    if base not in VERSIONS:
        raise GuardError(f"unknown base version {base!r}", valid=list(VERSIONS))
    wanted: list[str] = []
    for n in names or ["default"]:
        for part in str(n).split(","):
            part = part.strip()
            if not part:
                continue
            if part == "default":
                wanted += list(DEFAULT_MATRIX) + [FRESH_SCENARIO]
            elif part == "all":
                wanted += [s.name for s in scen.SCENARIOS]
            else:
                try:
                    scen.get(part)
                except ModelError:
                    valid = ["default", "all"] + [s.name for s in scen.SCENARIOS]
                    raise GuardError(f"unknown scenario {_q(part)}", valid=valid, hint=_close(part, valid)) from None
                wanted.append(part)
    out, seen = [], set()
    for n in wanted:
        s = _rebase(scen.get(n), base, None, gc, caches)
        key = s.config
        if key in seen:
            continue
        seen.add(key)
        out.append(s)
    return out


@dataclass
class PropertyOutcome:
    name: str
    verdict: str
    counted: bool
    files: list[str] = field(default_factory=list)
    note: str = ""


@dataclass
class ScenarioOutcome:
    name: str
    row: int
    title: str
    knobs: dict[str, Any]
    states: int | None
    complete: bool
    properties: list[PropertyOutcome]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.name, "row": self.row, "title": self.title, "knobs": self.knobs,
                "states": self.states, "complete": self.complete, "notes": self.notes,
                "results": [{"property": p.name, "verdict": p.verdict, "counted": p.counted,
                             "counterexample_files": p.files, "note": p.note} for p in self.properties]}


@dataclass
class Verification:
    base: str
    guards: list[Guard]
    analyses: list[Analysis]
    scenarios: list[ScenarioOutcome]
    gc: str | None
    caches: str | None
    seconds: float = 0.0

    @property
    def first_failure(self) -> tuple[ScenarioOutcome, PropertyOutcome] | None:
        for s in self.scenarios:
            for p in s.properties:
                if p.counted and p.verdict == VIOLATED:
                    return s, p
        return None

    @property
    def first_unknown(self) -> tuple[ScenarioOutcome, PropertyOutcome] | None:
        for s in self.scenarios:
            for p in s.properties:
                if p.counted and p.verdict not in (HOLDS, VIOLATED):
                    return s, p
        return None

    @property
    def verdict(self) -> str:
        if self.first_failure is not None:
            return "REJECTED"
        if self.first_unknown is not None or not self.scenarios:
            return "UNKNOWN"
        return "ACCEPTED"

    @property
    def exit_code(self) -> int:
        return {"ACCEPTED": 0, "REJECTED": 1, "UNKNOWN": 3}[self.verdict]

    def verdict_line(self) -> str:
        v = self.verdict
        if v == "ACCEPTED":
            n = sum(1 for s in self.scenarios for p in s.properties if p.counted)
            return (f"ACCEPTED: every counted property holds ({n} verdicts on {len(self.scenarios)} scenarios, "
                    f"base {self.base}, gc={self.gc or 'scenario'}, caches={self.caches or 'scenario'})")
        if v == "REJECTED":
            s, p = self.first_failure  # type: ignore[misc]
            where = f"{s.name}" + (f" (row {s.row})" if s.row else "")
            return f"REJECTED: {p.name} is VIOLATED on {where}"
        if not self.scenarios:
            return "UNKNOWN: no scenario was checked"
        s, p = self.first_unknown  # type: ignore[misc]
        return f"UNKNOWN: nothing violated, but {p.name} is {p.verdict.upper()} on {s.name} ({p.note or 'a bound was hit'})"

    def to_json(self) -> dict[str, Any]:
        ff = self.first_failure
        return {"base": self.base, "gc": self.gc, "caches": self.caches,
                "guards": [{"target": g.target, "guard": g.text, "source": g.source} for g in self.guards],
                "counted_properties": list(COUNTED),
                "analysis": [a.to_json() for a in self.analyses],
                "scenarios": [s.to_json() for s in self.scenarios],
                "verdict": self.verdict, "verdict_line": self.verdict_line(),
                "first_failure": None if ff is None else {"scenario": ff[0].name, "row": ff[0].row,
                                                          "property": ff[1].name,
                                                          "counterexample_files": ff[1].files},
                "exit_code": self.exit_code}


def _check_one(s: Any, properties: Sequence[str], hook: Any, max_seconds: float | None,
               out_dir: str | None, counted: Sequence[str], notes: list[str]) -> ScenarioOutcome:
    from certloop.runner import caveats, run, write_artifacts
    t0 = time.monotonic()
    r = run(s, list(properties), max_seconds=max_seconds, guard_hook=hook, witnesses=True, measure=False)
    files: dict[str, list[str]] = {}
    if out_dir is not None:
        for p in write_artifacts(r, out_dir, formats=()):
            files.setdefault(p.name.split(".")[0], []).append(str(p))
    props = []
    for x in r.results:
        props.append(PropertyOutcome(x.name, x.verdict, x.name in counted, sorted(files.get(x.name, [])),
                                     x.note or ""))
    g = r.graph
    return ScenarioOutcome(s.name, s.row, s.title, s.config.knobs(), g.n_states, g.complete, props,
                           notes + caveats(r), time.monotonic() - t0)


def verify(guards: Sequence[Guard], *, base: str = "v1.16", matrix: Sequence[str] | None = None,
           gc: str | None = "abstract", caches: str | None = "fresh", max_seconds: float | None = None,
           out_dir: str | None = None, all_properties: bool = False, analysis: bool = True,
           model_check: bool = True, on_scenario: Callable[[ScenarioOutcome], None] | None = None) -> Verification:
    """Analyse the guards with Z3 and model-check them over the matrix.

    ``max_seconds`` is a budget for the whole matrix: each scenario gets what is left; once it is
    spent the remaining scenarios are UNKNOWN without running.
    """
    from certloop.properties import deletion
    from certloop.runner import select_properties
    t0 = time.monotonic()
    scenarios = matrix_scenarios(matrix, base=base, gc=gc, caches=caches)
    analyses = analyse(guards, base) if analysis else []
    outcomes: list[ScenarioOutcome] = []
    hook = guard_hook(guards)
    if model_check:
        for s in scenarios:
            world = build(s.config, hook)
            deletion.attach(world)
            applicable = select_properties(world, None)
            counted = [p for p in counted_properties(s.config) if p in applicable]
            props = applicable if all_properties else counted
            notes = []
            if any(g.controller == "signer" for g in guards) and s.config.issuer != "in-tree":
                notes.append("no in-tree signer in this scenario: the signer guard has no effect here")
            left = None
            if max_seconds is not None:
                left = max_seconds - (time.monotonic() - t0)
                if left <= 0:
                    o = ScenarioOutcome(s.name, s.row, s.title, s.config.knobs(), None, False,
                                        [PropertyOutcome(p, UNKNOWN, p in counted, note="time budget spent")
                                         for p in props], notes + ["not run: the --max-seconds budget was spent"])
                    outcomes.append(o)
                    if on_scenario:
                        on_scenario(o)
                    continue
            o = _check_one(s, props, hook, left, out_dir, counted, notes)
            outcomes.append(o)
            if on_scenario:
                on_scenario(o)
    return Verification(base, list(guards), analyses, outcomes, gc, caches, time.monotonic() - t0)


# --------------------------------------------------------------------------- minimal guard sets

MINIMAL_SCENARIOS = ("seed", "v1.16-owner-ref-idle", "v1.16-e2e", "v1.17-external-finalizer-in-flight",
                     "v1.17-owner-ref-idle")           # MODEL.md §6 rows 2, 5, 11, 13, 15
MINIMAL_PROPERTIES = ("deletion_completes", "foreground_released", "bounded_churn", "bounded_churn_requests",
                      "no_create_after_deletion_seen_e2e", "no_create_after_deletion_seen_all")


def _applies(prop: str, cfg: Config) -> bool:
    if prop == "deletion_completes":
        return not (cfg.test_finalizer or cfg.namespace_deletion or cfg.again is not None)
    if prop == "foreground_released":
        return cfg.test_finalizer
    return True


@dataclass
class MinimalGuards:
    scenarios: list[tuple[str, int, str]]             # (name, row, name of the run it shares)
    properties: list[str]
    subsets: list[frozenset[str]]
    verdicts: dict[tuple[frozenset[str], str, str], str]   # (subset, run name, property) -> verdict
    gc: str | None
    caches: str | None
    seconds: float = 0.0

    def holds(self, subset: frozenset[str], prop: str) -> str:
        """holds / violated / unknown over every scenario where ``prop`` applies."""
        vs = [self.verdicts.get((subset, run, prop)) for _, _, run in self.scenarios]
        vs = [v for v in vs if v is not None]
        if not vs:
            return "n/a"
        if any(v == VIOLATED for v in vs):
            return VIOLATED
        if all(v == HOLDS for v in vs):
            return HOLDS
        return UNKNOWN

    def defeat(self, subset: frozenset[str], prop: str) -> str | None:
        """The first scenario (name and row) whose counterexample defeats ``subset`` for ``prop``."""
        for name, row, run in self.scenarios:
            if self.verdicts.get((subset, run, prop)) == VIOLATED:
                return f"{name} (row {row})"
        return None

    def minimal(self, prop: str) -> list[frozenset[str]]:
        ok = [s for s in self.subsets if self.holds(s, prop) == HOLDS]
        return [s for s in ok if not any(t < s for t in ok)]

    def non_monotone(self, prop: str) -> list[tuple[frozenset[str], frozenset[str]]]:
        """Pairs (holding set, larger set that fails): adding a guard broke the property."""
        out = []
        for s in self.subsets:
            if self.holds(s, prop) != HOLDS:
                continue
            for t in self.subsets:
                if s < t and self.holds(t, prop) == VIOLATED:
                    out.append((s, t))
        return out

    def to_json(self) -> dict[str, Any]:
        props = {}
        for p in self.properties:
            mins = self.minimal(p)
            smaller = {}
            for m in mins:
                for k in range(len(m)):
                    for sub in itertools.combinations(sorted(m), k):
                        fs = frozenset(sub)
                        smaller[_set_text(fs)] = {"verdict": self.holds(fs, p), "defeated_by": self.defeat(fs, p)}
            props[p] = {"minimal_sets": [sorted(m) for m in mins], "smaller_sets": smaller,
                        "non_monotone": [[sorted(a), sorted(b)] for a, b in self.non_monotone(p)]}
        return {"gc": self.gc, "caches": self.caches,
                "scenarios": [{"name": n, "row": r, "run": run} for n, r, run in self.scenarios],
                "table": [{"set": sorted(s), **{p: self.holds(s, p) for p in self.properties}} for s in self.subsets],
                "properties": props}


def _set_text(s: Iterable[str]) -> str:
    return "{" + ", ".join(c for c in GATED if c in set(s)) + "}"


def minimal_guards(*, scenarios: Sequence[str] = MINIMAL_SCENARIOS, properties: Sequence[str] = MINIMAL_PROPERTIES,
                   gc: str | None = "abstract", caches: str | None = "fresh", max_seconds: float | None = None,
                   on_run: Callable[[frozenset[str], str, dict[str, str]], None] | None = None) -> MinimalGuards:
    """MODEL.md §7.3: ``Config(gates=subset)`` on base v1.16 for every subset of the four
    certificate controllers, on the given scenarios (version replaced by the custom gate set).

    Scenarios whose configuration coincides after the replacement (rows 2 and 13, 5 and 15) are
    run once and reported under each name."""
    from certloop.properties import deletion
    from certloop.properties import scenarios as scen
    from certloop.runner import run, select_properties
    t0 = time.monotonic()
    rows: list[tuple[str, int, str]] = []
    runs: dict[Config, Any] = {}
    for n in scenarios:
        try:
            s0 = scen.get(n)
        except ModelError:
            valid = [s.name for s in scen.SCENARIOS]
            raise GuardError(f"unknown scenario {_q(n)}", valid=valid, hint=_close(n, valid)) from None
        s = _rebase(s0, "v1.16", frozenset(), gc, caches)
        key = replace(s.config, gates=None)
        if key not in runs:
            runs[key] = s
        rows.append((s0.name, s0.row, runs[key].name))
    subsets = [frozenset(c) for k in range(len(GATED) + 1) for c in itertools.combinations(GATED, k)]
    verdicts: dict[tuple[frozenset[str], str, str], str] = {}
    for sub in subsets:
        for key, s in runs.items():
            s2 = replace(s, config=replace(s.config, gates=sub))
            world = build(s2.config)
            deletion.attach(world)
            applicable = select_properties(world, None)
            props = [p for p in properties if p in applicable and _applies(p, s2.config)]
            if not props:
                continue
            left = None
            if max_seconds is not None:
                left = max_seconds - (time.monotonic() - t0)
            if left is not None and left <= 0:
                res = {p: UNKNOWN for p in props}
            else:
                r = run(s2, props, max_seconds=left, witnesses=False, measure=False)
                res = {x.name: x.verdict for x in r.results}
            for p, v in res.items():
                verdicts[(sub, s.name, p)] = v
            if on_run:
                on_run(sub, s.name, res)
    return MinimalGuards(rows, list(properties), subsets, verdicts, gc, caches, time.monotonic() - t0)
