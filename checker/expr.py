"""The expression language: typed finite-domain variables and hash-consed expressions.

Every model is written in this language and nothing else.  The same expression objects are

* evaluated on one state (:func:`evaluate`) for traces and tests,
* evaluated on a whole frontier of packed states with NumPy (:mod:`checker.vector`),
* translated to Z3 (:mod:`checker.smt`, the only module importing z3),
* printed as Promela (:mod:`checker.promela`) and as readable text (:func:`show`).

Expressions are *interned*: building the same expression twice returns the same object, so
identity is structural equality and every back end gets common-subexpression elimination for
free (a memo keyed by ``id``).

>>> from certloop.checker.expr import Bool, IntRange, Schema, show, evaluate
>>> sch = Schema()
>>> x = sch.var("x", IntRange(0, 3))
>>> b = sch.var("b", Bool)
>>> e = (x + 1).eq(3) & ~b
>>> show(e)
'x + 1 == 3 and not b'
>>> evaluate(e, {x.var: 2, b.var: False})
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence, Union

__all__ = [
    "Type", "BoolType", "Bool", "Enum", "IntRange",
    "Var", "Expr", "Schema", "Record",
    "const", "TRUE", "FALSE", "and_", "or_", "not_", "implies", "ite", "any_", "all_",
    "select", "prime", "show", "evaluate", "variables", "substitute", "ModelError",
]


class ModelError(ValueError):
    """A model is ill-formed (a type error, an unknown name, an out-of-domain value)."""


# --------------------------------------------------------------------------- types


class Type:
    """A finite domain.  Values are encoded as the integers ``0 .. size-1``."""

    size: int
    name: str

    def encode(self, value: Any) -> int:
        raise NotImplementedError

    def decode(self, code: int) -> Any:
        raise NotImplementedError

    def contains(self, value: Any) -> bool:
        try:
            self.encode(value)
            return True
        except ModelError:
            return False

    @property
    def bits(self) -> int:
        return max(1, (self.size - 1).bit_length())


class BoolType(Type):
    name = "bool"
    size = 2

    def encode(self, value: Any) -> int:
        if value is True or value is False or value in (0, 1):
            return int(bool(value))
        raise ModelError(f"{value!r} is not a bool")

    def decode(self, code: int) -> bool:
        return bool(code)

    def __repr__(self) -> str:
        return "Bool"


Bool = BoolType()


class Enum(Type):
    """An enumeration; values are strings, stored as their index."""

    def __init__(self, name: str, values: Sequence[str]):
        if len(set(values)) != len(values) or not values:
            raise ModelError(f"enum {name}: values must be distinct and non-empty")
        self.name = name
        self.values = tuple(values)
        self.size = len(values)

    def encode(self, value: Any) -> int:
        if isinstance(value, str) and value in self.values:
            return self.values.index(value)
        raise ModelError(f"{value!r} is not a value of enum {self.name}; valid: {list(self.values)}")

    def decode(self, code: int) -> str:
        return self.values[code]

    def __repr__(self) -> str:
        return f"Enum({self.name})"


class IntRange(Type):
    """Integers ``lo .. hi`` inclusive."""

    def __init__(self, lo: int, hi: int):
        if hi < lo:
            raise ModelError(f"empty range {lo}..{hi}")
        self.lo, self.hi = lo, hi
        self.size = hi - lo + 1
        self.name = f"{lo}..{hi}"

    def encode(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not self.lo <= value <= self.hi:
            raise ModelError(f"{value!r} is outside {self.lo}..{self.hi}")
        return value - self.lo

    def decode(self, code: int) -> int:
        return code + self.lo

    def __repr__(self) -> str:
        return f"IntRange({self.lo}, {self.hi})"


# --------------------------------------------------------------------------- expressions

_INTERN: dict[tuple, "Expr"] = {}

Operand = Union["Expr", int, bool, str]


class Expr:
    """An interned expression node.  ``op`` names the operator, ``args`` the children.

    Use ``.eq``/``.ne`` for equality (``==`` keeps Python identity semantics so that
    expressions stay hashable), ``&``, ``|``, ``~`` for the Boolean connectives and
    ``+``, ``-``, ``<``, ``<=``, ``>``, ``>=`` for arithmetic and order.
    """

    __slots__ = ("op", "args", "value", "type", "var", "__weakref__")

    op: str
    args: tuple["Expr", ...]
    value: Any          # for const: the *decoded* value (bool, int or enum string)
    type: Type
    var: "Var | None"   # for var/prime nodes

    def __new__(cls, op: str, args: tuple["Expr", ...], value: Any, typ: Type, var: "Var | None" = None):
        key = (op, tuple(id(a) for a in args), value if op == "const" else None,
               id(typ) if op == "const" else None, id(var) if var is not None else None)
        hit = _INTERN.get(key)
        if hit is not None:
            return hit
        self = object.__new__(cls)
        self.op, self.args, self.value, self.type, self.var = op, args, value, typ, var
        _INTERN[key] = self
        return self

    # ---- builders
    def eq(self, other: Operand) -> "Expr":
        return _cmp("==", self, other)

    def ne(self, other: Operand) -> "Expr":
        return _cmp("!=", self, other)

    def __lt__(self, other: Operand) -> "Expr":  # type: ignore[override]
        return _cmp("<", self, other)

    def __le__(self, other: Operand) -> "Expr":  # type: ignore[override]
        return _cmp("<=", self, other)

    def __gt__(self, other: Operand) -> "Expr":  # type: ignore[override]
        return _cmp("<", _lift(other, self.type), self)

    def __ge__(self, other: Operand) -> "Expr":  # type: ignore[override]
        return _cmp("<=", _lift(other, self.type), self)

    def __add__(self, other: Operand) -> "Expr":
        return _arith("+", self, other)

    def __radd__(self, other: Operand) -> "Expr":
        return _arith("+", other, self)

    def __sub__(self, other: Operand) -> "Expr":
        return _arith("-", self, other)

    def __rsub__(self, other: Operand) -> "Expr":
        return _arith("-", other, self)

    def __mod__(self, k: int) -> "Expr":
        _need_int(self, "%")
        if not isinstance(k, int) or k <= 0:
            raise ModelError("% needs a positive integer constant")
        return Expr("%", (self, const(k)), None, _INT)

    def __and__(self, other: Operand) -> "Expr":
        return and_(self, other)

    def __rand__(self, other: Operand) -> "Expr":
        return and_(other, self)

    def __or__(self, other: Operand) -> "Expr":
        return or_(self, other)

    def __ror__(self, other: Operand) -> "Expr":
        return or_(other, self)

    def __invert__(self) -> "Expr":
        return not_(self)

    def __bool__(self) -> bool:
        raise ModelError("an expression has no Python truth value; use and_/or_/ite, or .eq() not ==")

    # ``==`` between two expressions is identity (= structural equality, since expressions are
    # interned), which keeps them hashable.  ``==`` against a Python constant is always a slip
    # for ``.eq`` (it would silently be False), so it raises.
    def __eq__(self, other: object) -> bool:  # type: ignore[override]
        if isinstance(other, (bool, int, str)):
            raise _slip(self, "==", "eq", other)
        return self is other if isinstance(other, Expr) else NotImplemented  # type: ignore[return-value]

    def __ne__(self, other: object) -> bool:  # type: ignore[override]
        if isinstance(other, (bool, int, str)):
            raise _slip(self, "!=", "ne", other)
        return self is not other if isinstance(other, Expr) else NotImplemented  # type: ignore[return-value]

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"Expr({show(self)})"


def _slip(e: Expr, op: str, method: str, other: object) -> ModelError:
    s = show(e)
    lhs = s if " " not in s else f"({s})"
    return ModelError(f"`{s} {op} {other!r}` compares a Python object, not a model value; "
                      f"write {lhs}.{method}({other!r})")


class _IntType(Type):
    """The type of an intermediate integer (``x + 1``) before it is stored."""
    name = "int"
    size = 0

    def __repr__(self) -> str:
        return "int"


_INT = _IntType()


def _is_intlike(t: Type) -> bool:
    return isinstance(t, (IntRange, _IntType))


def _need_bool(e: Expr, where: str) -> None:
    if e.type is not Bool:
        raise ModelError(f"{where}: expected a bool, got {e.type!r} in {show(e)}")


def _need_int(e: Expr, where: str) -> None:
    if not _is_intlike(e.type):
        raise ModelError(f"{where}: expected an integer, got {e.type!r} in {show(e)}")


def const(value: Any, typ: Type | None = None) -> Expr:
    """A constant.  The type is inferred for bools and ints; give it for enum values."""
    if typ is None:
        if isinstance(value, bool):
            typ = Bool
        elif isinstance(value, int):
            typ = _INT
        else:
            raise ModelError(f"cannot infer the type of constant {value!r}; pass typ=")
    elif isinstance(typ, Enum):
        typ.encode(value)
    elif typ is Bool:
        value = bool(value)
    return Expr("const", (), value, typ)


TRUE = const(True)
FALSE = const(False)


def _lift(x: Operand, like: Type) -> Expr:
    if isinstance(x, Expr):
        return x
    if isinstance(like, Enum):
        return const(x, like)
    if isinstance(x, bool):
        return const(x)
    if isinstance(x, int):
        return const(x)
    if isinstance(x, str):
        raise ModelError(f"string constant {x!r} compared with a {like!r}")
    raise ModelError(f"cannot use {x!r} in an expression")


def lift(x: Operand, like: Type) -> Expr:
    """An operand as an expression, typed like ``like`` when it is a bare constant."""
    return _lift(x, like)


def compatible(target: Type, source: Type) -> bool:
    """Can a value of type ``source`` be stored in a variable of type ``target``?"""
    if target is source:
        return True
    return isinstance(target, IntRange) and _is_intlike(source)


def _cmp(op: str, a: Operand, b: Operand) -> Expr:
    if op in ("<", "<="):
        for z in (a, b):
            if isinstance(z, Expr):
                _need_int(z, op)        # before an enum operand would try to encode the other
    if not isinstance(a, Expr):
        a = _lift(a, b.type if isinstance(b, Expr) else _INT)
    b = _lift(b, a.type)
    if op in ("<", "<="):
        _need_int(a, op)
        _need_int(b, op)
    else:
        same = (a.type is b.type) or (_is_intlike(a.type) and _is_intlike(b.type))
        if not same:
            raise ModelError(f"cannot compare {a.type!r} with {b.type!r}: {show(a)} {op} {show(b)}")
    if a.op == "const" and b.op == "const":
        va, vb = a.value, b.value
        return const({"==": va == vb, "!=": va != vb, "<": va < vb, "<=": va <= vb}[op])
    return Expr(op, (a, b), None, Bool)


def _arith(op: str, a: Operand, b: Operand) -> Expr:
    a = _lift(a, _INT)
    b = _lift(b, _INT)
    _need_int(a, op)
    _need_int(b, op)
    if a.op == "const" and b.op == "const":
        return const(a.value + b.value if op == "+" else a.value - b.value)
    return Expr(op, (a, b), None, _INT)


def not_(a: Operand) -> Expr:
    a = _lift(a, Bool)
    _need_bool(a, "not")
    if a.op == "const":
        return const(not a.value)
    if a.op == "not":
        return a.args[0]
    return Expr("not", (a,), None, Bool)


def _flat(op: str, items: Iterable[Operand]) -> Expr:
    unit, zero = (True, False) if op == "and" else (False, True)
    out: list[Expr] = []
    seen: set[int] = set()
    for x in items:
        x = _lift(x, Bool)
        _need_bool(x, op)
        if x.op == "const":
            if x.value == zero:
                return const(zero)
            continue
        for y in (x.args if x.op == op else (x,)):
            if id(y) not in seen:
                seen.add(id(y))
                out.append(y)
    if not out:
        return const(unit)
    if len(out) == 1:
        return out[0]
    return Expr(op, tuple(out), None, Bool)


def and_(*items: Operand) -> Expr:
    """Conjunction (flattened, constants folded).  ``and_()`` is true."""
    if len(items) == 1 and not isinstance(items[0], (Expr, bool, int)):
        items = tuple(items[0])  # type: ignore[arg-type]
    return _flat("and", items)


def or_(*items: Operand) -> Expr:
    """Disjunction (flattened, constants folded).  ``or_()`` is false."""
    if len(items) == 1 and not isinstance(items[0], (Expr, bool, int)):
        items = tuple(items[0])  # type: ignore[arg-type]
    return _flat("or", items)


def implies(a: Operand, b: Operand) -> Expr:
    return or_(not_(a), b)


def ite(c: Operand, a: Operand, b: Operand) -> Expr:
    """If-then-else; both branches must have the same type."""
    c = _lift(c, Bool)
    _need_bool(c, "ite condition")
    if isinstance(a, Expr) and not isinstance(b, Expr):
        b = _lift(b, a.type)
    elif isinstance(b, Expr) and not isinstance(a, Expr):
        a = _lift(a, b.type)
    else:
        a, b = _lift(a, _INT), _lift(b, _INT)
    assert isinstance(a, Expr) and isinstance(b, Expr)
    if not (a.type is b.type or (_is_intlike(a.type) and _is_intlike(b.type))):
        raise ModelError(f"ite branches differ in type: {a.type!r} vs {b.type!r}")
    if c.op == "const":
        return a if c.value else b
    if a is b:
        return a
    typ = a.type if a.type is b.type else _INT
    if typ is Bool:
        if a is TRUE and b is FALSE:
            return c
    return Expr("ite", (c, a, b), None, typ)


def any_(items: Iterable[Any], body: Callable[[Any], Operand]) -> Expr:
    """``any(body(i) for i in items)`` over a finite index set, expanded."""
    return or_(*[body(i) for i in items])


def all_(items: Iterable[Any], body: Callable[[Any], Operand]) -> Expr:
    """``all(body(i) for i in items)`` over a finite index set, expanded."""
    return and_(*[body(i) for i in items])


def select(index: Expr, items: Sequence[Any], body: Callable[[Any], Operand]) -> Expr:
    """``body(items[index])`` for an index known only at run time (a nested if-then-else)."""
    if not items:
        raise ModelError("select over an empty index set")
    out = _lift(body(items[-1]), Bool) if False else body(items[-1])
    for k in range(len(items) - 2, -1, -1):
        out = ite(index.eq(k), body(items[k]), out)
    return out if isinstance(out, Expr) else _lift(out, _INT)


# --------------------------------------------------------------------------- variables


class Var:
    """A scalar state variable.  ``Var.ref`` is the expression reading it."""

    __slots__ = ("name", "type", "init", "index", "ref", "primed", "doc")

    def __init__(self, name: str, typ: Type, init: Any, index: int, doc: str = ""):
        self.name = name
        self.type = typ
        self.init = init
        self.index = index
        self.doc = doc
        self.ref = Expr("var", (), None, typ, self)
        self.primed = Expr("prime", (), None, typ, self)

    def __repr__(self) -> str:
        return f"Var({self.name})"


def prime(e: Expr) -> Expr:
    """The value of a state expression in the *next* state (action properties only)."""
    return substitute(e, lambda v: v.primed)


class Record:
    """A group of variables named ``<name>.<field>`` (or ``<name>[i].<field>``).

    Attribute access gives the field's expression: ``rec.present``.
    """

    _name: str
    _fields: dict[str, Var]

    def __init__(self, name: str, fields: Mapping[str, Var]):
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_fields", dict(fields))

    def __getattr__(self, field: str) -> Expr:
        f = self._fields.get(field)
        if f is None:
            raise ModelError(f"record {self._name} has no field {field!r}; fields: {sorted(self._fields)}")
        return f.ref

    def var(self, field: str) -> Var:
        f = self._fields.get(field)
        if f is None:
            raise ModelError(f"record {self._name} has no field {field!r}; fields: {sorted(self._fields)}")
        return f

    @property
    def fields(self) -> dict[str, Var]:
        return dict(self._fields)

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"Record({self._name})"


class Schema:
    """The variables of a model, in declaration order (which fixes the packing)."""

    def __init__(self) -> None:
        self.vars: list[Var] = []
        self.by_name: dict[str, Var] = {}

    def var(self, name: str, typ: Type, init: Any = None, doc: str = "") -> Expr:
        """Declare a scalar variable; returns the expression that reads it."""
        return self.declare(name, typ, init, doc).ref

    def declare(self, name: str, typ: Type, init: Any = None, doc: str = "") -> Var:
        if name in self.by_name:
            raise ModelError(f"variable {name!r} declared twice")
        if init is None:
            init = typ.decode(0)
        typ.encode(init)
        v = Var(name, typ, init, len(self.vars), doc)
        self.vars.append(v)
        self.by_name[name] = v
        return v

    def record(self, name: str, fields: Mapping[str, Type | tuple[Type, Any]]) -> Record:
        """Declare one variable per field; ``fields`` maps a field to a type or ``(type, init)``."""
        out = {}
        for f, spec in fields.items():
            typ, init = spec if isinstance(spec, tuple) else (spec, None)
            out[f] = self.declare(f"{name}.{f}", typ, init)
        return Record(name, out)

    def records(self, name: str, index: Sequence[Any], fields: Mapping[str, Type | tuple[Type, Any]]) -> list[Record]:
        """One record per index value: ``name[i].field``."""
        return [self.record(f"{name}[{i}]", fields) for i in index]

    def __getitem__(self, name: str) -> Var:
        v = self.by_name.get(name)
        if v is None:
            import difflib
            close = difflib.get_close_matches(name, list(self.by_name), n=8, cutoff=0.6)
            close += [n for n in self.by_name if name.split(".")[-1] in n and n not in close]
            raise ModelError(f"unknown variable {name!r}; similar: {close[:8]}")
        return v


# --------------------------------------------------------------------------- traversal


def postorder(*roots: Expr) -> list[Expr]:
    """Nodes below ``roots`` in post-order, each once (one walk with one ``seen`` set)."""
    out: list[Expr] = []
    seen: set[int] = set()
    for r in roots:
        if id(r) in seen:
            continue
        stack: list[tuple[Expr, bool]] = [(r, False)]
        while stack:
            n, done = stack.pop()
            if done:
                out.append(n)
                continue
            if id(n) in seen:
                continue
            seen.add(id(n))
            stack.append((n, True))
            for a in reversed(n.args):
                if id(a) not in seen:
                    stack.append((a, False))
    return out


def variables(e: Expr) -> set[Var]:
    """The variables read by ``e`` (current and primed)."""
    return {n.var for n in postorder(e) if n.var is not None}


def substitute(e: Expr, fn: Callable[[Var], Expr | None], primed: Callable[[Var], Expr | None] | None = None) -> Expr:
    """Replace variable reads: ``fn(v)`` for current-state reads (None keeps it)."""
    memo: dict[int, Expr] = {}
    for n in postorder(e):
        if n.op == "var":
            r = fn(n.var)  # type: ignore[arg-type]
            memo[id(n)] = n if r is None else r
        elif n.op == "prime":
            r = primed(n.var) if primed else None  # type: ignore[arg-type]
            memo[id(n)] = n if r is None else r
        elif n.op == "const":
            memo[id(n)] = n
        else:
            memo[id(n)] = rebuild(n, [memo[id(a)] for a in n.args])
    return memo[id(e)]


def rebuild(n: Expr, args: Sequence[Expr]) -> Expr:
    """The node ``n`` with new children (re-running constant folding)."""
    op = n.op
    if op == "not":
        return not_(args[0])
    if op == "and":
        return and_(*args)
    if op == "or":
        return or_(*args)
    if op in ("==", "!=", "<", "<="):
        return _cmp(op, args[0], args[1])
    if op in ("+", "-"):
        return _arith(op, args[0], args[1])
    if op == "%":
        a = args[0]
        if a.op == "const":
            return const(a.value % args[1].value)
        return Expr("%", (a, args[1]), None, _INT)
    if op == "ite":
        return ite(args[0], args[1], args[2])
    raise ModelError(f"cannot rebuild {op}")


# --------------------------------------------------------------------------- evaluation


def evaluate(e: Expr, env: Mapping[Var, Any], nxt: Mapping[Var, Any] | None = None) -> Any:
    """Evaluate on one state given as decoded values (``nxt`` for primed reads)."""
    memo: dict[int, Any] = {}
    for n in postorder(e):
        op = n.op
        if op == "const":
            v = n.value
        elif op == "var":
            v = env[n.var]  # type: ignore[index]
        elif op == "prime":
            if nxt is None:
                raise ModelError(f"{show(n)} reads the next state outside an action property")
            v = nxt[n.var]  # type: ignore[index]
        else:
            a = [memo[id(x)] for x in n.args]
            if op == "not":
                v = not a[0]
            elif op == "and":
                v = all(a)
            elif op == "or":
                v = any(a)
            elif op == "==":
                v = a[0] == a[1]
            elif op == "!=":
                v = a[0] != a[1]
            elif op == "<":
                v = a[0] < a[1]
            elif op == "<=":
                v = a[0] <= a[1]
            elif op == "+":
                v = a[0] + a[1]
            elif op == "-":
                v = a[0] - a[1]
            elif op == "%":
                v = a[0] % a[1]
            elif op == "ite":
                v = a[1] if a[0] else a[2]
            else:  # pragma: no cover
                raise ModelError(f"unknown operator {op}")
        memo[id(n)] = v
    return memo[id(e)]


# --------------------------------------------------------------------------- printing

_PREC = {"or": 1, "and": 2, "not": 3, "==": 4, "!=": 4, "<": 4, "<=": 4, "+": 5, "-": 5, "%": 6}


def show(e: Expr) -> str:
    """Readable text, Python-like: ``not C.delTS and CR[1].phase == Issued``."""
    memo: dict[int, tuple[str, int]] = {}
    for n in postorder(e):
        op = n.op
        if op == "const":
            s, p = (str(n.value), 9)
        elif op == "var":
            s, p = (n.var.name, 9)  # type: ignore[union-attr]
        elif op == "prime":
            s, p = (n.var.name + "'", 9)  # type: ignore[union-attr]
        elif op == "ite":
            c, a, b = (memo[id(x)][0] for x in n.args)
            s, p = (f"({a} if {c} else {b})", 9)
        else:
            pr = _PREC[op]
            parts = []
            for i, x in enumerate(n.args):
                xs, xp = memo[id(x)]
                # comparisons never chain in the printed text: Python would read ``a == b == c``
                # as ``a == b and b == c``
                need = xp < pr or (xp == pr and (op in ("==", "!=", "<", "<=")
                                                 or (i > 0 and op in ("-", "%"))))
                parts.append(f"({xs})" if need else xs)
            if op == "not":
                s = f"not {parts[0]}"
            else:
                s = f" {op} ".join(parts)
            p = pr
        memo[id(n)] = (s, p)
    return memo[id(e)][0]
