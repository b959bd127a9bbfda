"""Small models outside Kubernetes, with known answers: the checker's own test bed.

* :func:`philosophers` — dining philosophers; ``ordered=False`` deadlocks (everyone holds the left
  fork), ``ordered=True`` (the last philosopher takes the right fork first) does not.
* :func:`peterson` — Peterson's mutual exclusion for two processes; mutual exclusion holds and
  ``trying ~> critical`` holds under weak fairness but not without it.
* :func:`counter` — a bounded counter with a reset; the smallest model with a cycle.
* :func:`grid` — a ``k``-dimensional grid of counters, to scale state counts (benchmarks).

>>> from certloop.checker.check import check
>>> r = check(philosophers(3, ordered=False))
>>> r.graph.n_states, r.result("deadlock_free").verdict
(14, 'violated')
"""

from __future__ import annotations

from certloop.checker.expr import Bool, Enum, IntRange, Schema, and_, ite, or_
from certloop.checker.spec import Always, Eventually, LeadsTo, Model, Sometimes

__all__ = ["philosophers", "peterson", "counter", "grid"]

PHIL = Enum("Phil", ("thinking", "left", "eating"))


def philosophers(n: int = 3, ordered: bool = False, fairness: str = "weak") -> Model:
    """``n`` philosophers, ``n`` forks.  Each takes a first fork, then a second, eats, releases."""
    sch = Schema()
    ph = [sch.declare(f"phil[{i}]", PHIL, "thinking") for i in range(n)]
    fork = [sch.declare(f"fork[{i}]", Bool, False) for i in range(n)]
    m = Model(f"philosophers(n={n}, ordered={ordered})", sch)

    def forks(i: int) -> tuple[int, int]:
        left, right = i, (i + 1) % n
        return (right, left) if ordered and i == n - 1 else (left, right)

    for i in range(n):
        first, second = forks(i)
        m.add_action("philosopher.take_first", "philosopher", args=(i,), fairness=fairness,
                     guard=[("thinking", f"philosopher {i} is thinking", ph[i].ref.eq("thinking")),
                            ("fork_free", f"fork {first} is free", ~fork[first].ref)],
                     effect=[{ph[i]: "left", fork[first]: True}])
        m.add_action("philosopher.take_second", "philosopher", args=(i,), fairness=fairness,
                     guard=[("holds_first", f"philosopher {i} holds fork {first}", ph[i].ref.eq("left")),
                            ("fork_free", f"fork {second} is free", ~fork[second].ref)],
                     effect=[{ph[i]: "eating", fork[second]: True}])
        m.add_action("philosopher.release", "philosopher", args=(i,), fairness=fairness,
                     guard=[("eating", f"philosopher {i} is eating", ph[i].ref.eq("eating"))],
                     effect=[{ph[i]: "thinking", fork[first]: False, fork[second]: False}])
    m.add_init()
    m.check_deadlock = True
    m.add_property(Always("forks_exclusive", "neighbours never eat together",
                          expr=and_(*[~(ph[i].ref.eq("eating") & ph[(i + 1) % n].ref.eq("eating"))
                                      for i in range(n)])))
    m.add_property(Sometimes("someone_eats", expr=or_(*[p.ref.eq("eating") for p in ph])))
    m.add_property(LeadsTo("hungry_eats", "a philosopher holding a fork eventually eats",
                           p=ph[0].ref.eq("left"), q=ph[0].ref.eq("eating")))
    return m


PC = Enum("PC", ("idle", "flag", "turn", "wait", "critical"))


def peterson(fairness: str = "weak") -> Model:
    """Peterson's algorithm; the idle -> flag step is never fair (a process may stay idle)."""
    sch = Schema()
    pc = [sch.declare(f"pc[{i}]", PC, "idle") for i in range(2)]
    flag = [sch.declare(f"flag[{i}]", Bool, False) for i in range(2)]
    turn = sch.declare("turn", IntRange(0, 1), 0)
    m = Model(f"peterson(fairness={fairness})", sch)
    for i in range(2):
        j = 1 - i
        m.add_action("process.want", "process", args=(i,), fairness="none",
                     guard=[("idle", "idle", pc[i].ref.eq("idle"))], effect=[{pc[i]: "flag"}])
        m.add_action("process.raise_flag", "process", args=(i,), fairness=fairness,
                     guard=[("at_flag", "about to raise its flag", pc[i].ref.eq("flag"))],
                     effect=[{flag[i]: True, pc[i]: "turn"}])
        m.add_action("process.give_turn", "process", args=(i,), fairness=fairness,
                     guard=[("at_turn", "about to give the turn away", pc[i].ref.eq("turn"))],
                     effect=[{turn: j, pc[i]: "wait"}])
        m.add_action("process.enter", "process", args=(i,), fairness=fairness,
                     guard=[("waiting", "waiting", pc[i].ref.eq("wait")),
                            ("may_enter", "the other is not interested or it is our turn",
                             ~flag[j].ref | turn.ref.eq(i))],
                     effect=[{pc[i]: "critical"}])
        m.add_action("process.leave", "process", args=(i,), fairness=fairness,
                     guard=[("inside", "in the critical section", pc[i].ref.eq("critical"))],
                     effect=[{pc[i]: "idle", flag[i]: False}])
    m.add_init()
    m.add_property(Always("mutual_exclusion", expr=~(pc[0].ref.eq("critical") & pc[1].ref.eq("critical"))))
    m.add_property(LeadsTo("trying_enters", "a process that raised its flag enters",
                           p=pc[0].ref.eq("wait"), q=pc[0].ref.eq("critical")))
    m.add_property(Sometimes("both_waiting", expr=pc[0].ref.eq("wait") & pc[1].ref.eq("wait")))
    return m


def counter(top: int = 3, fair: bool = True) -> Model:
    """``x`` counts to ``top`` and is reset; ``<> x == top`` needs fairness of ``inc``."""
    sch = Schema()
    x = sch.declare("x", IntRange(0, top), 0)
    m = Model(f"counter(top={top})", sch)
    m.add_action("counter.inc", "counter", fairness="weak" if fair else "none",
                 guard=[("below", "x is below the top", x.ref < top)], effect=[{x: x.ref + 1}])
    m.add_action("counter.reset", "counter", fairness="none",
                 guard=[("at_top", "x is at the top", x.ref.eq(top))], effect=[{x: 0}])
    m.add_init()
    m.add_property(Eventually("reaches_top", q=x.ref.eq(top)))
    m.add_property(Always("bounded", expr=x.ref <= top))
    return m


def grid(dims: int = 4, size: int = 8) -> Model:
    """``dims`` counters in ``0..size-1``, each incremented or wrapped: ``size**dims`` states."""
    sch = Schema()
    xs = [sch.declare(f"x[{i}]", IntRange(0, size - 1), 0) for i in range(dims)]
    m = Model(f"grid(dims={dims}, size={size})", sch)
    for i, x in enumerate(xs):
        m.add_action("grid.step", "grid", args=(i,), fairness="weak",
                     effect=[{x: ite(x.ref.eq(size - 1), 0, x.ref + 1)}])
        m.add_action("grid.double", "grid", args=(i,), fairness="none",
                     guard=[("small", "x is in the lower half", x.ref < size // 2)],
                     effect=[{x: x.ref + x.ref}])
    m.add_init()
    m.add_property(Always("in_range", expr=and_(*[x.ref < size for x in xs])))
    m.add_property(Eventually("all_top", q=and_(*[x.ref.eq(size - 1) for x in xs])))
    return m
