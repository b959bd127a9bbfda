"""The benchmark scripts run (on the smallest configuration): they print what the issue asks
for, so a refactoring that breaks them fails here, not at the next measurement."""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(script: str, *args: str) -> str:
    p = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", script), *args],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def test_bench_scale_reports_counts_bytes_and_liveness(tmp_path):
    out = _run("bench_scale.py", "--only", "seed/detailed", "--json", str(tmp_path / "r.json"))
    assert "5,141 states  21,561 transitions  depth 25  complete" in out
    assert "bytes/state: words 16.0 + tree 5.0" in out and "peak RSS" in out
    assert "plain safety BFS (no transitions stored)" in out
    r = json.loads((tmp_path / "r.json").read_text())[0]
    assert r["states"] == 5141 and r["transitions"] == 21561 and r["complete"]
    assert {k: v["verdict"] for k, v in r["liveness"].items()} == {
        "deletion_completes": "violated", "no_orphans": "holds", "bounded_churn": "violated",
        "bounded_churn_requests": "violated"}
    assert r["stored_B_per_state"] <= 40 and r["safety_bfs_cpu"] > 0


def test_bench_liveness_prints_medians():
    out = _run("bench_liveness.py", "--only", "seed/detailed", "--repeat", "2")
    assert out.count("5,141 states: safety") == 2
    assert "median of 2: liveness adds" in out
