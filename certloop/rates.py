"""Race or inevitable: expected churn and time to deletion under actor rates (MODEL.md §6.2).

The explored state graph of a scenario becomes a CTMC (:mod:`certloop.checker.ctmc`): each
action fires at the rate of its class (:mod:`certloop.properties.rates`); the chain starts in the
states right after the user's DELETE and is absorbed when the Certificate is gone.  Reported:
expected CertificateRequests / next-key Secrets / objects created before completion, expected
time, and P(completion before N CertificateRequest creations).

The sweep varies ``ρ = cm_reconcile / gc_worker`` and the issuer's cleanup linger
``gc_worker / issuer_release`` over the three issuer kinds, reusing one explored graph per kind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from certloop.checker import ctmc
from certloop.checker.explore import StateGraph, explore
from certloop.checker.expr import ModelError, or_
from certloop.model.apiserver import CR_NAMES
from certloop.model.scenario import World, build
from certloop.properties.deletion import by_cert_manager, created
from certloop.properties.rates import DEFAULT_RATES, rate_class
from certloop.properties.scenarios import Scenario

__all__ = ["RatesRun", "prepare", "analyze_rates", "sweep", "DEFAULT_RHOS", "DEFAULT_LINGERS", "plot_sweep"]

DEFAULT_RHOS = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
DEFAULT_LINGERS = (1.0, 10.0, 100.0)
BEFORE = (1, 2, 5, 10)


@dataclass
class RatesRun:
    """One explored scenario, ready for any number of rate tables."""

    scenario: Scenario
    world: World
    graph: StateGraph
    start: np.ndarray
    absorbing: np.ndarray
    rewards: dict[str, np.ndarray]


def prepare(s: Scenario, *, max_states: int | None = None, max_seconds: float | None = None,
            progress: Any = None) -> RatesRun:
    w = build(s.config)
    g = explore(w.model, max_states=max_states, max_seconds=max_seconds, progress=progress)
    if not g.complete:
        raise ModelError(f"scenario {s.name}: exploration incomplete ({g.reason}); the chain needs the whole graph "
                         "(raise --max-seconds/--max-states or choose smaller knobs)")
    deletes = np.flatnonzero(np.array([a.name == "user.delete_certificate" for a in w.model.actions] + [False])[g.lab])
    start = np.unique(g.dst[deletes])
    if start.size == 0:
        raise ModelError(f"scenario {s.name}: the user's delete is unreachable")
    absorbing = g.evaluate(w.cluster.live["C"].absent)
    rewards = {
        "certificate_requests": ctmc.edge_mask(g, actions=by_cert_manager,
                                               expr=or_(*[created(w, n) for n in CR_NAMES])).astype(float),
        "next_key_secrets": ctmc.edge_mask(g, actions=by_cert_manager, expr=created(w, "K")).astype(float),
        "all_creates": ctmc.edge_mask(g, actions=by_cert_manager,
                                      expr=or_(*[created(w, n) for n in CR_NAMES + ("K", "S")])).astype(float),
    }
    return RatesRun(s, w, g, start, absorbing, rewards)


def analyze_rates(rr: RatesRun, rates: dict[str, float], *, before: Sequence[int] = BEFORE,
                  phases: dict[str, int] | None = None) -> dict[str, Any]:
    """The chain's numbers for one rate table (JSON-ready, deterministic)."""
    rate = ctmc.rates_by_class(rate_class, rates)
    ph = ctmc.phases_by_class(rate_class, phases) if phases else None
    ch = ctmc.build_chain(rr.graph, rate, rr.start, rr.absorbing, phases=ph)
    res = ctmc.analyze(ch, {"certificate_requests": rr.rewards["certificate_requests"],
                            "next_key_secrets": rr.rewards["next_key_secrets"],
                            "all_creates": rr.rewards["all_creates"]}, before=list(before))
    d = res.to_dict()
    d["rates"] = dict(sorted(rates.items()))
    return d


def _cr_before(d: dict[str, Any]) -> dict[str, Any]:
    return d["rewards"]["certificate_requests"].get("p_before", {})


def sweep(base: Scenario, *, issuers: Sequence[str] = ("in-tree", "external", "external-finalizer"),
          rhos: Sequence[float] = DEFAULT_RHOS, lingers: Sequence[float] = DEFAULT_LINGERS,
          rates: dict[str, float] | None = None, max_seconds: float | None = None,
          progress: Any = None) -> dict[str, Any]:
    """E[#CR] (and more) per issuer kind × ρ × linger.  One exploration per issuer kind."""
    rates = dict(rates or DEFAULT_RATES)
    rows = []
    for issuer in issuers:
        s = replace(base, name=f"{base.name}[{issuer}]", config=replace(base.config, issuer=issuer))
        rr = prepare(s, max_seconds=max_seconds, progress=progress)
        for linger in (lingers if issuer == "external-finalizer" else (None,)):
            for rho in rhos:
                r = dict(rates)
                r["cm_reconcile"] = rho * r["gc_worker"]
                if linger is not None:
                    r["issuer_release"] = r["gc_worker"] / linger
                d = analyze_rates(rr, r)
                rw = d["rewards"]
                rows.append({"issuer": issuer, "rho": rho, "linger": linger,
                             "states": rr.graph.n_states,
                             "expected_certificate_requests": rw["certificate_requests"]["mean"],
                             "expected_next_key_secrets": rw["next_key_secrets"]["mean"],
                             "expected_creates": rw["all_creates"]["mean"],
                             "expected_seconds": d["time_mean"],
                             "p_absorb": d["p_absorb"],
                             "p_done_before_cr": _cr_before(d)})
    return {"base": base.name, "knobs": base.config.knobs(), "rates": dict(sorted(rates.items())), "rows": rows}


def plot_sweep(result: dict[str, Any], stem: Path, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """E[#CR] against ρ, one line per issuer kind (and linger): the postmortem picture."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams["svg.hashsalt"] = "certloop"
    fig, ax = plt.subplots(figsize=(7.5, 4.6), dpi=110)
    series: dict[str, list[tuple[float, float]]] = {}
    for row in result["rows"]:
        key = row["issuer"] + (f", linger {row['linger']:g}x" if row["linger"] is not None else "")
        if row["expected_certificate_requests"] is not None:
            series.setdefault(key, []).append((row["rho"], row["expected_certificate_requests"]))
    for key in series:
        xs, ys = zip(*sorted(series[key]))
        ax.plot(xs, ys, marker="o", label=key)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("ρ = cert-manager reconcile rate / GC worker rate")
    ax.set_ylabel("expected CertificateRequests created\nbefore the Certificate is gone")
    k = result["knobs"]
    ax.set_title(f"Race or inevitable? {result['base']}, {k['version']}, GC {k['gc']}, "
                 f"caches {k['cache_cm']}/{k['cache_ext']}/{k['cache_gc']}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for fmt in formats:
        p = stem.with_suffix("." + fmt)
        fig.savefig(p, metadata={"Date": None} if fmt == "svg" else ({"Software": None} if fmt == "png" else None))
        out.append(p)
    plt.close(fig)
    return out


def write_json(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
