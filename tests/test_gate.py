"""``certloop gate`` and ``certloop init``: the CI proof gate, its config and its artifacts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from certloop.cli import main
from certloop.gate import ConfigError, _Locator, default_config_text, parse_config


def gate(args: list[str], cwd: Path | None = None) -> tuple[int, str]:
    runner = CliRunner()
    if cwd is not None:
        old = os.getcwd()
        os.chdir(cwd)
    try:
        r = runner.invoke(main, ["gate"] + args, catch_exceptions=False)
    finally:
        if cwd is not None:
            os.chdir(old)
    return r.exit_code, r.output


def write(tmp_path: Path, text: str, name: str = "gate.toml") -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def junit_cases(path: Path) -> list[ET.Element]:
    return ET.parse(path).getroot().findall(".//testcase")


# --------------------------------------------------------------------------- the shipped gate


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    out = tmp_path_factory.mktemp("gate") / "out"
    code, text = gate(["--out", str(out)], cwd=tmp_path_factory.mktemp("cwd"))
    return code, text, out


def test_shipped_gate_passes(shipped):
    code, text, out = shipped
    assert code == 0, text
    assert "PASS: all 15 expectations met (13 verdicts on 6 scenarios, 2 guard sets)" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verdict"] == "PASS" and summary["exit_code"] == 0
    assert summary["counts"] == {"expectations": 15, "passed": 15, "failed": 0, "errors": 0, "unknown": 0}
    assert "seconds" not in summary          # deterministic: no timings unless --timings
    root = ET.parse(out / "junit.xml").getroot()
    assert root.get("tests") == "15" and root.get("failures") == "0" and root.get("time") is None
    cases = {(c.get("classname"), c.get("name")) for c in root.iter("testcase")}
    assert ("seed", "deletion_completes") in cases and ("guard", "never create") in cases


def test_shipped_gate_has_the_seed_negative_controls(shipped):
    _, _, out = shipped
    cfg = parse_config(default_config_text(), "gate.toml")
    seed = next(s for s in cfg.scenarios if s.label == "seed")
    assert {(e.property, e.expected) for e in seed.expect} == {("deletion_completes", "violated"),
                                                               ("bounded_churn_requests", "violated")}
    # the negative controls leave their counterexamples (and the report render reads)
    assert (out / "seed" / "deletion_completes.txt").read_text().count("-- cycle starts here") == 1
    assert (out / "seed" / "deletion_completes.dot").exists()
    rep = json.loads((out / "seed" / "report.json").read_text())
    assert rep["scenario"]["name"] == "seed" and rep["results"][0]["property"] == "deletion_completes"


def test_shipped_config_covers_the_seed_matrix():
    cfg = parse_config(default_config_text(), "gate.toml")
    got = {s.label: {e.property: e.expected for e in s.expect} for s in cfg.scenarios}
    assert got["v1.17-external-finalizer-in-flight"] == {"deletion_completes": "violated",
                                                         "bounded_churn_requests": "holds"}
    assert got["v1.18-seed"]["deletion_completes"] == "holds"
    assert got["v1.18-fresh"]["issuance_progresses"] == "holds"
    assert got["v1.16-namespace-deletion"] == {"deletion_completes_after_ns": "holds"}
    assert got["v1.16-background-external-finalizer"]["no_orphans"] == "holds"


# --------------------------------------------------------------------------- failing expectations


def test_seed_expected_to_hold_fails_with_a_junit_failure(tmp_path):
    cfg = write(tmp_path, '[[scenario]]\nname = "seed"\nexpect = { deletion_completes = "holds" }\n')
    code, text = gate(["--config", cfg, "--out", str(tmp_path / "out")])
    assert code == 1, text
    assert "FAIL: seed: deletion_completes is VIOLATED, expected HOLDS" in text
    [case] = junit_cases(tmp_path / "out" / "junit.xml")
    assert case.get("classname") == "seed" and case.get("name") == "deletion_completes"
    fail = case.find("failure")
    assert fail is not None and fail.get("message") == "deletion_completes is VIOLATED, expected HOLDS"
    body = fail.text or ""
    assert "seed: deletion_completes VIOLATED" in body and "-- cycle starts here (repeats forever) --" in body
    assert "per turn of the loop:" in body       # the ledger
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["verdict"] == "FAIL" and summary["scenarios"][0]["results"][0]["outcome"] == "fail"


def test_negative_control_violated_on_another_property_fails(tmp_path):
    """seed violates deletion_completes, not no_orphans: the no_orphans control must fail."""
    cfg = write(tmp_path, '[[scenario]]\nname = "seed"\ngc = "abstract"\n'
                          'expect = { deletion_completes = "violated", no_orphans = "violated" }\n')
    code, text = gate(["--config", cfg, "--out", str(tmp_path / "out")])
    assert code == 1, text
    cases = {c.get("name"): c for c in junit_cases(tmp_path / "out" / "junit.xml")}
    assert cases["deletion_completes"].find("failure") is None
    f = cases["no_orphans"].find("failure")
    assert f is not None and "no_orphans HOLDS, expected VIOLATED" in f.get("message")
    assert cases["no_orphans"].get("classname") == "seed+gc=abstract"


def test_negative_control_does_not_pass_on_an_error(tmp_path, monkeypatch):
    import certloop.runner

    def boom(*a, **k):
        raise RuntimeError("the checker crashed")
    monkeypatch.setattr(certloop.runner, "run", boom)
    cfg = write(tmp_path, '[[scenario]]\nname = "seed"\nexpect = { deletion_completes = "violated" }\n')
    code, text = gate(["--config", cfg, "--out", str(tmp_path / "out")])
    assert code == 1, text
    [case] = junit_cases(tmp_path / "out" / "junit.xml")
    assert case.find("error") is not None and "the checker crashed" in case.find("error").get("message")


def test_a_bound_makes_the_gate_unknown(tmp_path):
    cfg = write(tmp_path, '[[scenario]]\nname = "v1.18-seed"\nexpect = { deletion_completes = "holds" }\n')
    code, text = gate(["--config", cfg, "--out", str(tmp_path / "out"), "--max-states", "10", "--quiet"])
    assert code == 3, text
    assert "UNKNOWN" in text
    [case] = junit_cases(tmp_path / "out" / "junit.xml")
    assert case.find("skipped") is not None and "state bound 10" in case.find("skipped").get("message")


def test_a_spent_time_budget_leaves_entries_unknown(tmp_path):
    cfg = write(tmp_path, '[gate]\nmax_seconds = 1e-9\n[[scenario]]\nname = "v1.18-seed"\n'
                          'expect = { deletion_completes = "holds" }\n')
    code, text = gate(["--config", cfg, "--out", str(tmp_path / "out")])
    assert code == 3, text
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert "time budget" in s["scenarios"][0]["results"][0]["message"]


def test_ctrl_c_makes_the_gate_unknown(tmp_path, monkeypatch):
    import certloop.runner

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(certloop.runner, "run", interrupted)
    cfg = write(tmp_path, '[[scenario]]\nname = "v1.18-seed"\nexpect = { deletion_completes = "holds" }\n'
                          '[[scenario]]\nname = "seed"\nexpect = { deletion_completes = "violated" }\n')
    code, text = gate(["--config", cfg, "--out", str(tmp_path / "out")])
    assert code == 3, text
    assert "interrupted" in text and "Traceback" not in text
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["interrupted"] is True and s["counts"]["unknown"] == 2


def test_guard_expectations(tmp_path):
    cfg = write(tmp_path, """
