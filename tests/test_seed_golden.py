"""Golden counterexamples of the cert-manager model: the seed's lasso and one safety trace.

Exact strings for the text and the DOT swimlane diagram (``CERTLOOP_UPDATE_GOLDEN=1`` rewrites
them; review the diff), identical under two ``PYTHONHASHSEED`` values, and the seed's SVG renders
when Graphviz's ``dot`` exists.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from certloop.checker import dot as dotfmt
from certloop.checker import trace as tracefmt
from certloop.properties.ledger import LANES, LANE_TITLES, ledger_lines
from certloop.properties.scenarios import get
from certloop.runner import run

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("CERTLOOP_UPDATE_GOLDEN") == "1"
# (scenario, property): the seed lasso and the v1.17 e2e setup's safety trace on the next key
CASES = {"seed_deletion_completes": ("seed", "deletion_completes"),
         "v1.17-e2e_no_create_after_deletion_seen_all": ("v1.17-e2e", "no_create_after_deletion_seen_all")}


def outputs() -> dict[str, str]:
    out = {}
    for stem, (scenario, prop) in CASES.items():
        r = run(get(scenario), [prop], witnesses=False, measure=False)
        res = r.result(prop)
        assert res.verdict == "violated"
        title = f"{scenario}: {prop} VIOLATED"
        led = ledger_lines(res.trace)
        out[f"{stem}.txt"] = tracefmt.to_text(res.trace, title=title) + "".join(l + "\n" for l in led)
        out[f"{stem}.dot"] = dotfmt.trace_to_dot(res.trace, lanes=list(LANES), lane_titles=LANE_TITLES,
                                                 legend=led, title=title)
    return out


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return outputs()


@pytest.mark.parametrize("name", [f"{s}.{e}" for s in CASES for e in ("txt", "dot")])
def test_golden(rendered: dict[str, str], name: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(rendered[name], encoding="utf-8")
    assert path.exists(), f"missing {path}; run with CERTLOOP_UPDATE_GOLDEN=1"
    assert rendered[name] == path.read_text(encoding="utf-8"), f"{name} changed; rerun with CERTLOOP_UPDATE_GOLDEN=1 and review"


def test_golden_glob_found_files() -> None:
    assert len(list(GOLDEN.glob("seed_*"))) >= 2


def test_seed_lasso_shape() -> None:
    """The seed's cycle creates a CR (requestmanager), deletes via the GC, releases the finalizer."""
    r = run(get("seed"), ["deletion_completes"], witnesses=False, measure=False)
    tr = r.result("deletion_completes").trace
    names = [s.action.name for s in tr.cycle]
    assert "requestmanager.create_request" in names
    assert "gc.delete_dependent" in names
    assert "issuer.release_finalizer" in names
    led = ledger_lines(tr)
    created = [l for l in led if "CertificateRequest created" in l]
    assert created and int(created[0].split(" x")[1].split()[0]) >= 1


def test_identical_under_two_hash_seeds() -> None:
    code = ("import json, sys; sys.path.insert(0, %r); from test_seed_golden import outputs; "
            "print(json.dumps(outputs(), sort_keys=True))" % str(Path(__file__).parent))
    outs = []
    for seed in ("0", "1"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
        assert p.returncode == 0, p.stderr
        outs.append(p.stdout)
    assert outs[0] == outs[1]


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot not installed")
def test_seed_svg_renders(rendered: dict[str, str], tmp_path: Path) -> None:
    files = dotfmt.render(rendered["seed_deletion_completes.dot"], tmp_path / "seed", formats=("svg",))
    svg = Path([f for f in files if str(f).endswith(".svg")][0]).read_text()
    assert svg.lstrip().startswith("<?xml") and "requestmanager" in svg
