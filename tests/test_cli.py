"""The command line: exit codes, errors without tracebacks, progress, Ctrl-C, render and graph."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from certloop.checker.explore import Progress
from certloop.cli import Reporter, main


def cli(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, list(args))
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exc_info
    return r.exit_code, r.output


# --------------------------------------------------------------------------- check: exit codes


def test_check_exit_0_when_everything_holds(tmp_path):
    code, out = cli("check", "--scenario", "v1.18-seed", "--gc", "abstract", "--out", str(tmp_path))
    assert code == 0, out
    assert "deletion_completes" in out and "HOLDS" in out and "VIOLATED" not in out


def test_check_exit_1_when_a_property_is_violated(tmp_path):
    code, out = cli("check", "--scenario", "seed", "--gc", "abstract", "--property", "deletion_completes",
                    "--out", str(tmp_path), "--brief")
    assert code == 1, out
    assert "VIOLATED" in out


def test_check_exit_3_when_a_bound_is_hit():
    code, out = cli("check", "--scenario", "v1.18-seed", "--max-states", "10", "--no-artifacts", "--brief")
    assert code == 3, out
    assert "INCOMPLETE (state bound 10)" in out and "UNKNOWN" in out


@pytest.mark.parametrize("args, words", [
    (["check", "--scenario", "nope"], ["error: unknown scenario 'nope'", "available:"]),
    (["check", "--scenario", "v1.18-seed", "--property", "nope"], ["error: unknown property 'nope'", "valid:"]),
    (["check", "--scenario", "v1.18-seed", "--property", "deletion_completes_after_ns"], ["does not apply"]),
    (["check", "--max-states", "0"], ["Invalid value for '--max-states'", "0 is not in the range x>=1"]),
    (["check", "--max-seconds", "-1"], ["Invalid value for '--max-seconds'"]),
    (["check", "--version", "v2"], ["Invalid value for '--version'", "'v2' is not one of"]),
    (["check", "--frobnicate"], ["No such option '--frobnicate'"]),
    (["gate", "--max-states", "x"], ["Invalid value for '--max-states'"]),
    (["render"], ["Missing argument 'REPORT'"]),
    (["graph", "--gc", "exact"], ["Invalid value for '--gc'"]),
    (["nope"], ["No such command 'nope'"]),
])
def test_bad_usage_exits_2_with_a_message(args, words):
    code, out = cli(*args)
    assert code == 2, out
    for w in words:
        assert w in out, out
    assert "Traceback" not in out


def test_check_json_report_to_stdout():
    code, out = cli("check", "--scenario", "v1.16-idle", "--gc", "abstract", "--json", "-", "--no-artifacts")
    assert code == 0
    rep = json.loads(out[out.index("{"):])
    assert rep["scenario"]["name"].startswith("v1.16-idle") and rep["complete"] is True


# --------------------------------------------------------------------------- progress and Ctrl-C


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_reporter_shows_progress_on_a_terminal_only():
    p = Progress(states=123456, transitions=654321, depth=17, frontier=4242, seconds=2.0)
    tty = _Tty()
    r = Reporter(False, stream=tty)
    r(p)
    r.done()
    line = tty.getvalue()
    assert line.startswith("\r\033[K") and line.endswith("\n")
    for w in ("123,456 states", "61,728 states/s", "frontier 4,242", "depth 17", "654,321 transitions"):
        assert w in line
    quiet = _Tty()
    Reporter(True, stream=quiet)(p)
    assert quiet.getvalue() == ""
    pipe = io.StringIO()
    rep = Reporter(False, stream=pipe)
    rep(p)
    assert pipe.getvalue() == "" and rep.progress is p        # remembered for an interrupt report


def test_ctrl_c_during_the_property_checks_is_unknown(monkeypatch):
    """A Ctrl-C after the exploration (the liveness phase) reports what is known and exits 3."""
    import certloop.runner

    def run(scenario, properties=None, *, progress=None, **kw):
        progress(Progress(states=5000, transitions=20000, depth=25, frontier=0, seconds=1.5))
        raise KeyboardInterrupt
    monkeypatch.setattr(certloop.runner, "run", run)
    code, out = cli("check", "--scenario", "seed", "--property", "deletion_completes")
    assert code == 3, out
    assert "INTERRUPTED (Ctrl-C): 5,000 states, 20,000 transitions, depth 25" in out
    assert "verdict: UNKNOWN for deletion_completes" in out and "Traceback" not in out


def test_ctrl_c_anywhere_else_is_unknown_not_a_traceback(monkeypatch):
    import certloop.cli

    def boom(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(certloop.cli, "resolve_scenario", boom)
    code, out = cli("check")
    assert code == 3 and "interrupted (Ctrl-C)" in out and "Traceback" not in out


def test_sigint_during_a_long_check_reports_unknown_and_exits_3():
    """A real Ctrl-C: SIGINT to a ~7M-state run (~1 min) once its progress line is on the terminal."""
    master, slave = pty.openpty()
    # only holding properties: a partial graph must not violate anything, so the verdict is UNKNOWN
    p = subprocess.Popen([sys.executable, "-m", "certloop.cli", "check", "--scenario", "v1.18-seed", "--gc",
                          "abstract", "--caches", "lagging",
                          "--property", "deletion_completes", "--property", "bounded_churn",
                          "--no-artifacts", "--brief"],
                         stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL, text=True,
                         env=dict(os.environ, COLUMNS="200"),
                         # a shell's background job inherits SIGINT ignored (CI may run us so);
                         # restore the default so that Python installs its KeyboardInterrupt handler
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 90
    try:
        while b"states/s" not in seen:
            assert time.monotonic() < deadline, f"no progress line on the terminal: {seen!r}"
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(master, 4096)
                except OSError:
                    break
            assert p.poll() is None, f"the run ended before it was interrupted: {seen!r}"
        time.sleep(0.3)
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=120)
        while True:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                break
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if p.poll() is None:
            p.kill()
        os.close(master)
    err = seen.decode(errors="replace")
    assert p.returncode == 3, out + err
    assert "UNKNOWN" in out and "interrupted" in out.lower(), out
    assert "Traceback" not in err and "Traceback" not in out
    # the progress line showed the promised counters
    for w in ("states/s", "frontier", "depth", "transitions"):
        assert w in err


# --------------------------------------------------------------------------- render


@pytest.fixture(scope="module")
def saved_report(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    code, out = cli("check", "--scenario", "seed", "--gc", "abstract", "--property", "deletion_completes",
                    "--property", "no_create_after_deletion_seen_e2e", "--json", str(d / "report.json"),
                    "--out", str(d / "check"))
    assert code == 1, out
    return d


def test_render_from_a_saved_report_matches_check(saved_report, tmp_path):
    code, out = cli("render", str(saved_report / "report.json"), "--format", "dot", "--format", "txt",
                    "--format", "itf", "--out", str(tmp_path))
    assert code == 0, out
    src = saved_report / "check" / "seed_gc_abstract"
    dst = tmp_path / "seed_gc_abstract"
    assert sorted(p.name for p in dst.iterdir()) == sorted(
        f"{p}.{ext}" for p in ("deletion_completes", "no_create_after_deletion_seen_e2e")
        for ext in ("dot", "txt", "itf.json"))
    for f in dst.iterdir():      # the same bytes as `check` wrote
        assert f.read_bytes() == (src / f.name).read_bytes(), f.name


def test_render_one_property_as_svg(saved_report, tmp_path):
    import shutil
    code, out = cli("render", str(saved_report / "report.json"), "--property", "deletion_completes",
                    "--out", str(tmp_path))
    if shutil.which("dot") is None:
        assert code == 2 and "Graphviz" in out
        return
    assert code == 0, out
    svg = (tmp_path / "seed_gc_abstract" / "deletion_completes.svg").read_text()
    assert "repeats forever" in svg


def test_render_without_knobs_uses_stand_ins(saved_report, tmp_path):
    rep = json.loads((saved_report / "report.json").read_text())
    rep["scenario"] = {"name": "anonymous"}
    (tmp_path / "r.json").write_text(json.dumps(rep))
    code, out = cli("render", str(tmp_path / "r.json"), "--format", "txt", "--format", "dot",
                    "--property", "deletion_completes", "--out", str(tmp_path / "o"))
    assert code == 0, out
    txt = (tmp_path / "o" / "anonymous" / "deletion_completes.txt").read_text()
    assert "-- cycle starts here (repeats forever) --" in txt and "per turn of the loop:" in txt
    assert "repeats forever" in (tmp_path / "o" / "anonymous" / "deletion_completes.dot").read_text()


def test_render_a_single_counterexample_file(saved_report, tmp_path):
    f = saved_report / "check" / "seed_gc_abstract" / "deletion_completes.json"
    code, out = cli("render", str(f), "--format", "txt", "--out", str(tmp_path))
    assert code == 0, out
    assert (tmp_path / "seed_gc_abstract" / "deletion_completes.txt").read_text() == \
        (saved_report / "check" / "seed_gc_abstract" / "deletion_completes.txt").read_text()


@pytest.mark.parametrize("content, words", [
    (None, ["no such file"]),
    ("{not json", ["not JSON"]),
    ('{"x": 1}', ["not a certloop report"]),
])
def test_render_bad_input_exits_2(tmp_path, content, words):
    p = tmp_path / "r.json"
    if content is not None:
        p.write_text(content)
    code, out = cli("render", str(p))
    assert code == 2 and "Traceback" not in out
    for w in words:
        assert w in out


def test_render_a_property_without_counterexample_exits_2(saved_report):
    code, out = cli("render", str(saved_report / "report.json"), "--property", "nope")
    assert code == 2 and "no property 'nope'" in out and "deletion_completes" in out


# --------------------------------------------------------------------------- graph


def test_graph_is_refused_above_the_limit(tmp_path):
    code, out = cli("graph", "--scenario", "seed", "--max-states", "100", "--out", str(tmp_path / "g.dot"))
    assert code == 2, out
    assert "above the drawing limit --max-states 100" in out and "--gc abstract" in out
    assert not (tmp_path / "g.dot").exists()


def test_graph_highlights_the_fair_livelock(tmp_path):
    code, out = cli("graph", "--scenario", "seed", "--gc", "abstract", "--out", str(tmp_path / "g.dot"))
    assert code == 0, out
    assert "deletion_completes fails on a fair livelock" in out
    dot = (tmp_path / "g.dot").read_text()
    assert "subgraph cluster_scc" in dot and "#ffc9c9" in dot and "fair cycles where deletion_completes fails" in dot


def test_graph_of_a_configuration_that_holds(tmp_path):
    code, out = cli("graph", "--scenario", "v1.18-seed", "--gc", "abstract", "--out", str(tmp_path / "g.dot"))
    assert code == 0, out
    assert "deletion_completes holds" in out and "#ffc9c9" not in (tmp_path / "g.dot").read_text()


def test_graph_bad_property_and_format(tmp_path):
    code, out = cli("graph", "--scenario", "v1.16-idle", "--property", "type_ok", "--out", str(tmp_path / "g.dot"))
    assert code == 2 and "not a leads-to property" in out
    code, out = cli("graph", "--scenario", "v1.16-idle", "--out", str(tmp_path / "g.jpg"))
    assert code == 2 and "suffix picks the format" in out
