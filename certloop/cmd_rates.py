"""``certloop rates``: expected churn and time to deletion under actor rates (a CTMC)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Sequence

import click

from certloop.checker.expr import ModelError
from certloop.properties.rates import DEFAULT_RATES, RATE_CLASSES, parse_rates


def register(main: click.Group) -> None:
    from certloop.cli import Reporter, fail, resolve_scenario, scenario_options

    @main.command()
    @scenario_options
    @click.option("--rate", "rate_items", multiple=True, metavar="CLASS=VALUE",
                  help=f"Override a rate (events/s). Classes: {', '.join(RATE_CLASSES)}.")
    @click.option("--phases", "phase_items", multiple=True, metavar="CLASS=K",
                  help="Erlang-k delays for an action class (k sub-steps of rate k*λ; sharper delays).")
    @click.option("--before", "before", multiple=True, type=click.IntRange(min=1), metavar="N",
                  help="Report P(the Certificate is gone before N CertificateRequests are created); default 1 2 5 10.")
    @click.option("--sweep", is_flag=True,
                  help="Sweep ρ = cm_reconcile/gc_worker and the issuer cleanup linger over the three issuer kinds.")
    @click.option("--rho", "rhos", multiple=True, type=click.FloatRange(min=0.0, min_open=True),
                  help="ρ values for --sweep (default 0.1 .. 10).")
    @click.option("--linger", "lingers", multiple=True, type=click.FloatRange(min=0.0, min_open=True),
                  help="gc_worker/issuer_release values for --sweep (default 1 10 100).")
    @click.option("--out", "out_dir", type=click.Path(file_okay=False), default="out", show_default=True,
                  help="Folder for the sweep table (JSON) and plot (PNG/SVG) under rates/.")
    @click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
                  help="Write the numbers as JSON here ('-' for stdout).")
    @click.option("--max-seconds", type=click.FloatRange(min=0.0, min_open=True), default=None,
                  help="Bound on each exploration.")
    @click.option("--quiet", "-q", is_flag=True, help="No progress output.")
    def rates(rate_items: Sequence[str], phase_items: Sequence[str], before: Sequence[int], sweep: bool,
              rhos: Sequence[float], lingers: Sequence[float], out_dir: str, json_path: str | None,
              max_seconds: float | None, quiet: bool, scenario_name: str | None, **knobs: Any) -> None:
        """Race or inevitable: expected CertificateRequests, next-key Secrets and time before the
        deleted Certificate is gone, under a rate per action class (MODEL.md §6.2)."""
        from certloop import rates as R
        s = resolve_scenario(scenario_name, **knobs)
        try:
            table = parse_rates(list(rate_items))
            phases = {}
            for it in phase_items:
                k, _, v = it.partition("=")
                if k not in DEFAULT_RATES or not v.isdigit() or int(v) < 1:
                    fail(f"--phases {it!r}: expected CLASS=K with K >= 1; classes: {', '.join(RATE_CLASSES)}")
                phases[k] = int(v)
        except ModelError as e:
            fail(str(e))
            return
        rep = Reporter(quiet)
        t0 = time.monotonic()
        try:
            if sweep:
                res = R.sweep(s, rhos=tuple(rhos) or R.DEFAULT_RHOS, lingers=tuple(lingers) or R.DEFAULT_LINGERS,
                              rates=table, max_seconds=max_seconds, progress=rep)
                rep.done()
                _print_sweep(res)
                stem = Path(out_dir) / "rates" / f"sweep-{s.name}"
                R.write_json(res, stem.with_suffix(".json"))
                files = R.plot_sweep(res, stem)
                click.echo(f"\n  sweep: {stem.with_suffix('.json')}, " + ", ".join(str(f) for f in files)
                           + f"  ({time.monotonic() - t0:.1f} s)")
                out: Any = res
            else:
                rr = R.prepare(s, max_seconds=max_seconds, progress=rep)
                rep.done()
                out = R.analyze_rates(rr, table, before=tuple(before) or R.BEFORE, phases=phases or None)
                out["scenario"] = {"name": s.name, **s.config.knobs()}
                _print_one(s, rr, out)
        except (ModelError, ValueError) as e:
            rep.done()
            fail(str(e))
            return
        if json_path:
            text = json.dumps(out, indent=2, sort_keys=True) + "\n"
            if json_path == "-":
                click.echo(text, nl=False)
            else:
                Path(json_path).write_text(text)


def _fmt(x: Any, nd: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def _print_one(s: Any, rr: Any, d: dict[str, Any]) -> None:
    click.echo(f"scenario {s.name}: {s.title}")
    click.echo(f"  chain: {d['n_states']:,} states from {d['n_start']} start state(s) right after the delete; "
               f"{d['n_absorbing']:,} absorbing (the Certificate is gone)")
    if d.get("conditional"):
        click.echo(f"  WARNING: {d['trapped']['count']} trapped state(s) cannot reach completion; "
                   f"P(absorbed) = {d['p_absorb']:.4f}; the numbers below are conditioned on completion")
    rw = d["rewards"]
    click.echo(f"  expected CertificateRequests created : {_fmt(rw['certificate_requests']['mean'])}"
               f"  (std {_fmt(rw['certificate_requests']['std'])})")
    click.echo(f"  expected next-key Secrets created    : {_fmt(rw['next_key_secrets']['mean'])}")
    click.echo(f"  expected objects created (CR, K, S)  : {_fmt(rw['all_creates']['mean'])}")
    click.echo(f"  expected time to completion          : {_fmt(d['time_mean'])} s  (std {_fmt(d['time_std'])})")
    pb = rw["certificate_requests"].get("p_before") or {}
    for n, p in pb.items():
        click.echo(f"  P(gone before {n:>3} CRs are created)    : {_fmt(p, 4)}")
    click.echo("  rates (events/s): " + ", ".join(f"{k}={v:g}" for k, v in d["rates"].items()))


def _print_sweep(res: dict[str, Any]) -> None:
    click.echo(f"sweep over {res['base']} ({res['knobs']['version']}); E[#CR] = expected CertificateRequests "
               "created before the Certificate is gone")
    click.echo(f"  {'issuer':<20} {'linger':>7} {'rho':>6} {'E[#CR]':>9} {'E[#K]':>8} {'E[time] s':>10} "
               f"{'P(<2 CR)':>9} {'states':>8}")
    for r in res["rows"]:
        pb = r["p_done_before_cr"] or {}
        click.echo(f"  {r['issuer']:<20} {_fmt(r['linger'], 0) if r['linger'] else '-':>7} {r['rho']:>6g} "
                   f"{_fmt(r['expected_certificate_requests']):>9} {_fmt(r['expected_next_key_secrets']):>8} "
                   f"{_fmt(r['expected_seconds']):>10} {_fmt(pb.get('2'), 4):>9} {r['states']:>8}")
