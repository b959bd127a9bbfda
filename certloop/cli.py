"""The ``certloop`` command line.

Exit codes (a contract, tested): 0 every property holds, 1 a property is violated, 2 bad usage
or input, 3 unknown (a bound was hit or the run was interrupted, and nothing was violated).
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import click

from certloop.checker.check import HOLDS, UNKNOWN, VIOLATED
from certloop.checker.explore import Progress
from certloop.checker.expr import ModelError
from certloop.model.scenario import CACHES, GC_MODES, INITS, ISSUERS, POLICIES, VERSIONS, Config
from certloop.properties import scenarios as scen

EXIT_OK, EXIT_VIOLATED, EXIT_USAGE, EXIT_UNKNOWN = 0, 1, 2, 3


class UsageFailure(click.ClickException):
    exit_code = EXIT_USAGE

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)


def fail(msg: str) -> None:
    raise UsageFailure(msg)


class Reporter:
    """Progress on stderr: a live line on a terminal, nothing otherwise or with ``--quiet``.

    The line shows states, states/s, the frontier, the BFS depth and the transitions so far; it is
    cut to the terminal's width so that ``\\r`` can redraw it.  The last :class:`Progress` is kept
    either way (``.progress``), so an interrupted run can say how far it got.
    """

    def __init__(self, quiet: bool, label: str = "", stream: Any = None):
        self.stream = stream if stream is not None else sys.stderr
        try:
            tty = bool(self.stream.isatty())
        except (AttributeError, ValueError):
            tty = False
        self.live = (not quiet) and tty
        self.label = label
        self.last = ""
        self.progress: Progress | None = None

    def __call__(self, p: Progress) -> None:
        self.progress = p
        if not self.live:
            return
        import shutil
        line = ((f"{self.label}: " if self.label else "  ")
                + f"{p.states:,} states  {p.rate:,.0f} states/s  frontier {p.frontier:,}  depth {p.depth}  "
                  f"{p.transitions:,} transitions  {p.seconds:.1f} s")
        width = max(20, shutil.get_terminal_size((100, 24)).columns - 1)
        line = line[:width]
        self.stream.write("\r\033[K" + line)
        self.stream.flush()
        self.last = line

    def done(self, keep: bool = True) -> None:
        """End the live line: keep it (a newline) or erase it."""
        if self.live and self.last:
            self.stream.write("\n" if keep else "\r\033[K")
            self.stream.flush()
        self.last = ""


class _Group(click.Group):
    """The ``certloop`` group: a Ctrl-C that no command handled is UNKNOWN (exit 3), not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("\ninterrupted (Ctrl-C): nothing was decided (UNKNOWN)", err=True)
            ctx.exit(EXIT_UNKNOWN)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="certloop")
def main() -> None:
    """certloop: does a deleted cert-manager Certificate eventually go away?

    A formal model of Kubernetes deletion, the garbage collector and cert-manager's controllers
    (v1.16/v1.17/v1.18), and an exhaustive checker with fair liveness (cert-manager#7358).
    """


