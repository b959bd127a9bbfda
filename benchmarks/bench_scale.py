"""Benchmark: exploration and liveness on the large cert-manager configurations.

Usage::

    python benchmarks/bench_scale.py [--only NAME ...] [--engine compiled|reference]
                                     [--max-seconds S] [--spin] [--json OUT]

Each configuration runs in a subprocess of its own (so that its peak RSS is its own) and prints

* states, transitions, complete or not (a bound ends the search early), depth;
* BFS wall and CPU seconds, states/s (per CPU second: the stable figure on a shared machine);
* bytes per stored state: the packed words, the BFS tree (parent, action; depth is a level boundary), the visited
  set (at the end of the search), and separately the transitions (per state and per edge);
* peak RSS of the process (``getrusage``), model building included;
* the liveness properties of the scenario (LeadsTo, FairCycleFree): CPU seconds in total and
  as a percentage of the BFS, each verdict;
* with ``--spin``: the same configuration exported to Promela and run by SPIN (``-DNOREDUCE
  -DSAFETY``, exact storage, gcc flag ``--spin-opt``, compile included): its state and transition
  counts (checked equal) and the certloop/SPIN wall and CPU ratios;
* with ``--progress``: the search's progress every 30 s on stderr (long runs).

Configurations (``--list``): the seed (v1.16, foreground delete during an issuance) with the
detailed GC, caches fresh (the default scenario) and every cache lagging; v1.18 with a lagging
cert-manager cache in both GC modes; foreground-then-namespace deletion with the detailed GC and
caches fresh, cert-manager's cache lagging, or every cache lagging; the seed with the abstract GC
and every cache lagging.

Measured on this 2-core machine: see the closing note of issue 8 (and README "Scale").
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from typing import Any

CONFIGS: dict[str, tuple[str, str | None, str | None, str]] = {
    # name: (scenario, gc, caches (None: the scenario's own), comment)
    "seed/abstract/lagging": ("seed", "abstract", "lagging", "the seed, abstract GC, every cache lagging"),
    "v1.18-lagging/abstract": ("v1.18-lagging", "abstract", None, "v1.18, lagging cert-manager cache, abstract GC"),
    "v1.18-lagging/detailed": ("v1.18-lagging", "detailed", None, "v1.18, lagging cert-manager cache, detailed GC"),
    "ns-deletion/detailed/lagging": ("v1.16-namespace-deletion", "detailed", "lagging",
                                     "foreground then namespace deletion, detailed GC, caches lagging"),
    "seed/detailed/lagging": ("seed", "detailed", "lagging", "the seed, detailed GC, every cache lagging"),
    "seed/detailed": ("seed", "detailed", None, "the seed (the default scenario), detailed GC, caches fresh"),
    "ns-deletion/detailed": ("v1.16-namespace-deletion", "detailed", None,
                             "foreground then namespace deletion, detailed GC, caches fresh"),
    "ns-deletion/detailed/cm-lagging": ("v1.16-namespace-deletion", "detailed", "cm-lagging",
                                        "foreground then namespace deletion, detailed GC, "
                                        "lagging cert-manager cache"),
}


def _cpu_children() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_one(name: str, engine: str, max_seconds: float | None, spin: bool, spin_timeout: float,
            max_states: int | None = None, spin_opt: str = "-O2", safety: bool = True) -> dict[str, Any]:
    """One configuration, in this process."""
    import numpy as np

    from certloop.checker.check import check_graph
    from certloop.checker.explore import explore
    from certloop.checker.spec import Eventually, FairCycleFree, LeadsTo
    from certloop.model.scenario import build
    from certloop.properties import deletion
    from certloop.properties.scenarios import get, with_modes

    scen, gc, caches, _ = CONFIGS[name]
    if caches == "cm-lagging":       # only cert-manager's cache lags (as in the v1.18-lagging row)
        from dataclasses import replace
        s = with_modes(get(scen), gc, None)
        s = replace(s, config=replace(s.config, cache_cm="lagging"))
    else:
        s = with_modes(get(scen), gc, caches)
    tb = time.monotonic()
    w = build(s.config)
    deletion.attach(w)
    m = w.model
    build_wall = time.monotonic() - tb
    out: dict[str, Any] = {"name": name, "engine": engine, "knobs": s.config.knobs()}
    t0, c0 = time.monotonic(), time.process_time()

    def progress(p: Any) -> None:           # to stderr: a long run shows it is alive
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        print(f"[{name}] {p.seconds:7.0f} s  {p.states:,} states  {p.transitions:,} transitions  depth {p.depth}  "
              f"frontier {p.frontier:,}  peak RSS {rss} MB", file=sys.stderr, flush=True)

    g = explore(m, max_seconds=max_seconds, max_states=max_states, engine=engine, progress=progress,
                progress_every=30.0)
    wall, cpu = time.monotonic() - t0, time.process_time() - c0
    n = max(1, g.n_states)
    words = g.states.nbytes / n
    tree = (g.parent.nbytes + g.parent_action.nbytes + g.levels.nbytes) / n
    visited = getattr(g, "stats", {}).get("visited_bytes")
    edge_bytes = g.indptr.nbytes + g.dst.nbytes + g.lab.nbytes
    out.update(build_wall=round(build_wall, 2), states=g.n_states, transitions=g.n_transitions,
               complete=g.complete, reason=g.reason,
               depth=g.max_depth, bfs_wall=round(wall, 2), bfs_cpu=round(cpu, 2),
               states_per_cpu_s=round(g.n_states / cpu) if cpu > 0 else None,
               words_B=round(words, 1), tree_B=round(tree, 1),
               visited_B=round(visited / n, 1) if visited is not None else None,
               stored_B_per_state=round(words + tree + (visited / n if visited is not None else 0.0), 1),
               edges_B_per_state=round(edge_bytes / n, 1),
               edges_B_per_edge=round(edge_bytes / max(1, g.n_transitions), 1),
               dtypes={k: str(getattr(g, k).dtype) for k in ("states", "parent", "parent_action", "levels",
                                                             "indptr", "dst", "lab")})
    out["rss_after_bfs_MB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    props = [p for p in m.properties if isinstance(p, (LeadsTo, Eventually, FairCycleFree))]
    live: dict[str, Any] = {}
    lc = 0.0
    for p in props:
        c = time.process_time()
        r = check_graph(g, [p])[0]
        dt = time.process_time() - c
        lc += dt
        live[p.name] = {"verdict": r.verdict, "cpu": round(dt, 2),
                        "trace_len": len(r.trace.steps()) if r.trace is not None else None}
    out["liveness"] = live
    out["liveness_cpu"] = round(lc, 2)
    out["liveness_pct_of_bfs"] = round(100 * lc / cpu, 1) if cpu > 0 else None
    out["peak_rss_MB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    if spin:
        out["spin"] = _spin(m, g, spin_timeout, spin_opt)
    if safety and g.complete:
        # the plain safety search of the same configuration (no transitions stored): what the
        # liveness check adds over it = (search with edges + liveness) / safety search - 1
        del g
        c = time.process_time()
        gs = explore(m, max_seconds=max_seconds, max_states=max_states, engine=engine, edges=False)
        sc = time.process_time() - c
        out["safety_bfs_cpu"] = round(sc, 2)
        out["liveness_adds_pct"] = round(100 * (cpu + lc - sc) / sc, 1) if sc > 0 else None
        del gs
    del np
    return out


def _spin(model: Any, g: Any, timeout: float, optimize: str = "-O2") -> dict[str, Any]:
    try:
        from certloop.checker.promela import run_spin, spin_available
    except ImportError:
        return {"skipped": "checker.promela.run_spin is not available"}
    if not spin_available():
        return {"skipped": "spin or gcc is not installed"}
    if not g.complete:
        return {"skipped": "the certloop search is incomplete: no count to compare"}
    t0, c0 = time.monotonic(), _cpu_children()
    try:
        r = run_spin(model, mode="count", max_depth=max(1_000_000, 2 * g.max_depth + 10), timeout=timeout,
                     optimize=optimize)
    except Exception as err:  # noqa: BLE001 - report any failure of the external tool, do not stop
        return {"skipped": f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"}
    wall, cpu = time.monotonic() - t0, _cpu_children() - c0
    # pan's own memory account ("... total actual memory usage", in MB) and the peak RSS of the
    # tools (this process's children are only spin, gcc and pan)
    m = re.search(r"([0-9.]+)\s+total actual memory usage", r.raw_output)
    pan_mb = float(m.group(1)) if m else None
    return {"states": r.states, "transitions": r.transitions, "same_states": r.states == g.n_states,
            "same_transitions": r.transitions == g.n_transitions, "gcc": optimize,
            "wall": round(wall, 2), "cpu": round(cpu, 2), "compile_s": round(r.seconds_compile, 2),
            "run_s": round(r.seconds_run, 2), "vector_bytes": r.vector_bytes,
            "pan_memory_MB": pan_mb,
            "pan_B_per_state": round(pan_mb * 2 ** 20 / max(1, r.states), 1) if pan_mb else None,
            "peak_rss_MB": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024}


def _print(r: dict[str, Any]) -> None:
    if "error" in r:
        print(f"{r['name']}: FAILED: {r['error']}")
        return
    print(f"== {r['name']} [{r['engine']}]  {CONFIGS[r['name']][3]}")
    print(f"   {r['states']:,} states  {r['transitions']:,} transitions  depth {r['depth']}  "
          f"{'complete' if r['complete'] else 'INCOMPLETE (' + r['reason'] + ')'}")
    print(f"   BFS {r['bfs_wall']:.2f} s wall, {r['bfs_cpu']:.2f} s CPU: {r['states_per_cpu_s']:,} states/CPU-s")
    vis = f" + visited {r['visited_B']}" if r.get("visited_B") is not None else ""
    print(f"   bytes/state: words {r['words_B']} + tree {r['tree_B']}{vis} = {r['stored_B_per_state']}; "
          f"edges {r['edges_B_per_state']}/state ({r['edges_B_per_edge']}/edge)")
    print(f"   peak RSS {r['peak_rss_MB']} MB (after BFS {r['rss_after_bfs_MB']} MB)")
    lv = " ".join(f"{k}={v['verdict']}({v['cpu']}s)" for k, v in r["liveness"].items())
    print(f"   liveness {r['liveness_cpu']:.2f} s CPU = {r['liveness_pct_of_bfs']}% of BFS: {lv}")
    if r.get("safety_bfs_cpu") is not None:
        print(f"   plain safety BFS (no transitions stored) {r['safety_bfs_cpu']:.2f} s CPU: storing the "
              f"transitions + every liveness property add {r['liveness_adds_pct']}% to it (one shot: the "
              f"first search also paid code generation and first use; bench_liveness.py: warm medians)")
    if "spin" in r:
        sp = r["spin"]
        if "skipped" in sp:
            print(f"   spin: skipped ({sp['skipped']})")
        else:
            ratio = sp["cpu"] / r["bfs_cpu"] if r["bfs_cpu"] else float("nan")
            wr = r["bfs_wall"] / sp["wall"] if sp["wall"] else float("nan")
            wb = (r["bfs_wall"] + r["build_wall"]) / sp["wall"] if sp["wall"] else float("nan")
            print(f"   spin ({sp['gcc']}): {sp['states']:,} states (same: {sp['same_states']}), "
                  f"{sp['transitions']:,} transitions (same: {sp['same_transitions']}), {sp['wall']:.1f} s wall, "
                  f"{sp['cpu']:.1f} s CPU (spin -a + gcc {sp['compile_s']} s, pan {sp['run_s']} s)")
            print(f"   spin memory: pan {sp['pan_memory_MB']} MB ({sp['pan_B_per_state']} B/state, "
                  f"state vector {sp['vector_bytes']} B), peak RSS of spin/gcc/pan {sp['peak_rss_MB']} MB")
            print(f"   certloop/SPIN: wall {wr:.2f} (with the model build, {r['build_wall']:.2f} s: {wb:.2f}), "
                  f"CPU {1 / ratio if ratio else float('nan'):.2f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", choices=sorted(CONFIGS), help="run only these (repeatable)")
    ap.add_argument("--engine", default="compiled", choices=["compiled", "reference"])
    ap.add_argument("--max-seconds", type=float, default=600.0, help="BFS time bound per configuration")
    ap.add_argument("--max-states", type=int, default=None, help="BFS state bound per configuration")
    ap.add_argument("--spin", action="store_true", help="also run SPIN on each complete configuration")
    ap.add_argument("--spin-timeout", type=float, default=1800.0)
    ap.add_argument("--spin-opt", default="-O2", help="gcc optimisation flag for pan (-O0 compiles fastest)")
    ap.add_argument("--json", help="write the results to this file")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--progress", action="store_true", help="print the search's progress every 30 s (stderr)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.list:
        for k, v in CONFIGS.items():
            print(f"{k:32s} {v[3]}")
        return 0
    if a.one:
        r = run_one(a.one, a.engine, a.max_seconds, a.spin, a.spin_timeout, a.max_states, a.spin_opt)
        print("RESULT " + json.dumps(r))
        return 0
    results = []
    for name in a.only or list(CONFIGS):
        cmd = [sys.executable, os.path.abspath(__file__), "--one", name, "--engine", a.engine,
               "--max-seconds", str(a.max_seconds), "--spin-timeout", str(a.spin_timeout),
               f"--spin-opt={a.spin_opt}"]
        if a.spin:
            cmd.append("--spin")
        if a.max_states:
            cmd += ["--max-states", str(a.max_states)]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None if a.progress else subprocess.PIPE, text=True)
        line = next((x for x in p.stdout.splitlines() if x.startswith("RESULT ")), None)
        r = json.loads(line[7:]) if line else {"name": name, "error": (p.stderr or p.stdout)[-2000:]}
        results.append(r)
        _print(r)
        sys.stdout.flush()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
