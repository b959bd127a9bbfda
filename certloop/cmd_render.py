"""``certloop render`` (diagrams from a saved report) and ``certloop graph`` (a whole state graph).

Exit codes: 0 written, 2 bad input (a missing or malformed report, an unknown property, a graph
above the size limit, Graphviz missing for an image format).  ``graph`` also exits 0 when the
property it highlights fails: it draws, it does not judge.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import click

EXIT_USAGE = 2


class _BadInput(click.ClickException):
    exit_code = EXIT_USAGE

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)


def register(main: click.Group) -> None:
    """Add ``render`` and ``graph`` to the ``certloop`` group."""
    from certloop.cli import resolve_scenario, scenario_options
    from certloop.render import IMAGE_FORMATS, TEXT_FORMATS

    @main.command()
    @click.argument("report", type=click.Path(dir_okay=False))
    @click.option("--format", "formats", multiple=True, type=click.Choice(IMAGE_FORMATS + TEXT_FORMATS),
                  default=("svg",), show_default=True,
                  help="Output format (repeatable): a swimlane diagram (svg, png, pdf; the .dot is kept), "
                       "its DOT source (dot), the text trace (txt) or an ITF trace (itf).")
    @click.option("--property", "properties", multiple=True, metavar="NAME",
                  help="Render this property's counterexample (repeatable; a witness name renders its "
                       "example). Default: every counterexample in the report.")
    @click.option("--out", "out_dir", type=click.Path(file_okay=False), default="out", show_default=True,
                  help="Folder: files go to <out>/<scenario>/<property>.<format>.")
    def render(report: str, formats: Sequence[str], properties: Sequence[str], out_dir: str) -> None:
        """Render the counterexamples of a saved report (`certloop check --json REPORT`).

        REPORT is a `check --json` report or one counterexample file (out/<scenario>/<property>.json).
        With the report's knobs the model is rebuilt, so the diagrams match what `check` writes.
        """
        from certloop.render import RenderError, _model_for, load_report, render_result
        try:
            rep = load_report(report)
            if properties:
                chosen = [rep.result(p) for p in properties]
            else:
                chosen = [r for r in rep.results if r.steps is not None and r.verdict == "violated"]
                if not chosen:
                    verdicts = ", ".join(f"{r.property}={r.verdict}" for r in rep.results)
                    click.echo(f"{report}: no counterexample to render ({verdicts})")
                    return
            model = _model_for(rep.knobs)
            hints = []
            for r in chosen:
                files, hint = render_result(rep, r, out_dir, list(dict.fromkeys(formats)), model)
                for f in files:
                    click.echo(f"wrote {f}")
                if hint:
                    hints.append(hint)
        except RenderError as e:
            raise _BadInput(str(e)) from None
        except OSError as e:
            raise _BadInput(f"cannot write under {out_dir}: {e.strerror or e}") from None
        except RuntimeError as e:           # dot failed
            raise _BadInput(str(e)) from None
        if hints and any(f in IMAGE_FORMATS for f in formats):
            raise _BadInput(hints[0])

    @main.command()
    @scenario_options
    @click.option("--max-states", type=click.IntRange(min=1), default=2000, show_default=True,
                  help="Refuse (exit 2) above this many states: Graphviz cannot lay out much more readably.")
    @click.option("--property", "prop", default="deletion_completes", show_default=True, metavar="NAME",
                  help="The leads-to property whose fair livelock components are highlighted in red.")
    @click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None, metavar="FILE",
                  help="The file to write; its suffix picks the format (.svg, .png, .pdf or .dot). "
                       "Default: out/<scenario>/state-graph.svg.")
    def graph(max_states: int, prop: str, out_path: str | None, scenario_name: str | None, **knobs: Any) -> None:
        """Draw the whole reachable state graph of a small configuration.

        States are boxes (the fields that differ from the initial state), SCCs are clusters, and the
        fair components where --property fails (the livelock) are red. Example:
        certloop graph --scenario seed --gc abstract
        """
        from certloop.checker.dot import render as dot_render
        from certloop.render import RenderError, state_graph
        s = resolve_scenario(scenario_name, **knobs)
        target = Path(out_path) if out_path else Path("out") / _slug(s.name) / "state-graph.svg"
        fmt = target.suffix.lstrip(".").lower()
        if fmt not in ("svg", "png", "pdf", "dot"):
            raise _BadInput(f"--out {target}: the suffix picks the format; use .svg, .png, .pdf or .dot")
        try:
            d = state_graph(s, max_states=max_states, prop=prop)
        except RenderError as e:
            raise _BadInput(str(e)) from None
        base = target.with_suffix("")
        try:
            written = dot_render(d.dot, base, formats=[] if fmt == "dot" else [fmt])
        except (OSError, RuntimeError) as e:
            raise _BadInput(f"cannot write {target}: {e}") from None
        click.echo(f"{s.name}: {d.states:,} states, {d.transitions:,} transitions, {d.sccs} SCCs; "
                   + (f"{prop} fails on a fair livelock of {d.fair} states (red)" if d.fair
                      else f"{prop} holds (no fair livelock)"))
        for f in written:
            click.echo(f"wrote {Path(f).as_posix()}")
        if written.message and fmt != "dot":
            raise _BadInput(written.message)


def _slug(s: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in s)