def scenario_options(f: Any) -> Any:
    opts = [
        click.option("--scenario", "scenario_name", default=None, metavar="NAME",
                     help=f"A named scenario (see `certloop scenarios`); default: {scen.DEFAULT}."),
        click.option("--version", "version", type=click.Choice(VERSIONS), default=None,
                     help="cert-manager version (which controllers carry the deletionTimestamp guard)."),
        click.option("--issuer", type=click.Choice(ISSUERS), default=None,
                     help="in-tree signer, external issuer, or external issuer with a CR finalizer."),
        click.option("--policy", type=click.Choice(POLICIES), default=None, help="propagation policy of the DELETE."),
        click.option("--owner-ref/--no-owner-ref", "owner_ref", default=None,
                     help="--enable-certificate-owner-ref (the spec Secret gets a blocking owner reference)."),
        click.option("--namespace-deletion", is_flag=True, default=None,
                     help="the user may also delete the namespace afterwards."),
        click.option("--second-delete", "again", type=click.Choice(POLICIES), default=None,
                     help="the user may DELETE the Certificate a second time with this policy."),
        click.option("--init", type=click.Choice(INITS), default=None, help="the state at the delete."),
        click.option("--caches", type=click.Choice(CACHES), default=None,
                     help="all informer caches (cert-manager, issuer, GC graph) fresh or lagging."),
        click.option("--cache-cm", type=click.Choice(CACHES), default=None, help="cert-manager's cache only."),
        click.option("--gc", "gc", type=click.Choice(GC_MODES), default=None, help="GC fidelity."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def resolve_scenario(scenario_name: str | None, **knobs: Any) -> scen.Scenario:
    try:
        s = scen.get(scenario_name or scen.DEFAULT)
    except ModelError as e:
        fail(str(e))
        raise
    cfg = s.config
    caches = knobs.pop("caches", None)
    if caches is not None:
        cfg = cfg.with_caches(caches)
    mapping = {"version": "version", "issuer": "issuer", "policy": "policy", "owner_ref": "owner_ref",
               "namespace_deletion": "namespace_deletion", "again": "again", "init": "init",
               "cache_cm": "cache_cm", "gc": "gc"}
    changes = {mapping[k]: v for k, v in knobs.items() if v is not None and k in mapping}
    if changes:
        try:
            cfg = replace(cfg, **changes)
        except ModelError as e:
            fail(str(e))
        name = s.name if not changes else s.name + "+" + ",".join(f"{k}={v}" for k, v in sorted(changes.items()))
        s = replace(s, name=name, config=cfg)
    elif caches is not None:
        s = replace(s, config=cfg)
    if caches is not None and "+" not in s.name:
        s = replace(s, name=f"{s.name}+caches={caches}")
    return s


def print_run(r: Any, *, show_traces: bool = True, file: Any = None) -> None:
    from certloop.checker import trace as tracefmt
    from certloop.properties.ledger import ledger_lines
    out = file or sys.stdout
    g = r.graph
    s = r.scenario
    k = s.config.knobs()
    echo = lambda t="": click.echo(t, file=out)  # noqa: E731
    echo(f"scenario {s.name}" + (f" (row {s.row})" if s.row else "") + f": {s.title}")
    echo("  " + ", ".join(f"{key}={k[key]}" for key in ("version", "issuer", "policy", "owner_ref", "init",
                                                          "cache_cm", "cache_ext", "cache_gc", "gc")))
    status = "complete" if g.complete else f"INCOMPLETE ({g.reason})"
    echo(f"  {g.n_states:,} states, {g.n_transitions:,} transitions, depth {g.max_depth}, {g.seconds:.1f} s, {status}")
    echo()
    w = max([len(x.name) for x in r.results + r.witnesses] + [8])
    echo(f"  {'property':<{w}}  {'verdict':<9}  {'states':>10}  {'seconds':>7}  note")
    for x in r.results:
        echo(f"  {x.name:<{w}}  {x.verdict.upper():<9}  {g.n_states:>10,}  {x.seconds:>7.2f}  {x.note}")
    if r.witnesses:
        echo()
        echo("  non-vacuity witnesses:")
        for x in r.witnesses:
            word = {HOLDS: "reachable", VIOLATED: "unreachable"}.get(x.verdict, x.verdict)
            echo(f"  {x.name:<{w}}  {word}")
    if r.max_late_creates != "n/a":
        mlc = r.max_late_creates
        echo()
        from certloop.runner import describe_max_late_creates
        echo("  max_late_creates (most creates on any path after the delete): " + describe_max_late_creates(r))
    from certloop.runner import caveats
    cav = caveats(r)
    if cav:
        echo()
        echo("  caveats:")
        for c in cav:
            echo(f"    - {c}")
    fair = next((x.fairness for x in r.results if x.fairness is not None), None)
    if fair is not None:
        echo()
        echo(f"  fairness ({fair.name}) for the liveness verdicts:")
        for line in fair.lines:
            echo(f"    - {line}")
    if show_traces:
        for x in r.results:
            if x.verdict == VIOLATED and x.trace is not None:
                echo()
                echo(tracefmt.to_text(x.trace, title=f"{x.name} VIOLATED").rstrip())
                for line in ledger_lines(x.trace):
                    echo("  " + line)


@main.command()
@scenario_options
@click.option("--property", "properties", multiple=True, metavar="NAME",
              help="A property to check (repeatable); default: all that apply.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the report as JSON here ('-' for stdout).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="out", show_default=True,
              help="Folder for counterexample files (<scenario>/<property>.{txt,json,itf.json,dot,svg}).")
@click.option("--no-artifacts", is_flag=True, help="Do not write counterexample files.")
@click.option("--max-states", type=click.IntRange(min=1), default=None, help="Stop after this many states (-> UNKNOWN).")
@click.option("--max-seconds", type=click.FloatRange(min=0.0, min_open=True), default=None,
              help="Stop after this many seconds (-> UNKNOWN).")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@click.option("--brief", is_flag=True, help="Verdict table only, no traces.")
def check(scenario_name: str | None, properties: Sequence[str], json_path: str | None, out_dir: str,
          no_artifacts: bool, max_states: int | None, max_seconds: float | None, quiet: bool, brief: bool,
          **knobs: Any) -> None:
    """Check a scenario: verdicts, counterexamples with their ledger, diagrams under --out."""
    from certloop.runner import report_json, run, write_artifacts
    s = resolve_scenario(scenario_name, **knobs)
    rep = Reporter(quiet)
    try:
        r = run(s, list(properties) or None, max_states=max_states, max_seconds=max_seconds, progress=rep)
    except ModelError as e:
        rep.done()
        fail(str(e))
        return
    except KeyboardInterrupt:
        # Ctrl-C during the exploration ends the search (an incomplete graph, handled in run());
        # here it came later, during the property checks: report what is known.
        rep.done()
        print_interrupted(s, rep.progress, properties)
        sys.exit(EXIT_UNKNOWN)
    rep.done()
    try:
        print_run(r, show_traces=not brief)
        if r.graph.reason == "interrupted":
            click.echo()
            click.echo("  interrupted (Ctrl-C): the search stopped early; the verdicts above are what is known, "
                       "UNKNOWN = not decided")
        if not no_artifacts:
            files = write_artifacts(r, out_dir)
            if files:
                click.echo()
                click.echo(f"  counterexample files: {Path(out_dir) / s.name}/ ({len(files)} files)")
        if json_path:
            text = json.dumps(report_json(r), indent=2) + "\n"
            if json_path == "-":
                click.echo(text, nl=False)
            else:
                try:
                    Path(json_path).write_text(text)
                except OSError as e:
                    fail(f"cannot write --json {json_path}: {e.strerror or e}")
    except KeyboardInterrupt:
        click.echo("\n  interrupted (Ctrl-C) while writing the results", err=True)
        sys.exit(EXIT_VIOLATED if r.exit_code == EXIT_VIOLATED else EXIT_UNKNOWN)
    sys.exit(r.exit_code)


def print_interrupted(s: scen.Scenario, p: Progress | None, properties: Sequence[str]) -> None:
    """The partial result of a run stopped by Ctrl-C before any verdict: UNKNOWN, with its counts."""
    click.echo(f"scenario {s.name}" + (f" (row {s.row})" if s.row else "") + f": {s.title}")
    if p is not None:
        click.echo(f"  INTERRUPTED (Ctrl-C): {p.states:,} states, {p.transitions:,} transitions, depth {p.depth}, "
                   f"{p.seconds:.1f} s explored; the search is incomplete")
    else:
        click.echo("  INTERRUPTED (Ctrl-C) before the first progress report; the search is incomplete")
    names = ", ".join(properties) if properties else "every property"
    click.echo(f"  verdict: UNKNOWN for {names} (interrupted before the checks finished; nothing was decided)")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def scenarios(as_json: bool) -> None:
    """List the named scenarios with their knobs and expected verdicts (MODEL.md §6)."""
    rows = []
    for s in scen.SCENARIOS:
        rows.append({"name": s.name, "row": s.row, "title": s.title, "knobs": s.config.knobs(),
                     "expected": dict(sorted(s.expected.items())), "evidence": s.evidence})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for d in rows:
        k = d["knobs"]
        click.echo(f"{d['name']}" + (f"  (row {d['row']})" if d["row"] else "") + f"  {d['title']}")
        click.echo(f"    version={k['version']} issuer={k['issuer']} policy={k['policy']} owner_ref={k['owner_ref']} "
                   f"init={k['init']} caches={k['cache_cm']}/{k['cache_ext']}/{k['cache_gc']} gc={k['gc']}"
                   + (f" second_delete={k['again']}" if k["again"] else "")
                   + (" namespace_deletion" if k["namespace_deletion"] else "")
                   + (" test_finalizer" if k["test_finalizer"] else "")
                   + (" delete_secret" if k["delete_secret"] else ""))
        click.echo("    expected: " + ", ".join(f"{p}={v}" for p, v in d["expected"].items()))


from certloop.cmd_guard import register as _register_guard  # noqa: E402  (verify-guard, minimal-guards)
_register_guard(main)

from certloop.cmd_gate import register as _register_gate  # noqa: E402  (gate, init)
_register_gate(main)

from certloop.cmd_render import register as _register_render  # noqa: E402  (render, graph)
_register_render(main)

from certloop.cmd_rates import register as _register_rates  # noqa: E402

_register_rates(main)


if __name__ == "__main__":  # pragma: no cover
    main()
