"""Packed states and vectorised evaluation of expressions over a whole frontier.

A state is a row of ``W`` unsigned 64-bit words.  Each variable occupies a fixed bit field that
never straddles two words, so reading it is one shift and one mask on a NumPy column.  An
expression is evaluated over ``m`` states at once by walking its DAG once (a memo keyed by node
identity; expressions are interned, so shared subexpressions are computed once).

Values inside the evaluator are NumPy arrays: ``bool`` for Bool, ``int64`` for integers and enum
codes.  Constants stay Python scalars and broadcast.
"""

from __future__ import annotations

from functools import reduce
from typing import Any, Mapping, Sequence

import numpy as np

from certloop.checker.expr import Bool, Enum, Expr, IntRange, ModelError, Type, Var, postorder, show

__all__ = ["Layout", "VecEval", "fingerprint"]

U64 = np.uint64


class Layout:
    """Bit positions of every variable of a schema."""

    def __init__(self, vars: Sequence[Var]):
        self.vars = list(vars)
        self.word: dict[Var, int] = {}
        self.shift: dict[Var, int] = {}
        self.bits: dict[Var, int] = {}
        w, off = 0, 0
        for v in self.vars:
            b = v.type.bits
            if b > 64:
                raise ModelError(f"variable {v.name} needs {b} bits")
            if off + b > 64:
                w, off = w + 1, 0
            self.word[v], self.shift[v], self.bits[v] = w, off, b
            off += b
        self.W = w + 1
        self.total_bits = sum(self.bits.values())

    # ---- scalar packing
    def pack(self, values: Mapping[Var, Any]) -> np.ndarray:
        row = [0] * self.W
        for v in self.vars:
            row[self.word[v]] |= v.type.encode(values[v]) << self.shift[v]
        return np.array(row, dtype=U64)

    def unpack(self, row: np.ndarray) -> dict[Var, Any]:
        out = {}
        for v in self.vars:
            code = (int(row[self.word[v]]) >> self.shift[v]) & ((1 << self.bits[v]) - 1)
            if code >= v.type.size:
                raise ModelError(f"corrupt state: {v.name} has code {code}")
            out[v] = v.type.decode(code)
        return out

    # ---- vector decoding
    def column(self, words: np.ndarray, v: Var) -> np.ndarray:
        col = (words[:, self.word[v]] >> U64(self.shift[v])) & U64((1 << self.bits[v]) - 1)
        if v.type is Bool:
            return col.astype(bool)
        c = col.astype(np.int64)
        if isinstance(v.type, IntRange) and v.type.lo:
            c += v.type.lo
        return c

    def encode_column(self, v: Var, values: np.ndarray) -> np.ndarray:
        """Values of ``v`` (as the evaluator holds them) to unshifted codes; checks the domain."""
        t = v.type
        if t is Bool:
            return np.asarray(values, dtype=bool).astype(U64)
        vals = np.asarray(values, dtype=np.int64)
        lo = t.lo if isinstance(t, IntRange) else 0
        hi = t.hi if isinstance(t, IntRange) else t.size - 1
        bad = (vals < lo) | (vals > hi)
        if bad.any():
            raise DomainError(v, int(vals[bad][0]), int(np.flatnonzero(bad)[0]))
        return (vals - lo).astype(U64)


class DomainError(ModelError):
    """An effect assigned a value outside a variable's domain."""

    def __init__(self, var: Var, value: int, row: int):
        self.var, self.value, self.row = var, value, row
        super().__init__(f"{var.name} := {value} is outside its domain {var.type!r}")


def const_value(e: Expr) -> Any:
    """A constant node's value as the evaluator holds it (enum values become codes)."""
    if isinstance(e.type, Enum):
        return e.type.encode(e.value)
    return e.value


class VecEval:
    """Evaluate expressions over ``m`` packed states (``words``), with optional overrides.

    ``overrides`` maps variables to already computed arrays (the result of earlier effect
    blocks); ``nxt`` gives the packed post-states for primed reads.
    """

    def __init__(self, layout: Layout, words: np.ndarray, overrides: Mapping[Var, Any] | None = None,
                 nxt: np.ndarray | None = None, nxt_overrides: Mapping[Var, Any] | None = None):
        self.layout = layout
        self.words = words
        self.m = words.shape[0]
        self.overrides = dict(overrides or {})
        self.nxt = nxt
        self.memo: dict[int, Any] = {}

    def var(self, v: Var) -> Any:
        if v in self.overrides:
            return self.overrides[v]
        key = ("v", id(v))
        hit = self.memo.get(key)  # type: ignore[call-overload]
        if hit is None:
            hit = self.layout.column(self.words, v)
            self.memo[key] = hit  # type: ignore[index]
        return hit

    def __call__(self, e: Expr) -> Any:
        memo = self.memo
        hit = memo.get(id(e))
        if hit is not None:
            return hit
        for n in postorder(e):
            if id(n) in memo:
                continue
            op = n.op
            if op == "const":
                r = const_value(n)
            elif op == "var":
                r = self.var(n.var)  # type: ignore[arg-type]
            elif op == "prime":
                if self.nxt is None:
                    raise ModelError(f"{show(n)} reads the next state outside an action property")
                r = self.layout.column(self.nxt, n.var)  # type: ignore[arg-type]
            else:
                a = [memo[id(x)] for x in n.args]
                if op == "not":
                    r = ~a[0] if isinstance(a[0], np.ndarray) else (not a[0])
                elif op == "and":
                    r = reduce(np.logical_and, a)
                elif op == "or":
                    r = reduce(np.logical_or, a)
                elif op == "==":
                    r = np.equal(a[0], a[1])
                elif op == "!=":
                    r = np.not_equal(a[0], a[1])
                elif op == "<":
                    r = np.less(a[0], a[1])
                elif op == "<=":
                    r = np.less_equal(a[0], a[1])
                elif op == "+":
                    r = np.add(a[0], a[1])
                elif op == "-":
                    r = np.subtract(a[0], a[1])
                elif op == "%":
                    r = np.mod(a[0], a[1])
                elif op == "ite":
                    r = np.where(a[0], a[1], a[2])
                else:  # pragma: no cover
                    raise ModelError(f"unknown operator {op}")
            memo[id(n)] = r
        return memo[id(e)]

    def full(self, e: Expr, dtype: Any = None) -> np.ndarray:
        """Like calling, but always an array of length ``m``."""
        r = self(e)
        if isinstance(r, np.ndarray) and r.shape == (self.m,):
            return r
        return np.full(self.m, r, dtype=dtype if dtype is not None else (bool if e.type is Bool else np.int64))


_MUL = U64(0x9E3779B97F4A7C15)
_MUL2 = U64(0xBF58476D1CE4E5B9)


def fingerprint(words: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row (splitmix-style).  Collisions are detected by the explorer."""
    h = np.full(words.shape[0], U64(0x243F6A8885A308D3), dtype=U64)
    with np.errstate(over="ignore"):
        for k in range(words.shape[1]):
            h ^= words[:, k]
            h *= _MUL
            h ^= h >> U64(31)
            h *= _MUL2
            h ^= h >> U64(29)
    return h


def type_bounds(t: Type) -> tuple[int, int]:
    if isinstance(t, IntRange):
        return t.lo, t.hi
    return 0, t.size - 1
