"""Benchmark: what liveness adds over a plain safety search of the same configuration.

Usage::

    python benchmarks/bench_liveness.py [--only NAME ...] [--repeat N]

For each configuration (the names of ``bench_scale.py --list``), ``N`` times in one process, in
alternating order: a plain safety search (``explore(edges=False)``: no transition stored), the search
that stores every transition, and every liveness property of the scenario on it.  Prints each
run and the medians of

* ``adds``: (search with transitions + liveness) / safety search - 1, the issue's measure;
* ``analysis``: liveness CPU / CPU of the search with transitions.

CPU seconds (``time.process_time``); the process is warmed by a small search first, so the
medians are not dominated by first-use costs (imports, code generation, cold allocations).
``bench_scale.py`` reports the one-shot numbers of a fresh process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_scale import CONFIGS  # noqa: E402


def _scenario(name: str):
    from dataclasses import replace

    from certloop.properties.scenarios import get, with_modes
    scen, gc, caches, _ = CONFIGS[name]
    if caches == "cm-lagging":
        s = with_modes(get(scen), gc, None)
        return replace(s, config=replace(s.config, cache_cm="lagging"))
    return with_modes(get(scen), gc, caches)


def run(name: str, repeat: int) -> tuple[float, float]:
    from certloop.checker.check import check_graph
    from certloop.checker.explore import explore
    from certloop.checker.spec import Eventually, FairCycleFree, LeadsTo
    from certloop.model.scenario import build
    from certloop.properties import deletion

    w = build(_scenario(name).config)
    deletion.attach(w)
    m = w.model
    props = [p for p in m.properties if isinstance(p, (LeadsTo, Eventually, FairCycleFree))]
    explore(m, max_states=1000)                 # warm: imports, generated code
    adds, analysis = [], []
    print(f"== {name}  {CONFIGS[name][3]}", flush=True)
    def safety() -> float:
        c = time.process_time()
        gs = explore(m, edges=False)
        del gs
        return time.process_time() - c

    for k in range(repeat):
        # the order alternates, so that a machine slowing down (or speeding up) during the
        # measurement does not always favour the same side
        safe = safety() if k % 2 == 0 else 0.0
        c = time.process_time()
        g = explore(m)
        full = time.process_time() - c
        c = time.process_time()
        check_graph(g, props)
        live = time.process_time() - c
        n = g.n_states
        del g
        if k % 2:
            safe = safety()
        adds.append((full + live) / safe - 1)
        analysis.append(live / full)
        print(f"   {n:,} states: safety {safe:.2f} s, with transitions {full:.2f} s, liveness {live:.2f} s: "
              f"adds {100 * adds[-1]:.1f} % (analysis {100 * analysis[-1]:.1f} % of the search)", flush=True)
    a, b = statistics.median(adds), statistics.median(analysis)
    print(f"   median of {repeat}: liveness adds {100 * a:.1f} % over the safety search "
          f"(analysis {100 * b:.1f} % of the search)", flush=True)
    return a, b


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", choices=sorted(CONFIGS), help="run only these (repeatable)")
    ap.add_argument("--repeat", type=int, default=5, help="alternating runs per configuration")
    a = ap.parse_args(argv)
    names = a.only or ["seed/abstract/lagging", "v1.18-lagging/abstract", "ns-deletion/detailed/cm-lagging",
                       "v1.18-lagging/detailed"]
    for name in names:
        run(name, a.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