[[guard]]
name = "never create"
builtin = "never-create"
matrix = ["v1.16-fresh"]
expect = "accepted"

[[guard]]
name = "never create, wrong reason"
guards = ["keymanager: false", "requestmanager: false"]
matrix = ["v1.16-fresh"]
expect = "rejected"
rejected_by = "deletion_completes"

[[guard]]
name = "v1.17"
guards = [{ controller = "requestmanager", guard = "not view.certificate.deletion_timestamp" },
          { controller = "issuing", guard = "not view.certificate.deletion_timestamp" }]
matrix = ["seed"]
expect = "rejected"
""")
    code, text = gate(["--config", cfg, "--out", str(tmp_path / "out")])
    assert code == 1, text
    cases = {c.get("name"): c for c in junit_cases(tmp_path / "out" / "junit.xml")}
    assert "is REJECTED, expected ACCEPTED" in cases["never create"].find("failure").get("message")
    assert "not by deletion_completes" in cases["never create, wrong reason"].find("failure").get("message")
    assert cases["v1.17"].find("failure") is None
    assert {c.get("classname") for c in cases.values()} == {"guard"}


# --------------------------------------------------------------------------- determinism


DET = """
[gate]
formats = []
[[scenario]]
name = "seed"
gc = "abstract"
expect = { deletion_completes = "holds", bounded_churn_requests = "violated" }
[[scenario]]
name = "v1.18-seed"
expect = { deletion_completes = "holds", no_orphans = "holds" }
[[guard]]
name = "v1.18"
builtin = "v1.18"
matrix = ["seed"]
expect = "accepted"
"""


def test_json_and_junit_are_byte_identical(tmp_path):
    cfg = write(tmp_path, DET)
    outs = []
    for k in range(2):
        out = tmp_path / f"out{k}"
        code, _ = gate(["--config", cfg, "--out", "out", "--json", str(out / "s.json"), "--junit",
                        str(out / "j.xml")], cwd=tmp_path)
        assert code == 1
        outs.append(out)
    # a third run in another process with another hash seed
    out = tmp_path / "out2"
    env = dict(os.environ, PYTHONHASHSEED="4242")
    p = subprocess.run([sys.executable, "-m", "certloop.cli", "gate", "--config", cfg, "--out", "out", "--json",
                        str(out / "s.json"), "--junit", str(out / "j.xml"), "--quiet"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 1, p.stdout + p.stderr
    outs.append(out)
    for name in ("s.json", "j.xml"):
        texts = [(o / name).read_bytes() for o in outs]
        assert texts[0] == texts[1] == texts[2], name
    assert b"-- cycle starts here" in (outs[0] / "j.xml").read_bytes()


def test_timings_are_opt_in(tmp_path):
    cfg = write(tmp_path, '[[scenario]]\nname = "v1.18-seed"\ngc = "abstract"\n'
                          'expect = { deletion_completes = "holds" }\n')
    code, _ = gate(["--config", cfg, "--out", str(tmp_path / "out"), "--timings"])
    assert code == 0
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert "seconds" in s and "seconds" in s["scenarios"][0]
    assert ET.parse(tmp_path / "out" / "junit.xml").getroot().get("time") is not None


# --------------------------------------------------------------------------- config errors


@pytest.mark.parametrize("text, line, words", [
    ('[[scenario]]\nname = "sed"\nexpect = { deletion_completes = "holds" }\n', 2,
     ["unknown scenario 'sed'", "did you mean 'seed'", "valid: v1.16-idle, seed"]),
    ('[[scenario]]\nname = "seed"\nexpect = { deletion_complete = "holds" }\n', 3,
     ["expect.deletion_complete: unknown property", "did you mean 'deletion_completes'", "valid: deletion_completes"]),
    ('[[scenario]]\nname = "seed"\n\n[scenario.expect]\nno_orphans = "holds"\ndeletion_completes = "hold"\n', 6,
     ["expect.deletion_completes: 'hold' is not a verdict", "valid: holds, violated"]),
    ('[[scenario]]\nname = "seed"\nexpect = { deletion_completes = true }\n', 3,
     ['must be the string "holds" or "violated", got the boolean true']),
    ('[gate]\nmax_seconds = "10"\n', 2, ["key 'max_seconds' must be a positive number of seconds, got the string '10'"]),
    ('[gate]\n\nmax_states = -1\n', 3, ["key 'max_states' must be positive"]),
    ('[gate]\nmax_secs = 10\n', 2, ["unknown key 'max_secs'", "did you mean 'max_seconds'"]),
    ('[gate]\nformats = ["svg", "gif"]\n', 2, ["formats[1]", "valid: svg, png, pdf"]),
    ('[[scenario]]\nname = "seed"\ngc = "exact"\nexpect = { deletion_completes = "holds" }\n', 3,
     ["key 'gc': 'exact' is not valid", "valid: detailed, abstract"]),
    ('[[scenario]]\nname = "seed"\nexpectation = { deletion_completes = "holds" }\n', 3,
     ["unknown key 'expectation'", "valid: name, expect"]),
    ('[scenario]\nname = "seed"\n', 1, ["write [[scenario]] (two brackets)"]),
    ('[[scenario]]\nname = "v1.18-seed"\nexpect = { deletion_completes_after_ns = "holds" }\n', 3,
     ["does not apply to scenario 'v1.18-seed'"]),
    ('[[scenario]]\nname = "seed"\nexpect = { loop_witness = "holds" }\n', 3, ["a non-vacuity witness"]),
    ('[[scenario]]\nname = "seed"\n', 1, ["missing key 'expect'"]),
    ('[[scenario]]\nname="seed"\nexpect={no_orphans="holds"}\n[[scenario]]\nname="seed"\nexpect={type_ok="holds"}\n',
     4, ["already run by [[scenario]] #1 (line 1)"]),
    ('[[guard]]\nname = "x"\nguards = [\n  "requestmanager: not view.certificate.deletion_timestamp",\n'
     '  "keymanager: not view.certificate.deletion_timestmp",\n]\nexpect = "accepted"\n', 5,
     ["guards[1]", "did you mean 'deletion_timestamp'"]),
    ('[[guard]]\nname = "x"\nbuiltin = "v1.19"\nexpect = "accepted"\n', 3, ["unknown built-in guard set 'v1.19'"]),
    ('[[guard]]\nname = "x"\nbuiltin = "v1.18"\nexpect = "acepted"\n', 4, ["valid: accepted, rejected"]),
    ('[[guard]]\nname = "x"\nbuiltin = "v1.18"\nexpect = "accepted"\nrejected_by = "no_orphans"\n', 5,
     ["key 'rejected_by'"]),
    ('[[guard]]\nname = "x"\nbuiltin = "v1.18"\nexpect = "accepted"\nmatrix = ["seed", "nope"]\n', 5,
     ["unknown scenario 'nope'"]),
    ('[[guard]]\nname = "x"\nexpect = "accepted"\n', 1, ["no guard: give 'builtin'"]),
    ('[[scenario]]\nname = "seed"\nexpect = { deletion_completes = "holds" \n', 3, ["not valid TOML"]),
    ('# nothing\n', None, ["checks nothing"]),
])
def test_config_errors_name_the_line_and_key(text, line, words):
    with pytest.raises(ConfigError) as e:
        parse_config(text, "c.toml")
    msg = str(e.value)
    assert e.value.line == line, msg
    assert msg.startswith(f"c.toml:{line}: " if line else "c.toml: "), msg
    for w in words:
        assert w in msg, msg


def test_bad_config_exits_2_with_the_key_and_line(tmp_path):
    cfg = write(tmp_path, '[gate]\nmax_states = 10\n\n[[scenario]]\nname = "seed"\n'
                          'expect = { deletion_completes = "violatd" }\n')
    r = CliRunner().invoke(main, ["gate", "--config", cfg, "--out", str(tmp_path / "out")])
    assert r.exit_code == 2
    assert f"error: {cfg}:6: [[scenario]] #1 (seed): expect.deletion_completes: 'violatd' is not a verdict" in r.output
    assert "did you mean 'violated'" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "out").exists()


def test_missing_config_file_exits_2(tmp_path):
    r = CliRunner().invoke(main, ["gate", "--config", str(tmp_path / "nope.toml")])
    assert r.exit_code == 2 and "no such file" in r.output


def test_locator_lines():
    text = """# comment
