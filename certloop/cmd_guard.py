"""``certloop verify-guard``, ``certloop minimal-guards`` and ``certloop guard-names``.

Exit codes of ``verify-guard``: 0 ACCEPTED, 1 REJECTED, 2 bad input (a guard that does not parse
or type-check, an unknown name, a bad option: a message, never a traceback), 3 UNKNOWN (a time
budget was hit and nothing was violated).  ``minimal-guards`` exits 0 (3 if a run was cut short).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Sequence

import click

from certloop.checker.check import HOLDS, VIOLATED
from certloop.checker.expr import ModelError
from certloop.model.scenario import CACHES, GC_MODES, VERSIONS

EXIT_ACCEPTED, EXIT_REJECTED, EXIT_USAGE, EXIT_UNKNOWN = 0, 1, 2, 3


class _BadInput(click.ClickException):
    exit_code = EXIT_USAGE

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)


def _fail(msg: str) -> None:
    raise _BadInput(msg)


def _echo(text: str = "", quiet_json: bool = False) -> None:
    if not quiet_json:
        click.echo(text)


def collect_guards(controllers: Sequence[str], exprs: Sequence[str], files: Sequence[str],
                   names: Sequence[str], allow_live: bool) -> list[Any]:
    """Every guard from the command line; raises GuardError (-> exit 2)."""
    from certloop.guards import GuardError, builtin_guards, parse_guard, parse_guard_file
    if len(controllers) != len(exprs):
        raise GuardError(f"--controller and --guard come in pairs: got {len(controllers)} --controller "
                         f"and {len(exprs)} --guard")
    out = []
    for name in names:
        out += builtin_guards(name)
    for path in files:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise GuardError(f"cannot read guard file {path}: {e}") from None
        out += parse_guard_file(text, path, allow_live)
    for k, (c, x) in enumerate(zip(controllers, exprs), start=1):
        try:
            out.append(parse_guard(c, x, allow_live, source=f"--guard #{k}"))
        except GuardError as e:
            raise e.located(f"--guard #{k} ({c.strip()})") from None
    return out


def _indent(lines: Sequence[str], pad: str) -> str:
    return "\n".join(pad + x for x in lines)


def print_analysis(analyses: Sequence[Any]) -> None:
    for k, a in enumerate(analyses, start=1):
        g = a.guard
        click.echo(f"  [{k}] {g.target}: {' '.join(g.text.split())}    ({g.source})")
        click.echo(f"      compiles to: {a.expr if len(a.expr) <= 160 else a.expr[:157] + '...'}")
        click.echo(f"      z3: {a.summary()}")
        if a.newly_blocks:
            click.echo("      newly BLOCKS (v1.18 would let it act), e.g.:")
            for ex in a.newly_blocks:
                click.echo("        - " + "; ".join(ex))
        if a.newly_allows:
            click.echo("      newly ALLOWS (v1.18 would block), e.g.:")
            for ex in a.newly_allows:
                click.echo("        - " + "; ".join(ex))
        if a.satisfiable is False:
            click.echo("      note: the guard is unsatisfiable: the controller (or action) never acts")
        if a.tautology:
            click.echo("      note: the guard is a tautology: it changes nothing")
    seen: list[str] = []
    for a in analyses:
        if a.assumptions not in seen:
            seen.append(a.assumptions)
            click.echo(f"      (Z3 ranges over: {a.assumptions})")


def _row(s: Any) -> str:
    return f"{s.name}" + (f" (row {s.row})" if s.row else "")


def register(main: click.Group) -> None:
    """Add the guard commands to the ``certloop`` group."""
    from certloop.guards import BUILTINS, TARGETS

    @main.command("verify-guard")
    @click.option("--controller", "controllers", multiple=True, metavar="TARGET",
                  help="Controller (trigger, keymanager, requestmanager, issuing, signer) or one action "
                       "(e.g. requestmanager.create_request) the next --guard applies to. Repeatable, "
                       "paired with --guard in order.")
    @click.option("--guard", "exprs", multiple=True, metavar="EXPR",
                  help="A guard in the guard language (docs/guards.md), e.g. "
                       "'not view.certificate.deletion_timestamp'. Repeatable.")
    @click.option("--guard-file", "files", multiple=True, metavar="FILE",
                  help="Lines 'controller: expression'; '#' comments; indented lines continue. Repeatable.")
    @click.option("--guard-name", "names", multiple=True, metavar="NAME",
                  help="A built-in guard set: " + ", ".join(BUILTINS) + ". Repeatable.")
    @click.option("--allow-live", is_flag=True,
                  help="Allow 'live.' (a GET of the API server) in user guards (MODEL.md §7.2 W1).")
    @click.option("--base", type=click.Choice(VERSIONS), default="v1.16", show_default=True,
                  help="The version the guards are added to (its own gates stay).")
    @click.option("--matrix", "matrix", multiple=True, metavar="LIST",
                  help="Comma-separated scenario names, 'default' or 'all' (repeatable); "
                       "default: the deletion rows of MODEL.md §6 plus v1.16-fresh.")
    @click.option("--gc", "gc", type=click.Choice(GC_MODES), default="abstract", show_default=True,
                  help="GC fidelity for every scenario.")
    @click.option("--caches", type=click.Choice(CACHES), default="fresh", show_default=True,
                  help="All informer caches fresh or lagging, for every scenario.")
    @click.option("--all-properties", is_flag=True,
                  help="Also check the properties that do not count for the verdict (shown as 'info').")
    @click.option("--analysis-only", is_flag=True, help="Only the Z3 analysis; no model checking (exit 0).")
    @click.option("--max-seconds", type=click.FloatRange(min=0.0, min_open=True), default=None,
                  help="Time budget for the whole matrix (what is left -> UNKNOWN).")
    @click.option("--out", "out_dir", type=click.Path(file_okay=False), default="out/verify-guard",
                  show_default=True, help="Folder for counterexample files (<scenario>/<property>.*).")
    @click.option("--no-artifacts", is_flag=True, help="Do not write counterexample files.")
    @click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
                  help="Write the report as JSON here ('-' for stdout, which then carries only the JSON).")
    def verify_guard(controllers: Sequence[str], exprs: Sequence[str], files: Sequence[str],
                     names: Sequence[str], allow_live: bool, base: str, matrix: Sequence[str], gc: str,
                     caches: str, all_properties: bool, analysis_only: bool, max_seconds: float | None,
                     out_dir: str, no_artifacts: bool, json_path: str | None) -> None:
        """Verify a proposed controller guard: Z3 analysis, model checking, one verdict.

        The guards are conjoined to the named controllers' actions on top of --base, then every
        scenario of the matrix is checked (version := --base).  ACCEPTED iff every counted
        property holds everywhere: completion (deletion_completes, or foreground_released /
        deletion_completes_after_ns / deletion_completes_after_second_delete where the scenario
        calls for it), bounded_churn, no_create_after_deletion_seen_e2e, and issuance_progresses
        on the fresh scenario.  Exit 0 ACCEPTED, 1 REJECTED, 2 bad input, 3 UNKNOWN.
        """
        from certloop.guards import GuardError, analyse, verify
        json_only = json_path == "-"
        try:
            guards = collect_guards(controllers, exprs, files, names, allow_live)
            if not guards:
                raise GuardError("no guard given: use --controller X --guard EXPR, --guard-file FILE or "
                                 "--guard-name NAME (" + ", ".join(BUILTINS) + ")")
            from certloop.guards import matrix_scenarios
            scen_list = matrix_scenarios(matrix, base=base, gc=gc, caches=caches)
        except GuardError as e:
            _fail(str(e))
            return
        try:
            if not json_only:
                click.echo(f"verify-guard: {len(guards)} guard(s) on base {base}")
            analyses = analyse(guards, base)
            if not json_only:
                print_analysis(analyses)
            if analysis_only:
                if json_path:
                    _write_json({"base": base, "analysis": [a.to_json() for a in analyses]}, json_path)
                sys.exit(EXIT_ACCEPTED)
            if not json_only:
                click.echo()
                click.echo(f"model checking: {len(scen_list)} scenarios, gc={gc}, caches={caches}, "
                           f"version := {base} + the guards")
                click.echo(f"  {'scenario':<44} {'states':>7}  {'property':<40} verdict")

            def show(o: Any) -> None:
                if json_only:
                    return
                first = True
                for p in o.properties:
                    tag = p.verdict.upper() + ("" if p.counted else "  (info)")
                    left = f"{_row(o):<44} {o.states if o.states is not None else '-':>7}" if first else " " * 52
                    click.echo(f"  {left}  {p.name:<40} {tag}")
                    first = False
                for n in o.notes:
                    click.echo(f"  {'':<52}  note: {n}")

            v = verify(guards, base=base, matrix=matrix, gc=gc, caches=caches, max_seconds=max_seconds,
                       out_dir=None if no_artifacts else out_dir, all_properties=all_properties,
                       analysis=False, on_scenario=show)
            v.analyses = analyses
        except (ModelError, GuardError) as e:
            _fail(str(e))
            return
        if not json_only:
            click.echo()
            files_all = [f for s in v.scenarios for p in s.properties for f in p.files]
            if files_all:
                click.echo(f"  counterexample files: {len(files_all)} under {out_dir}/")
            click.echo(f"verdict: {v.verdict_line()}")
            ff = v.first_failure
            if ff is not None:
                txt = [f for f in ff[1].files if f.endswith(".txt")]
                if txt:
                    click.echo(f"  counterexample: {txt[0]}")
            click.echo(f"  ({v.seconds:.1f} s model checking)")
        if json_path:
            _write_json(v.to_json(), json_path)
        sys.exit(v.exit_code)

    @main.command("minimal-guards")
    @click.option("--scenarios", "scenarios", default=None, metavar="LIST",
                  help="Comma-separated scenario names; default: MODEL.md §7.3's rows 2, 5, 11, 13, 15.")
    @click.option("--property", "properties", multiple=True, metavar="NAME",
                  help="A property to minimise for (repeatable); default: the deletion properties.")
    @click.option("--gc", "gc", type=click.Choice(GC_MODES), default="abstract", show_default=True)
    @click.option("--caches", type=click.Choice(CACHES), default="fresh", show_default=True)
    @click.option("--max-seconds", type=click.FloatRange(min=0.0, min_open=True), default=None,
                  help="Time budget for the whole experiment (what is left -> unknown).")
    @click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
                  help="Write the result as JSON here ('-' for stdout only).")
    def minimal_guards_cmd(scenarios: str | None, properties: Sequence[str], gc: str, caches: str,
                           max_seconds: float | None, json_path: str | None) -> None:
        """MODEL.md §7.3: which subsets of {trigger, keymanager, requestmanager, issuing} carrying the
        v1.18 guard (Config(gates=subset) on v1.16) make each property hold; the minimal sets, and
        for each smaller set the scenario whose counterexample defeats it."""
        from certloop.guards import (GuardError, MINIMAL_PROPERTIES, MINIMAL_SCENARIOS, _set_text,
                                     minimal_guards)
        from certloop.properties.deletion import ALL_NAMES
        scen_names = [x.strip() for x in scenarios.split(",") if x.strip()] if scenarios else list(MINIMAL_SCENARIOS)
        props = list(properties) or list(MINIMAL_PROPERTIES)
        for p in props:
            if p not in ALL_NAMES:
                _fail(f"unknown property {p!r}; valid: {', '.join(ALL_NAMES)}")
        json_only = json_path == "-"
        try:
            res = minimal_guards(scenarios=scen_names, properties=props, gc=gc, caches=caches,
                                 max_seconds=max_seconds)
        except (GuardError, ModelError) as e:
            _fail(str(e))
            return
        if not json_only:
            _print_minimal(res, _set_text)
        if json_path:
            _write_json(res.to_json(), json_path)
        unknown = any(res.holds(s, p) == "unknown" for s in res.subsets for p in res.properties)
        sys.exit(EXIT_UNKNOWN if unknown else 0)

    @main.command("guard-names")
    def guard_names() -> None:
        """The names a guard may use, the targets and the built-in guard sets (docs/guards.md)."""
        from certloop.guards import FIELDS, OBJECTS, REFERENCE
        click.echo("targets: " + ", ".join(TARGETS))
        click.echo("roots: view (the acting controller's cache); live (the API server; --allow-live only)")
        click.echo("objects:")
        for o, (kind, coll, doc) in OBJECTS.items():
            click.echo(f"  view.{o:<16} {kind + (' (collection)' if coll else ''):<32} {doc}")
        for kind, fs in FIELDS.items():
            click.echo(f"fields of a {kind}:")
            for f, (m, t, doc) in fs.items():
                click.echo(f"  {f:<26} {t:<6} {doc}  [model: {m}]")
        click.echo("built-in guard sets (--guard-name):")
        for b in BUILTINS.values():
            click.echo(f"  {b.name:<22} {b.title}")
            for t, x in b.guards:
                click.echo(f"      {t}: {x}")
        click.echo("reference (v1.18) guard per controller: " +
                   "; ".join(f"{c}: {x}" for c, x in REFERENCE.items()))


def _write_json(obj: Any, path: str) -> None:
    text = json.dumps(obj, indent=2) + "\n"
    if path == "-":
        click.echo(text, nl=False)
    else:
        Path(path).write_text(text)


def _print_minimal(res: Any, set_text: Any) -> None:
    short = {"deletion_completes": "DC", "foreground_released": "FR", "bounded_churn": "BC",
             "bounded_churn_requests": "BC[CR]", "no_create_after_deletion_seen_e2e": "NCS[e2e]",
             "no_create_after_deletion_seen_all": "NCS[all]"}
    click.echo("minimal-guards: Config(gates=S) on v1.16 for every S of {trigger, keymanager, requestmanager, "
               f"issuing}}; gc={res.gc}, caches={res.caches}")
    shared: dict[str, list[str]] = {}
    for name, row, run in res.scenarios:
        shared.setdefault(run, []).append(f"{name} (row {row})")
    click.echo("  scenarios: " + "; ".join(" = ".join(v) for v in shared.values())
               + "   ('=': the same configuration once the version is replaced)")
    click.echo()
    cols = [short.get(p, p) for p in res.properties]
    click.echo(f"  {'gate set':<48}" + "".join(f"{c:>10}" for c in cols))
    word = {HOLDS: "holds", VIOLATED: "FAILS", "unknown": "?", "n/a": "-"}
    for s in res.subsets:
        click.echo(f"  {set_text(s):<48}" + "".join(f"{word.get(res.holds(s, p), '?'):>10}" for p in res.properties))
    click.echo("  legend: " + ", ".join(f"{short.get(p, p)} = {p}" for p in res.properties))
    click.echo()
    click.echo("minimal sets (each smaller set with the scenario whose counterexample defeats it):")
    for p in res.properties:
        mins = res.minimal(p)
        if not mins:
            click.echo(f"  {p}: no subset makes it hold")
            continue
        click.echo(f"  {p}: " + " or ".join(set_text(m) for m in mins))
        done = set()
        for m in mins:
            import itertools
            for k in range(len(m) - 1, -1, -1):
                for sub in itertools.combinations(sorted(m), k):
                    fs = frozenset(sub)
                    if fs in done:
                        continue
                    done.add(fs)
                    d = res.defeat(fs, p)
                    click.echo(f"      {set_text(fs):<46} " + (f"defeated by {d}" if d else res.holds(fs, p)))
        bad = res.non_monotone(p)
        if bad:
            click.echo(f"      note: not monotone: e.g. {set_text(bad[0][0])} holds but {set_text(bad[0][1])} fails")
    click.echo(f"  ({res.seconds:.1f} s)")
