"""``certloop gate`` (the CI proof gate) and ``certloop init`` (write a commented gate config).

Exit codes of ``gate``: 0 every expectation is met, 1 one is not (or an entry crashed), 2 a bad
config or option (a message naming the file, line and key; never a traceback), 3 unknown (a bound
was hit or the gate was interrupted, and nothing failed).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNKNOWN = 0, 1, 2, 3


class _BadInput(click.ClickException):
    exit_code = EXIT_USAGE

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)


def _fmt_states(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def register(main: click.Group) -> None:
    """Add ``gate`` and ``init`` to the ``certloop`` group."""

    @main.command()
    @click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None, metavar="PATH",
                  help="The gate config (TOML). Default: ./certloop.toml if it exists, else the shipped "
                       "default (certloop/data/gate.toml; `certloop init` writes a copy).")
    @click.option("--out", "out_dir", type=click.Path(file_okay=False), default="out/gate", show_default=True,
                  help="Folder for the artifacts: per scenario a report.json and, per counterexample, "
                       "<property>.{txt,json,itf.json,dot,svg}; also junit.xml and summary.json.")
    @click.option("--junit", "junit_path", type=click.Path(dir_okay=False), default=None, metavar="PATH",
                  help="Write JUnit XML here (one testcase per scenario x property). Default: OUT/junit.xml.")
    @click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None, metavar="PATH",
                  help="Write the JSON summary here ('-' for stdout, which then carries only the JSON). "
                       "Default: OUT/summary.json.")
    @click.option("--quiet", "-q", is_flag=True,
                  help="No progress; print only what did not pass and the verdict line.")
    @click.option("--max-seconds", type=click.FloatRange(min=0.0, min_open=True), default=None,
                  help="Time budget for the whole gate (overrides the config's); what is not run in time "
                       "is UNKNOWN.")
    @click.option("--max-states", type=click.IntRange(min=1), default=None,
                  help="State bound per scenario (overrides the config's; a truncated search is UNKNOWN).")
    @click.option("--no-artifacts", is_flag=True,
                  help="Write no counterexample files or diagrams (JUnit and JSON are still written).")
    @click.option("--timings", is_flag=True,
                  help="Put durations into the JSON and JUnit (they are then no longer byte-identical "
                       "from run to run).")
    @click.option("--list", "list_only", is_flag=True, help="Validate the config, print the suite, run nothing.")
    def gate(config_path: str | None, out_dir: str, junit_path: str | None, json_path: str | None, quiet: bool,
             max_seconds: float | None, max_states: int | None, no_artifacts: bool, timings: bool,
             list_only: bool) -> None:
        """The CI proof gate: scenarios x properties with expected verdicts, and guard sets.

        Each [[scenario]] of the config is explored once and each property it names must get its
        expected verdict: "holds", or "violated" for a negative control (a configuration that must
        keep failing, e.g. the v1.16 seed must keep livelocking; it passes only if that property
        is violated). Each [[guard]] set must be ACCEPTED or REJECTED by `verify-guard`'s
        procedure. Exit 0 every expectation is met, 1 one is not, 2 a bad config, 3 unknown.
        """
        from certloop.cli import Reporter
        from certloop.gate import ConfigError, load_config, run_gate
        try:
            cfg = load_config(config_path)
        except ConfigError as e:
            raise _BadInput(str(e)) from None
        to_stderr = json_path == "-"

        def echo(text: str = "") -> None:
            click.echo(text, err=to_stderr)

        n_exp = sum(len(sc.expect) for sc in cfg.scenarios)
        head = (f"certloop gate: {cfg.file}: {n_exp} verdict{'s' * (n_exp != 1)} on {len(cfg.scenarios)} "
                f"scenario{'s' * (len(cfg.scenarios) != 1)}"
                + (f", {len(cfg.guards)} guard set{'s' * (len(cfg.guards) != 1)}" if cfg.guards else ""))
        w_s = max([len(s.label) for s in cfg.scenarios] + [len(g.name) for g in cfg.guards] + [8])
        w_p = max([len(x.property) for sc in cfg.scenarios for x in sc.expect] + [8])
        if list_only:
            echo(head)
            for sc in cfg.scenarios:
                for x in sc.expect:
                    echo(f"  {sc.label:<{w_s}}  {x.property:<{w_p}}  {x.expected}"
                         + ("  (negative control)" if x.expected == "violated" else ""))
            for g in cfg.guards:
                echo(f"  {'guard':<{w_s}}  {g.name:<{w_p}}  {g.expect}"
                     + (f" by {g.rejected_by}" if g.rejected_by else "") + f"  ({'; '.join(g.sources)})")
            return
        if not quiet:
            echo(head)
            echo()
            echo(f"  {'outcome':<7}  {'scenario':<{w_s}}  {'property':<{w_p}}  {'expected':<8}  {'verdict':<9}  states")

        def row(outcome: str, cls: str, name: str, expected: str, verdict: str | None, states: str) -> None:
            echo(f"  {outcome.upper():<7}  {cls:<{w_s}}  {name:<{w_p}}  {expected:<8}  "
                 f"{(verdict or '-').upper():<9}  {states}")

        reporters: list[Any] = []

        def progress_for(label: str) -> Any:
            rep = Reporter(quiet, label=f"  {label}", stream=sys.stderr)
            reporters.append(rep)
            return rep

        def on_run(r: Any) -> None:
            for rep in reporters:
                rep.done(keep=False)
            reporters.clear()
            for c in r.cases:
                if quiet and c.outcome == "pass":
                    continue
                row(c.outcome, c.classname, c.name, c.expected, c.verdict, _fmt_states(r.states))
                if c.outcome != "pass":
                    echo(f"           {c.message}")
                    for f in c.files:
                        if f.endswith(".txt"):
                            echo(f"           counterexample: {f}")

        def on_guard(g: Any) -> None:
            c = g.case
            if quiet and c.outcome == "pass":
                return
            row(c.outcome, "guard", c.name, c.expected, c.verdict, "")
            if c.outcome != "pass":
                echo(f"           {c.message}")

        t0 = time.monotonic()
        res = run_gate(cfg, out_dir=None if no_artifacts else out_dir, max_seconds=max_seconds,
                       max_states=max_states, timings=timings, progress_for=progress_for, on_run=on_run,
                       on_guard=on_guard)
        elapsed = time.monotonic() - t0
        junit = junit_path or str(Path(out_dir) / "junit.xml")
        summary = json_path or str(Path(out_dir) / "summary.json")
        try:
            _write(junit, res.to_junit(timings))
            if summary == "-":
                click.echo(json.dumps(res.to_json(timings), indent=2))
            else:
                _write(summary, json.dumps(res.to_json(timings), indent=2) + "\n")
        except OSError as e:
            raise _BadInput(f"cannot write {e.filename}: {e.strerror or e}") from None
        echo()
        if res.interrupted:
            echo("  interrupted (Ctrl-C): the entries not finished are UNKNOWN")
        echo(f"{res.verdict_line()} in {elapsed:.1f} s")
        files = f"  JUnit: {junit}" + (f"  summary: {summary}" if summary != "-" else "")
        if not no_artifacts:
            files += f"  counterexamples: {Path(out_dir).as_posix()}/<scenario>/"
        echo(files)
        sys.exit(res.exit_code)

    @main.command()
    @click.argument("path", required=False, default="certloop.toml", type=click.Path(dir_okay=False))
    @click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
    def init(path: str, force: bool) -> None:
        """Write a commented gate config to PATH (default: certloop.toml; '-' for stdout).

        The file is the shipped default suite (the seed matrix with its negative controls); edit it
        and run `certloop gate`.
        """
        from certloop.gate import default_config_text
        text = default_config_text()
        if path == "-":
            click.echo(text, nl=False)
            return
        p = Path(path)
        if p.exists() and not force:
            raise _BadInput(f"{path} exists; use --force to overwrite it")
        try:
            if p.parent and not p.parent.exists():
                p.parent.mkdir(parents=True)
            p.write_text(text, encoding="utf-8")
        except OSError as e:
            raise _BadInput(f"cannot write {path}: {e.strerror or e}") from None
        click.echo(f"wrote {path}; run `certloop gate" + ("" if p.name == "certloop.toml" and
                                                          p.resolve().parent == Path.cwd().resolve()
                                                          else f" --config {path}") + "`")


def _write(path: str, text: str) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
