"""Bounds on one command: wall-clock time, resident memory and interruption.

A :class:`Budget` is created once per command (``certloop check``, a gate, a guard matrix) and
handed to every phase — exploration, liveness, lasso construction, Z3, rendering.  Each phase
calls :meth:`Budget.check` at its natural checkpoints (a BFS chunk, an SCC pass, a lasso step);
past a bound it raises :class:`BoundReached`, which names the phase and the bound, and the caller
turns what it knows into UNKNOWN results.  A bound never produces HOLDS.

Memory is bounded twice: cooperatively (``check`` compares the resident set size with
``max_memory``, read from ``/proc/self/statm``, a few microseconds) and, where the platform has
it, by a hard address-space limit (:meth:`Budget.enforce_address_space`) so that one large
allocation between two checkpoints fails with ``MemoryError`` — which the caller also reports
as a memory bound — instead of inviting the kernel's OOM killer.

A signal handler calls :meth:`Budget.interrupt`; the next checkpoint raises.  The budget is
plain data plus a flag, so it is safe to share between phases of one thread.

>>> b = Budget(max_seconds=60.0)
>>> b.check("exploration")          # nothing reached
>>> b.interrupt("SIGTERM")
>>> try:
...     b.check("liveness")
... except BoundReached as e:
...     print(e.kind, e.phase)
interrupted liveness
"""

from __future__ import annotations

import math
import os
import resource
import time
from typing import Literal

__all__ = ["Budget", "BoundReached", "BoundKind", "rss_bytes", "default_max_memory", "parse_size"]

BoundKind = Literal["time", "memory", "interrupted"]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class BoundReached(Exception):
    """A bound of the command was reached in ``phase``; what is known so far stays valid."""

    def __init__(self, kind: BoundKind, phase: str, detail: str) -> None:
        super().__init__(f"{detail} (during {phase})")
        self.kind: BoundKind = kind
        self.phase = phase
        self.detail = detail


def rss_bytes() -> int:
    """The resident set size of this process, in bytes (0 where it cannot be read)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _mem_total() -> int:
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f:
                if line.startswith(b"MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def default_max_memory() -> int | None:
    """A safe share of the machine's RAM: 75 % of MemTotal (None where it cannot be read)."""
    total = _mem_total()
    return int(total * 0.75) if total else None


_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20,
          "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tb": 1 << 40,
          "tib": 1 << 40}


def parse_size(text: str) -> int:
    """``"4G"``, ``"512MiB"``, ``"1.5g"`` or a byte count -> bytes (powers of 1024).

    Raises ``ValueError`` with a message that shows the accepted shapes.
    """
    s = text.strip().lower().replace("_", "")
    num = s.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = s[len(num):].strip()
    try:
        value = float(num)
    except ValueError:
        raise ValueError(f"{text!r} is not a size; use a number of bytes or e.g. 4G, 512M, 1.5GiB") from None
    if unit not in _UNITS:
        raise ValueError(f"{text!r}: unknown unit {unit!r}; use B, K, M, G or T (powers of 1024)")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{text!r}: a size must be a positive, finite number")
    return int(value * _UNITS[unit])


