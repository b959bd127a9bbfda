"""The guard language, its Z3 analysis, verify-guard's verdicts and minimal-guards (docs/guards.md).

The verdicts of the built-in guards (MODEL.md §7) are pinned as the checker finds them on the
default matrix (base v1.16, abstract GC, fresh caches), each with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from certloop.checker.check import HOLDS, VIOLATED
from certloop.checker.expr import evaluate, show, variables
from certloop.cli import main
from certloop.guards import (
    ACTIONS, BUILTINS, COUNTED, DEFAULT_MATRIX, FIELDS, FRESH_SCENARIO, MAX_DEPTH, MAX_LENGTH, OBJECTS,
    REFERENCE, TARGETS, GuardError, Scope, analyse, analysis_world, builtin_guards, compile_guard,
    counted_properties, guard_hook, matrix_scenarios, minimal_guards, parse_guard, parse_guard_file, verify,
)
from certloop.model.scenario import Config, build

DOCS = Path(__file__).resolve().parents[1] / "docs" / "guards.md"


# --------------------------------------------------------------------------- parsing

VALID = [
    ("keymanager", "not view.certificate.deletion_timestamp"),
    ("trigger", "view.certificate.issuing and not view.certificate.failed"),
    ("trigger", "view.secret.exists"),
    ("keymanager", "view.next_key.exists"),
    ("requestmanager", "view.next_request.exists and view.next_request.deletion_timestamp"),
    ("requestmanager", "any r in view.requests: r.exists and r.deletion_timestamp"),
    ("issuing", 'view.next_request.phase == "Issued"'),
    ("issuing", "view.certificate.revision < 3"),
    ("issuing", "view.certificate.revision + 1 >= view.current_request.revision - 1"),
    ("keymanager", "view.certificate.deletion_timestamp implies not view.certificate.issuing"),
    ("keymanager", "(true) and not (false or view.certificate.has_orphan_finalizer)"),
    ("requestmanager.create_request", "all r in view.requests: r.owned implies r.phase != 'Failed'"),
    ("signer", "not view.request.deletion_timestamp"),
    ("keymanager", "view.requests[2].key == view.next_key.key  # a comment"),
    ("keymanager", "any r in view.requests: any s in view.requests: r.key != s.key"),
]


@pytest.mark.parametrize("target,text", VALID)
def test_valid_guards_parse_and_compile(target: str, text: str) -> None:
    g = parse_guard(target, text)
    w = analysis_world()
    e = compile_guard(g, Scope(w.views.cm, w.cluster.live, 0 if g.controller == "signer" else None))
    assert e.type.name == "bool"
    assert show(e)


def test_the_v118_guard_compiles_to_the_model_gate() -> None:
    w = analysis_world()
    g = parse_guard("keymanager", "not view.certificate.deletion_timestamp")
    assert compile_guard(g, Scope(w.views.cm, w.cluster.live)) is ~w.views.cm["C"].delTS


def test_next_request_reads_defaults_when_absent() -> None:
    w = analysis_world()
    V = w.views.cm
    e = compile_guard(parse_guard("issuing", "view.next_request.deletion_timestamp"), Scope(V, w.cluster.live))
    env = {v: v.type.decode(0) for v in variables(e)}
    # C.rev = 0: the next CR is revision 1 in slot 1; slot 1 holds a terminating CR of revision 4
    env.update({V["C"].var("rev"): 0, V["CR[1]"].var("present"): True, V["CR[1]"].var("rev"): 4,
                V["CR[1]"].var("delTS"): True})
    assert evaluate(e, env) is False
    env[V["CR[1]"].var("rev")] = 1
    assert evaluate(e, env) is True


ERRORS = [
    # (target, text, a fragment of the message, column or None)
    ("keymanager", "not view.certificate.deletion_timstamp", "unknown field 'deletion_timstamp' of view.certificate", 22),
    ("keymanager", "view.certficate.issuing", "unknown object 'certficate' of view", 6),
    ("keymanager", "live.certificate.deletion_timestamp", "'live' reads the API server", 1),
    ("keymanager", "issuer_view.requests", "'issuer_view' is the external issuer's cache", 1),
    ("keymanager", "gc_view.certificate", "the garbage collector's graph", 1),
    ("keymanager", "view.request.exists", "only", None),
    ("keymanager", "view.certificate.revision", "a guard must be a boolean", 1),
    ("keymanager", "view.certificate.issuing < 3", "compares a boolean with an integer", 26),
    ("keymanager", "view.next_request.phase < 'Issued'", "needs integers", None),
    ("keymanager", "view.next_request.phase == 'Isued'", "is not a phase", 28),
    ("keymanager", "view.certificate.issuing == 'Issued'", "a string can only be compared with a phase", 29),
    ("keymanager", "view.certificate", "not a value; name a field", 1),
    ("keymanager", "view.requests", "is a collection", 1),
    ("keymanager", "any r in view.certificate: r.exists", "is not a collection", None),
    ("keymanager", "any r in view.requests: r", "CertificateRequest object, not a value", None),
    ("keymanager", "any r in view.requests: any r in view.requests: r.exists", "already bound", None),
    ("keymanager", "view.requests[3].exists", "slots 0..2", 15),
    ("keymanager", "1 < 2 < 3", "do not chain", 7),
    ("keymanager", "a && b", "use 'and'", 3),
    ("keymanager", "not !view.certificate.issuing", "use 'not'", 5),
    ("keymanager", "view.certificate.issuing = true", "use '=='", 26),
    ("keymanager", "(view.certificate.issuing", "expected ')'", None),
    ("keymanager", "view.certificate.issuing)", "unmatched ')'", 25),
    ("keymanager", "", "empty guard", None),
    ("keymanager", "   # only a comment", "empty guard", None),
    ("keymanager", "not", "ends too early", None),
    ("keymanager", "__import__('os').system('true')", "no calls", None),
    ("keymanager", "view.certificate.__class__", "unknown field '__class__'", None),
    ("keymanager", "vïew.certificate.issuing", "ASCII", 2),
    ("keymanager", "view.next_request.phase == 'Issuéd'", "printable ASCII", None),
    ("keymanager", "1234567890 == 1", "longer than 9 digits", 1),
    ("keymanager", "x" * (MAX_LENGTH + 1), f"the limit is {MAX_LENGTH}", None),
    ("keymanager", "(" * (MAX_DEPTH + 1) + "true" + ")" * (MAX_DEPTH + 1), f"deeper than {MAX_DEPTH}", None),
    ("keymanager", "not " * (MAX_DEPTH + 1) + "true", f"deeper than {MAX_DEPTH}", None),
    ("keymanager", "any a in view.requests: any b in view.requests: any c in view.requests: "
                   "any d in view.requests: true", "nested quantifiers", None),
    ("nosuch", "true", "unknown controller or action", None),
    ("signer.sign_request", "true", "applies to all of its actions", None),
]


@pytest.mark.parametrize("target,text,fragment,column", ERRORS)
def test_errors_are_clear(target: str, text: str, fragment: str, column: int | None) -> None:
    with pytest.raises(GuardError) as ei:
        parse_guard(target, text)
    e = ei.value
    assert fragment in str(e), str(e)
    if column is not None:
        assert e.column == column, str(e)
        assert f"column {column}" in str(e)
        assert str(e).splitlines()[-1].strip() == "^"


def test_error_lists_valid_names_and_a_hint() -> None:
    with pytest.raises(GuardError) as ei:
        parse_guard("keymanager", "not view.certificate.deletion_timstamp")
    msg = str(ei.value)
    assert "did you mean 'deletion_timestamp'" in msg
    assert "valid: exists, deletion_timestamp, has_foreground_finalizer" in msg
    assert ei.value.valid == list(FIELDS["Certificate"])


def test_live_is_allowed_only_when_asked() -> None:
    g = parse_guard("requestmanager.create_request", "not live.certificate.deletion_timestamp", allow_live=True)
    assert g.reads_live and g.action == "requestmanager.create_request"
    with pytest.raises(GuardError):
        parse_guard("requestmanager", "issuer_view.requests", allow_live=True)   # never


def test_deep_nesting_below_the_limit_parses() -> None:
    parse_guard("keymanager", "(" * (MAX_DEPTH - 1) + "true" + ")" * (MAX_DEPTH - 1))
    parse_guard("keymanager", "not " * (MAX_DEPTH - 1) + "true")
    parse_guard("keymanager", " and ".join(["view.certificate.issuing"] * 60))   # long, flat
    parse_guard("keymanager", " + ".join(["1"] * 300) + " > 0")


def test_guard_file() -> None:
    text = ("# the v1.18 fix\n"
            "keymanager:     not view.certificate.deletion_timestamp\n"
            "\n"
            "requestmanager.create_request:\n"
            "    not (any r in view.requests:\n"
            "         r.exists and r.deletion_timestamp)   # W2\n"
            "signer: not view.request.deletion_timestamp\n")
    gs = parse_guard_file(text, "g.txt")
    assert [g.target for g in gs] == ["keymanager", "requestmanager.create_request", "signer"]
    assert gs[1].text == "not (any r in view.requests: r.exists and r.deletion_timestamp) # W2"
    assert gs[0].source == "g.txt:2"
    with pytest.raises(GuardError) as ei:
        parse_guard_file("keymanager: true\nissuing: not view.certificate.deletion_timstamp\n", "g.txt")
    assert "g.txt:2" in str(ei.value) and "column 31" in str(ei.value)     # the column in the file
    with pytest.raises(GuardError, match="g.txt:1: unknown controller"):
        parse_guard_file("keymanger: true\n", "g.txt")
    with pytest.raises(GuardError, match="no guard"):
        parse_guard_file("# nothing\n", "g.txt")
    with pytest.raises(GuardError, match="g.txt:3"):
        parse_guard_file("keymanager: true\nissuing:\n    (view.certificate.issuing\n", "g.txt")


def test_action_table_matches_the_model() -> None:
    w = build(Config(issuer="in-tree", owner_ref=True, may_fail=True))
    names = {a.name for a in w.model.actions if a.actor in ACTIONS}
    assert names == {f"{c}.{a}" for c, acts in ACTIONS.items() for a in acts}
    assert set(TARGETS) >= set(ACTIONS)


def test_docs_name_every_field_object_and_builtin() -> None:
    doc = DOCS.read_text()
    for kind in FIELDS.values():
        for f in kind:
            assert f"`{f}`" in doc, f
    for o in OBJECTS:
        assert f"view.{o}" in doc, o
    for b in BUILTINS:
        assert f"`{b}`" in doc, b
    for p in COUNTED:
        assert p in doc


# --------------------------------------------------------------------------- the hook


def test_hook_places_conjuncts_where_they_belong() -> None:
    gs = [parse_guard("keymanager", "not view.certificate.deletion_timestamp"),
          parse_guard("requestmanager.create_request", "view.secret.exists"),
          parse_guard("signer", "not view.request.deletion_timestamp")]
    w = build(Config(issuer="in-tree", cache_cm="fresh", cache_ext="fresh", cache_gc="fresh", gc="abstract"),
              guard_hook(gs))
    by = {a.label: {c.name: c for c in a.guard} for a in w.model.actions}
    for a in ("keymanager.create_key", "keymanager.delete_key", "keymanager.set_next_key", "keymanager.unset_next_key"):
        assert "proposed_guard_0" in by[a]
    assert "proposed_guard_1" in by["requestmanager.create_request"]
    assert "proposed_guard_1" not in by["requestmanager.delete_request"]
    for s in range(3):
        c = by[f"signer.sign_request(CR[{s}])"]["proposed_guard_2"]
        assert c.expr is ~w.cluster.live[f"CR[{s}]"].delTS      # fresh cache: the view is the live object
    assert "proposed guard" in by["keymanager.create_key"]["proposed_guard_0"].gloss


# --------------------------------------------------------------------------- Z3 analysis


def test_analysis_relations() -> None:
    gs = [parse_guard("keymanager", "not view.certificate.deletion_timestamp"),
          parse_guard("keymanager", "not view.certificate.has_foreground_finalizer"),
          parse_guard("keymanager", "false"),
          parse_guard("keymanager", "true"),
          parse_guard("requestmanager.create_request", "not live.certificate.deletion_timestamp", allow_live=True),
          parse_guard("trigger", "not view.certificate.deletion_timestamp and view.secret.exists"),
          parse_guard("signer", "not view.request.deletion_timestamp"),
          parse_guard("issuing", "not (view.certificate.deletion_timestamp or view.certificate.has_orphan_finalizer)")]
    a = analyse(gs)
    assert [x.relation for x in a] == ["equivalent", "weaker", "stronger", "weaker", "incomparable", "stronger",
                                       "equivalent", "equivalent"]
    assert a[0].satisfiable and not a[0].tautology
    assert a[2].satisfiable is False and a[3].tautology is True
    # foreground-only newly allows a terminating Certificate whose fg the GC already removed
    (ex,) = a[1].newly_allows
    assert ex == ["view.certificate: exists, deletion_timestamp=true, has_foreground_finalizer=false, "
                  "has_test_finalizer=true"]
    # a live GET blocks where the view is stale, and allows where the view is ahead
    blocks = " ".join(" ".join(x) for x in a[4].newly_blocks)
    assert "view.certificate: exists, deletion_timestamp=false" in blocks
    assert "live.certificate: exists, deletion_timestamp=true" in blocks
    assert a[5].newly_blocks[0][-1] == "view.secret: absent"
    assert a[6].reference == REFERENCE["signer"]


# --------------------------------------------------------------------------- verdicts

# Each built-in guard's verdict on the default matrix (base v1.16, gc abstract, caches fresh),
# with the first failing (scenario, property) in matrix order.
PINNED = {
    # G18: every creator gated on the cached deletionTimestamp, signer skips terminating CRs.
    "v1.18": ("ACCEPTED", None),
    # G17: keymanager is unguarded and Issuing stays True (issuing is gated), so K is re-created
    # after every GC look: the K-only race lasso of rows 13-15.
    "v1.17": ("REJECTED", ("seed", "deletion_completes")),
    # W0: the deletion properties hold vacuously, but a fresh Certificate never gets its Secret.
    "never-create": ("REJECTED", ("v1.16-fresh", "issuance_progresses")),
    # W1: only requestmanager's create is gated (by a live GET); keymanager re-creates K.
    "live-check-rm-only": ("REJECTED", ("seed", "deletion_completes")),
    # W2: with the issuer finalizer the block only lasts until the lingering CR is removed, which
    # is when v1.16 creates anyway: row 2's lasso survives.
    "terminating-cr-blocks": ("REJECTED", ("seed", "deletion_completes")),
    # W3: an in-flight renewal has the spec Secret present, so nothing changes in row 2.
    "require-spec-secret": ("REJECTED", ("seed", "deletion_completes")),
    # W4: once the GC removes fg from a Certificate that keeps the e2e test finalizer, creation
    # resumes (row 11): a CR / Secret is created by a controller that saw the deletionTimestamp.
    "foreground-only": ("REJECTED", ("v1.16-e2e", "no_create_after_deletion_seen_e2e")),
}


@pytest.mark.parametrize("name", list(PINNED))
def test_builtin_verdicts(name: str) -> None:
    v = verify(builtin_guards(name), analysis=False)
    verdict, first = PINNED[name]
    assert v.verdict == verdict, v.verdict_line()
    ff = v.first_failure
    assert (None if ff is None else (ff[0].name, ff[1].name)) == first
    assert v.exit_code == {"ACCEPTED": 0, "REJECTED": 1}[verdict]
    by = {(s.name, p.name): p.verdict for s in v.scenarios for p in s.properties}
    if name == "never-create":       # deletion properties hold (vacuously) everywhere
        assert all(x == HOLDS for (s, p), x in by.items() if p != "issuance_progresses")
    if name == "terminating-cr-blocks":
        assert by[("v1.16-fresh", "issuance_progresses")] == HOLDS
    if name == "require-spec-secret":
        assert by[("v1.16-fresh", "issuance_progresses")] == VIOLATED
    if name in ("v1.17",):
        assert by[("v1.16-e2e", "no_create_after_deletion_seen_e2e")] == HOLDS     # row 16
    if name == "live-check-rm-only":
        assert by[("v1.16-e2e", "no_create_after_deletion_seen_e2e")] == VIOLATED  # issuing re-creates S


def test_matrix_and_counted_properties() -> None:
    scen = matrix_scenarios()
    assert [s.name for s in scen] == list(DEFAULT_MATRIX) + [FRESH_SCENARIO]
    assert all(s.config.version == "v1.16" and s.config.gc == "abstract" and s.config.cache_cm == "fresh"
               for s in scen)
    # rows 12-19 coincide with rows 1-11 once the version is replaced
    assert len(matrix_scenarios(["all"])) == len(scen)
    by = {s.name: counted_properties(s.config) for s in scen}
    assert by["v1.16-e2e"][0] == "foreground_released"
    assert by["v1.16-namespace-deletion"][0] == "deletion_completes_after_ns"
    assert by["v1.16-second-delete"][0] == "deletion_completes_after_second_delete"
    assert by["v1.16-fresh"][-1] == "issuance_progresses"
    with pytest.raises(GuardError, match="unknown scenario"):
        matrix_scenarios(["nosuch"])


def test_artifacts_are_written_for_violations(tmp_path: Path) -> None:
    v = verify(builtin_guards("v1.17"), matrix=["seed"], analysis=False, out_dir=str(tmp_path))
    s, p = v.first_failure  # type: ignore[misc]
    assert any(f.endswith("deletion_completes.txt") for f in p.files)
    assert (tmp_path / "seed" / "deletion_completes.itf.json").exists()


def test_minimal_guards() -> None:
    r = minimal_guards()
    fs = frozenset
    # MODEL.md §7.3: {km} alone suffices for completion and churn; km is necessary ({rm, iss} = v1.17
    # fails); rm and iss are needed for NoCreate...Seen[e2e]; trig is hygiene only.
    assert r.minimal("deletion_completes") == [fs({"keymanager"})]
    assert r.minimal("bounded_churn") == [fs({"keymanager"})]
    assert r.minimal("foreground_released") == [fs({"keymanager"})]
    assert r.minimal("no_create_after_deletion_seen_e2e") == [fs({"requestmanager", "issuing"})]
    assert r.minimal("no_create_after_deletion_seen_all") == [fs({"keymanager", "requestmanager", "issuing"})]
    assert r.holds(fs({"requestmanager", "issuing"}), "deletion_completes") == VIOLATED
    assert r.defeat(fs(), "deletion_completes") == "seed (row 2)"
    assert r.defeat(fs({"requestmanager"}), "no_create_after_deletion_seen_e2e") == "v1.16-e2e (row 11)"
    assert not r.non_monotone("deletion_completes")
    assert json.loads(json.dumps(r.to_json()))["properties"]["deletion_completes"]["minimal_sets"] == [["keymanager"]]


# --------------------------------------------------------------------------- the command line


def _invoke(args: list[str]):  # noqa: ANN202
    return CliRunner().invoke(main, args, catch_exceptions=True)


def test_cli_accepted_and_rejected(tmp_path: Path) -> None:
    r = _invoke(["verify-guard", "--guard-name", "v1.18", "--no-artifacts", "--matrix", "seed,v1.16-e2e"])
    assert r.exit_code == 0, r.output
    assert "verdict: ACCEPTED" in r.output and "equivalent to v1.18" in r.output
    r = _invoke(["verify-guard", "--controller", "requestmanager", "--guard", "not view.certificate.deletion_timestamp",
                 "--controller", "issuing", "--guard", "not view.certificate.deletion_timestamp",
                 "--matrix", "seed", "--out", str(tmp_path)])
    assert r.exit_code == 1, r.output
    assert "verdict: REJECTED: deletion_completes is VIOLATED on seed (row 2)" in r.output
    assert (tmp_path / "seed" / "deletion_completes.txt").exists()


def test_cli_json(tmp_path: Path) -> None:
    r = _invoke(["verify-guard", "--guard-name", "never-create", "--no-artifacts", "--json", "-",
                 "--matrix", "seed", "--matrix", FRESH_SCENARIO])
    assert r.exit_code == 1
    d = json.loads(r.output)
    assert d["verdict"] == "REJECTED"
    assert d["first_failure"]["property"] == "issuance_progresses"
    assert d["analysis"][0]["satisfiable"] is False


def test_cli_guard_file(tmp_path: Path) -> None:
    f = tmp_path / "g.txt"
    f.write_text("# W4\nkeymanager: not view.certificate.has_foreground_finalizer\n")
    r = _invoke(["verify-guard", "--guard-file", str(f), "--analysis-only"])
    assert r.exit_code == 0 and "weaker than" in r.output
    f.write_text("keymanager: not view.certificate.has_foregrund_finalizer\n")
    r = _invoke(["verify-guard", "--guard-file", str(f)])
    assert r.exit_code == 2 and f"{f}:1: unknown field" in r.output


@pytest.mark.parametrize("args,fragment", [
    (["--controller", "keymanager", "--guard", "view.certificate.deletion_timstamp"], "unknown field"),
    (["--controller", "keymanager"], "come in pairs"),
    (["--controller", "keymangler", "--guard", "true"], "did you mean 'keymanager'"),
    ([], "no guard given"),
    (["--guard-name", "v1.19"], "unknown built-in guard"),
    (["--controller", "keymanager", "--guard", "live.certificate.deletion_timestamp"], "--allow-live"),
    (["--guard-name", "v1.18", "--matrix", "nosuch"], "unknown scenario"),
    (["--guard-name", "v1.18", "--guard-file", "/nonexistent/guards.txt"], "cannot read guard file"),
    (["--guard-name", "v1.18", "--base", "v1.15"], "Invalid value"),
])
def test_cli_bad_input_exits_2(args: list[str], fragment: str) -> None:
    r = _invoke(["verify-guard", *args])
    assert r.exit_code == 2, r.output
    assert fragment in r.output
    assert "Traceback" not in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)


def test_cli_allow_live_and_unknown() -> None:
    r = _invoke(["verify-guard", "--allow-live", "--controller", "requestmanager.create_request",
                 "--guard", "not live.certificate.deletion_timestamp", "--analysis-only"])
    assert r.exit_code == 0 and "incomparable" in r.output
    r = _invoke(["verify-guard", "--guard-name", "v1.18", "--no-artifacts", "--max-seconds", "0.000001"])
    assert r.exit_code == 3, r.output
    assert "verdict: UNKNOWN" in r.output


def test_cli_guard_names() -> None:
    r = _invoke(["guard-names"])
    assert r.exit_code == 0
    for b in BUILTINS:
        assert b in r.output