[gate]
max_seconds = 5   # trailing [[not a header]]

[[scenario]]
name = "a"
expect = { p = "holds", "q" = "violated" }

[[scenario]]
name = 'b'
[scenario.expect]
r = \"\"\"
multi\"\"\"
s.t = "x"

[[guard]]
guards = [
  "one",
  { controller = "c", guard = "g" },
]
"""
    loc = _Locator(text)
    assert loc.line(("gate", "max_seconds")) == 3
    assert loc.line(("scenario", 0)) == 5
    assert loc.line(("scenario", 0, "expect", "q")) == 7
    assert loc.line(("scenario", 1, "name")) == 10
    assert loc.line(("scenario", 1, "expect")) == 11
    assert loc.line(("scenario", 1, "expect", "r")) == 12
    assert loc.line(("scenario", 1, "expect", "s", "t")) == 14
    assert loc.line(("guard", 0, "guards", 0)) == 18
    assert loc.line(("guard", 0, "guards", 1, "guard")) == 19
    assert loc.line(("scenario", 1, "expect", "unknown")) == 11     # falls back to the table


# --------------------------------------------------------------------------- discovery, --list, init


def test_certloop_toml_in_the_working_directory_is_used(tmp_path):
    (tmp_path / "certloop.toml").write_text('[[scenario]]\nname = "v1.16-idle"\nexpect = { deletion_completes = "holds" }\n')
    code, text = gate(["--list"], cwd=tmp_path)
    assert code == 0
    assert text.splitlines()[0] == "certloop gate: certloop.toml: 1 verdict on 1 scenario"
    assert "v1.16-idle  deletion_completes  holds" in text


def test_list_shows_the_shipped_suite(tmp_path):
    code, text = gate(["--list"], cwd=tmp_path)
    assert code == 0 and "shipped default" in text and "(negative control)" in text


def test_init_writes_a_commented_config_and_refuses_to_overwrite(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    r = runner.invoke(main, ["init"])
    assert r.exit_code == 0 and "wrote certloop.toml" in r.output
    text = Path("certloop.toml").read_text()
    assert text == default_config_text() and text.startswith("# certloop gate")
    parse_config(text, "certloop.toml")
    Path("certloop.toml").write_text("# mine\n")
    r = runner.invoke(main, ["init"])
    assert r.exit_code == 2 and "exists; use --force" in r.output
    assert Path("certloop.toml").read_text() == "# mine\n"
    r = runner.invoke(main, ["init", "--force"])
    assert r.exit_code == 0 and Path("certloop.toml").read_text() == default_config_text()
    r = runner.invoke(main, ["init", "sub/dir/gate.toml"])
    assert r.exit_code == 0 and "--config sub/dir/gate.toml" in r.output
    r = runner.invoke(main, ["init", "-"])
    assert r.exit_code == 0 and r.output == default_config_text()


@pytest.mark.slow
def test_gate_on_the_large_lagging_configuration(tmp_path):
    """v1.18 with a lagging cert-manager cache (~1.2M states with the abstract GC): the fix holds,
    and the strict property stays violated (a controller may create before its cache shows the delete)."""
    cfg = write(tmp_path, '[gate]\nformats = []\n[[scenario]]\nname = "v1.18-lagging"\ngc = "abstract"\n'
                          'expect = { deletion_completes = "holds", no_create_after_deletion = "violated" }\n')
    code, text = gate(["--config", cfg, "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 0, text