class Budget:
    """Time, memory and interruption bounds for one command.

    ``max_seconds`` counts from construction (``started``); ``max_memory`` is a resident-set
    bound in bytes.  Both are keyword-only and validated: NaN, infinity, zero and negative
    values are errors, not "unbounded".
    """

    __slots__ = ("max_seconds", "max_memory", "started", "_interrupted", "_parent")

    def __init__(self, *, max_seconds: float | None = None, max_memory: int | None = None,
                 started: float | None = None, parent: Budget | None = None) -> None:
        if max_seconds is not None:
            if isinstance(max_seconds, bool) or not isinstance(max_seconds, (int, float)):
                raise TypeError(f"max_seconds must be a number, not {type(max_seconds).__name__}")
            if not math.isfinite(max_seconds) or max_seconds <= 0:
                raise ValueError(f"max_seconds must be a positive, finite number, not {max_seconds!r}")
        if max_memory is not None:
            if isinstance(max_memory, bool) or not isinstance(max_memory, int):
                raise TypeError(f"max_memory must be an int (bytes), not {type(max_memory).__name__}")
            if max_memory <= 0:
                raise ValueError(f"max_memory must be positive, not {max_memory!r}")
        self.max_seconds = float(max_seconds) if max_seconds is not None else None
        self.max_memory = max_memory
        self.started = time.monotonic() if started is None else started
        self._interrupted: str | None = None
        self._parent = parent

    # -- derived budgets ------------------------------------------------------------------------
    def share(self, max_seconds: float | None = None) -> Budget:
        """A budget for one part of the command (a scenario of a matrix): at most ``max_seconds``
        from now and never past this budget's deadline; memory and interruption are shared."""
        own = None if max_seconds is None else time.monotonic() + max_seconds
        mine = self.deadline
        dl = own if mine is None else (mine if own is None else min(own, mine))
        now = time.monotonic()
        sub = Budget(max_memory=self.max_memory, parent=self)
        sub.started = now
        sub.max_seconds = None if dl is None else max(dl - now, 1e-9)
        return sub

    # -- reading --------------------------------------------------------------------------------
    @property
    def deadline(self) -> float | None:
        """The monotonic time at which the time bound is reached (None: no time bound)."""
        return None if self.max_seconds is None else self.started + self.max_seconds

    def remaining(self) -> float | None:
        """Seconds left (never negative; None: no time bound)."""
        dl = self.deadline
        return None if dl is None else max(0.0, dl - time.monotonic())

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def interrupted(self) -> str | None:
        """Why the command was interrupted (``"interrupted"``, ``"SIGTERM"``), or None."""
        if self._interrupted is not None:
            return self._interrupted
        return self._parent.interrupted if self._parent is not None else None

    def reached(self) -> BoundReached | None:
        """The bound that is reached now, if any (without raising)."""
        why = self.interrupted
        if why is not None:
            return BoundReached("interrupted", "", why)
        dl = self.deadline
        if dl is not None and time.monotonic() >= dl:
            return BoundReached("time", "", f"time bound {self.max_seconds:g} s")
        if self.max_memory is not None:
            rss = rss_bytes()
            if rss > self.max_memory:
                return BoundReached("memory", "", f"memory bound {_gib(self.max_memory)} "
                                                  f"(resident {_gib(rss)})")
        return None

    def check(self, phase: str) -> None:
        """Raise :class:`BoundReached` (naming ``phase``) if a bound is reached."""
        r = self.reached()
        if r is not None:
            raise BoundReached(r.kind, phase, r.detail)

    def memory_error(self, phase: str) -> BoundReached:
        """What a ``MemoryError`` in ``phase`` means under this budget (for ``except`` blocks)."""
        bound = _gib(self.max_memory) if self.max_memory is not None else "the address-space limit"
        return BoundReached("memory", phase, f"memory bound {bound} (an allocation failed)")

    # -- acting ---------------------------------------------------------------------------------
    def interrupt(self, why: str = "interrupted") -> None:
        """Mark the command interrupted (safe to call from a signal handler)."""
        if self._interrupted is None:
            self._interrupted = why

    def enforce_address_space(self, headroom: int = 1 << 30) -> bool:
        """Set a hard ``RLIMIT_AS`` of the current address space + ``max_memory`` + ``headroom``.

        An allocation past it fails with ``MemoryError`` instead of the OOM killer ending the
        process.  Returns whether a limit was set (no ``max_memory``, or no permission: False).
        Address space exceeds resident memory (shared libraries, reserved arenas), so the limit
        is measured from what is mapped now.
        """
        if self.max_memory is None:
            return False
        try:
            with open("/proc/self/statm", "rb") as f:
                vsize = int(f.read().split()[0]) * _PAGE
        except (OSError, ValueError, IndexError):
            return False
        want = vsize + self.max_memory + headroom
        try:
            soft, hard = resource.getrlimit(resource.RLIMIT_AS)
            if hard != resource.RLIM_INFINITY:
                want = min(want, hard)
            if soft != resource.RLIM_INFINITY and soft <= want:
                return True
            resource.setrlimit(resource.RLIMIT_AS, (want, hard))
        except (ValueError, OSError):
            return False
        return True

    def __repr__(self) -> str:
        return f"Budget(max_seconds={self.max_seconds!r}, max_memory={self.max_memory!r})"


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.2f} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.0f} MiB"
