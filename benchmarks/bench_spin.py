"""Benchmark: certloop's exhaustive BFS against SPIN on the same ~1M-state model.

Usage::

    python benchmarks/bench_spin.py [--dims 6] [--size 10] [--workdir DIR]

The model (``grid(dims, size)`` from :mod:`checker.examples`, ``size**dims`` states) is explored by
certloop (:func:`explore`) and exported to Promela and run by SPIN (``spin -o2 -a``, ``gcc -O2
-DNOREDUCE -DSAFETY``, ``pan -m<big>``: exhaustive depth-first search with exact storage).  The
script checks that both store the same number of states (and transitions), then prints both
wall times (SPIN's includes generating and compiling pan), their ratio and certloop's bytes per
state.  CPU times are printed beside wall times: on a shared machine the CPU ratio is the
stable one.  Exit status 1 if the counts differ.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time

from certloop.checker.examples import grid
from certloop.checker.explore import explore
from certloop.checker.promela import run_spin, spin_available


def _child_cpu() -> float:
    """User + system CPU seconds of finished child processes (spin, gcc, pan)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dims", type=int, default=6)
    ap.add_argument("--size", type=int, default=10)
    ap.add_argument("--workdir", default=None, help="keep SPIN's files here (default: a temp dir)")
    args = ap.parse_args(argv)
    if not spin_available():
        print("spin or gcc is not installed", file=sys.stderr)
        return 2
    model = grid(args.dims, args.size)
    print(f"model: {model.name}: {len(model.schema.vars)} variables, {len(model.actions)} action instances")

    t0, c0 = time.monotonic(), time.process_time()
    g = explore(model)
    t_cl, c_cl = time.monotonic() - t0, time.process_time() - c0
    edge_bytes = g.src.nbytes + g.dst.nbytes + g.lab.nbytes
    print(f"certloop: {g.n_states} states, {g.n_transitions} transitions, depth {g.max_depth}, "
          f"{t_cl:.2f} s wall, {c_cl:.2f} s CPU")
    print(f"certloop: {g.bytes_per_state():.1f} bytes/state for states and BFS tree, "
          f"{(g.bytes_per_state() * g.n_states + edge_bytes) / g.n_states:.1f} with the transitions")

    with tempfile.TemporaryDirectory(prefix="certloop-bench-") as tmp:
        t0, c0 = time.monotonic(), _child_cpu()
        r = run_spin(model, args.workdir or tmp, mode="count", max_depth=max(1_000_000, 2 * g.n_states))
        t_spin, c_spin = time.monotonic() - t0, _child_cpu() - c0
    print(f"spin:     {r.states} states, {r.transitions} transitions, depth {r.depth}, "
          f"state vector {r.vector_bytes} bytes")
    print(f"spin:     {t_spin:.2f} s wall in all ({r.seconds_compile:.2f} s spin -a + gcc, "
          f"{r.seconds_run:.2f} s pan), {c_spin:.2f} s CPU in all")
    same = r.states == g.n_states and r.transitions == g.n_transitions
    print(f"counts equal: {same}")
    print(f"ratio certloop / spin, compile included: {t_cl / t_spin:.2f} wall, {c_cl / c_spin:.2f} CPU; "
          f"certloop / pan alone (wall): {t_cl / r.seconds_run:.2f}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
