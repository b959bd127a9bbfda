"""Run every named scenario in the chosen GC/cache modes and print verdicts and sizes.

Usage: python benchmarks/matrix.py [--gc abstract|detailed] [--caches fresh|lagging] [--max-seconds S]
"""
import argparse
import time

from certloop.properties.scenarios import SCENARIOS, with_modes
from certloop.runner import run

ap = argparse.ArgumentParser()
ap.add_argument("--gc", action="append")
ap.add_argument("--caches", action="append")
ap.add_argument("--max-seconds", type=float, default=300)
ap.add_argument("--only", action="append")
a = ap.parse_args()
for gc in a.gc or ["abstract", "detailed"]:
    for caches in a.caches or ["fresh", "lagging"]:
        for s in SCENARIOS:
            if a.only and s.name not in a.only:
                continue
            s2 = with_modes(s, gc, caches)
            t = time.time()
            r = run(s2, max_seconds=a.max_seconds)
            g = r.graph
            verdicts = " ".join(f"{x.name}={x.verdict[0].upper()}" for x in r.results)
            wit = " ".join(f"{x.name}={'R' if x.verdict == 'holds' else 'U' if x.verdict == 'violated' else '?'}"
                           for x in r.witnesses)
            exp = " ".join(f"{k}:{'ok' if r.result(k).verdict == v else 'MISMATCH'}"
                           for k, v in s.expected.items() if any(x.name == k for x in r.results))
            print(f"{gc}/{caches} {s.name} states={g.n_states} trans={g.n_transitions} complete={g.complete} "
                  f"sec={time.time()-t:.1f} mlc={r.max_late_creates}\n   {verdicts}\n   {wit}\n   expected: {exp}",
                  flush=True)
