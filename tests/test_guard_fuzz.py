"""Fuzzing the guard language: random and hostile text ends as a guard or a clear GuardError.

* Thousands of strings (random text, unicode, token soup, Python code, dunder access, deep
  nesting, very long input) go through the parser directly: the only outcomes allowed are a
  well-typed :class:`Guard` or a :class:`GuardError` with a position, never another exception,
  and never any effect (no code runs: the module has no eval/exec).
* A sample goes through the command line (``CliRunner``): exit 0 (valid, ``--analysis-only``)
  or 2 with an ``error:`` line, never a traceback.
* For well-typed random guards, the compiled expression is evaluated three ways on random views
  and must agree: :func:`checker.expr.evaluate`, :class:`checker.vector.VecEval` and Z3
  (:meth:`checker.smt.Smt.evaluate`).
"""

from __future__ import annotations

import io
import random
import tokenize as pytokenize
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certloop.checker.expr import evaluate, variables
from certloop.checker.smt import Smt
from certloop.checker.vector import Layout, VecEval
from certloop.cli import main
from certloop.guards import (
    FIELDS, MAX_LENGTH, OBJECTS, TARGETS, Guard, GuardError, Scope, analysis_world, compile_guard, parse_guard,
)

SRC = Path(__file__).resolve().parents[1] / "certloop" / "guards.py"
WORLD = analysis_world()
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def outcome(target: str, text: str, allow_live: bool = False) -> Guard | GuardError:
    """Parse; anything but a Guard or a GuardError fails the test (it propagates)."""
    try:
        g = parse_guard(target, text, allow_live=allow_live)
    except GuardError as e:
        assert e.message and isinstance(e.pos, int) and 0 <= e.pos <= len(e.text)
        s = str(e)                      # renders without error
        assert "Traceback" not in s
        if e.text:
            assert s.splitlines()[-1].strip() == "^"
        return e
    assert isinstance(g, Guard) and g.tree.type == "bool"
    # every valid guard compiles against the model
    compile_guard(g, Scope(WORLD.views.cm, WORLD.cluster.live, 0 if g.controller == "signer" else None))
    return g


# --------------------------------------------------------------------------- no code execution


def test_the_module_never_evaluates_user_text() -> None:
    names = {t.string for t in pytokenize.generate_tokens(io.StringIO(SRC.read_text()).readline)
             if t.type == pytokenize.NAME}
    assert not names & {"eval", "exec", "compile", "literal_eval", "__import__", "getattr_static"}
    assert "import ast" not in SRC.read_text()


HOSTILE = [
    "__import__('os').system('touch {marker}')",
    "eval('1')", "exec('x=1')", "open('{marker}', 'w')",
    "view.__class__.__mro__[1].__subclasses__()",
    "view.certificate.__dict__", "().__class__.__bases__[0]",
    "lambda: 1", "[x for x in ()]", "{{}}", "view.certificate.issuing; import os",
    "view.certificate.issuing\nimport os", "'\\x00'", "\x00", "\x1b[2J", "\u202e", "\ud800",
    "view.certificate.issuing if True else False", "not not not", "and", "(", ")", "))((",
    "any", "any r", "any r in", "any r in view.requests", "any r in view.requests:",
    "all view in view.requests: true", "any r in live.requests: r.exists",
    "view." * 400, "(" * 5000, "not " * 600 + "true", "1" * 20, "-" * 50 + "1 == 1",
    "view.certificate.revision == -1", "view.requests[999999999].exists", "view.requests[-1].exists",
    "view.certificate.issuing == \"Pending\"", "'unterminated", '"also', "`backtick`", "$x", "@a", "a?b:c",
    "view.certificate.issuing && true", "view.certificate.issuing || true", "!true", "true = false",
    "true => false", "true -> false", "1 <> 2", "1 ** 2", "1 / 2", "1 * 2", "1 % 2", "~true", "true ^ false",
    "# just a comment", "   ", "", "\t\n\r", "véw.certificate.issuing", "view.certificate.ïssuing",
    "view.next_request.phase == 'Ïssued'", "x" * (MAX_LENGTH + 1), "true " * 500,
    "view.secret.exists and " * 100 + "true",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_inputs(text: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = text.replace("{marker}", str(marker)) if "{marker}" in text else text
    for target in ("keymanager", "signer"):
        outcome(target, text)
    assert not marker.exists()


@pytest.mark.parametrize("n", [1, 10, 63, 64, 65, 200, 900])
def test_deep_nesting(n: int) -> None:
    for text in ("(" * n + "true" + ")" * n, "not " * n + "true",
                 " implies ".join(["true"] * n), "- " * n + "1 == 1",
                 "any r in view.requests: " * min(n, 5) + "true"):
        r = outcome("keymanager", text)
        if isinstance(r, GuardError):
            assert any(w in r.message for w in ("deeper than", "limit is", "nested quantifiers", "expected a value"))


# --------------------------------------------------------------------------- random strings

VOCAB = (["view", "live", "issuer_view", "gc_view", "r", "s", "x", "__import__", "__class__", "os", "system",
          "and", "or", "not", "implies", "any", "all", "in", "true", "false", "lambda", "if", "else", "import"]
         + list(OBJECTS) + [f for k in FIELDS.values() for f in k]
         + [".", ".", ".", "(", ")", "[", "]", ":", ",", "==", "!=", "<", "<=", ">", ">=", "+", "-", "=", "!",
            "&&", "||", "#", "0", "1", "2", "3", "42", '"Issued"', "'Pending'", '"Isued"', "'", '"', "\n", "é"])


@settings(max_examples=800, **SETTINGS)
@given(st.text(max_size=80), st.sampled_from(TARGETS))
def test_random_text(text: str, target: str) -> None:
    outcome(target, text)


@settings(max_examples=1200, **SETTINGS)
@given(st.lists(st.sampled_from(VOCAB), max_size=30), st.sampled_from(TARGETS), st.booleans())
def test_token_soup(tokens: list[str], target: str, allow_live: bool) -> None:
    outcome(target, " ".join(tokens), allow_live)


@settings(max_examples=60, **SETTINGS)
@given(st.text(alphabet=st.characters(codec="utf-8"), min_size=MAX_LENGTH - 5, max_size=MAX_LENGTH + 40))
def test_long_inputs(text: str) -> None:
    outcome("keymanager", text)


# --------------------------------------------------------------------------- well-typed guards

BOOL_FIELDS = {k: [f for f, (_, t, _) in fs.items() if t == "bool"] for k, fs in FIELDS.items()}
INT_FIELDS = {k: [f for f, (_, t, _) in fs.items() if t == "int"] for k, fs in FIELDS.items()}


def _objects(signer: bool, live: bool) -> list[tuple[str, str]]:
    roots = ["view"] + (["live"] if live else [])
    out = []
    for root in roots:
        for o, (kind, coll, _) in OBJECTS.items():
            if o == "request" and not signer:
                continue
            if coll:
                out += [(f"{root}.{o}[{i}]", kind) for i in range(3)]
            else:
                out.append((f"{root}.{o}", kind))
    return out


@st.composite
def guards(draw: st.DrawFn) -> tuple[str, str, bool]:
    target = draw(st.sampled_from(TARGETS))
    live = draw(st.booleans())
    objs = _objects(target == "signer", live)
    bound: list[str] = []

    def obj() -> tuple[str, str]:
        if bound and draw(st.booleans()):
            return draw(st.sampled_from(bound)), "CertificateRequest"
        return draw(st.sampled_from(objs))

    def int_term() -> str:
        choice = draw(st.integers(0, 3))
        if choice == 0:
            return str(draw(st.integers(0, 7)))
        candidates = [(p, k) for p, k in objs if INT_FIELDS[k]] + [(b, "CertificateRequest") for b in bound]
        p, k = draw(st.sampled_from(candidates))
        return f"{p}.{draw(st.sampled_from(INT_FIELDS[k]))}"

    def atom() -> str:
        kind = draw(st.integers(0, 5))
        if kind == 0:
            return draw(st.sampled_from(["true", "false"]))
        if kind == 1:
            a = int_term() + draw(st.sampled_from(["", " + 1", " - 2"]))
            return f"{a} {draw(st.sampled_from(['==', '!=', '<', '<=', '>', '>=']))} {int_term()}"
        if kind == 2:
            reqs = [p for p, k in objs if k == "CertificateRequest"] + bound
            p = draw(st.sampled_from(reqs))
            val = draw(st.sampled_from(["Pending", "Issued", "Failed"]))
            return f"{p}.phase {draw(st.sampled_from(['==', '!=']))} \"{val}\""
        p, k = obj()
        return f"{p}.{draw(st.sampled_from(BOOL_FIELDS[k]))}"

    def expr(depth: int) -> str:
        if depth <= 0 or draw(st.integers(0, 3)) == 0:
            return atom()
        op = draw(st.integers(0, 4))
        if op == 0:
            return f"not ({expr(depth - 1)})"
        if op == 1:
            return f"({expr(depth - 1)} and {expr(depth - 1)})"
        if op == 2:
            return f"({expr(depth - 1)} or {expr(depth - 1)})"
        if op == 3:
            return f"({expr(depth - 1)} implies {expr(depth - 1)})"
        if len(bound) >= 2:
            return atom()
        var = f"q{len(bound)}"
        root = draw(st.sampled_from(["view", "live"] if live else ["view"]))
        bound.append(var)
        body = expr(depth - 1)
        bound.pop()
        return f"({draw(st.sampled_from(['any', 'all']))} {var} in {root}.requests: {body})"

    return target, expr(4), live


def _random_state(rng: random.Random) -> dict:
    return {v: v.type.decode(rng.randrange(v.type.size)) for v in WORLD.model.schema.vars}


@settings(max_examples=100, **SETTINGS)
@given(guards(), st.integers(0, 2**32 - 1))
def test_evaluators_agree_on_random_guards(g: tuple[str, str, bool], seed: int) -> None:
    target, text, live = g
    guard = parse_guard(target, text, allow_live=live)       # must be valid
    signer = guard.controller == "signer"
    e = compile_guard(guard, Scope(WORLD.views.cm, WORLD.cluster.live, 0 if signer else None))
    rng = random.Random(seed)
    states = [_random_state(rng) for _ in range(6)]
    layout = Layout(WORLD.model.schema.vars)
    words = np.stack([layout.pack(s) for s in states])
    vec = VecEval(layout, words).full(e)
    smt = Smt()
    read = variables(e)
    for k, s in enumerate(states):
        want = evaluate(e, s)
        assert bool(vec[k]) == want, text
        assert smt.evaluate(e, {v: s[v] for v in read}) == want, text


# --------------------------------------------------------------------------- the command line

CLI_SAMPLE = HOSTILE[:40] + ["not view.certificate.deletion_timestamp", "view.secret.exists",
                             "any r in view.requests: r.exists and not r.deletion_timestamp"]


def test_cli_sample(tmp_path: Path) -> None:
    rng = random.Random(7358)
    sample = list(CLI_SAMPLE) + ["".join(rng.choice(VOCAB) + " " for _ in range(rng.randrange(1, 12)))
                                 for _ in range(40)]
    runner = CliRunner()
    marker = tmp_path / "pwned"
    for text in sample:
        text = text.replace("{marker}", str(marker))
        r = runner.invoke(main, ["verify-guard", "--controller", "keymanager", "--guard", text, "--analysis-only",
                                 "--no-artifacts"], catch_exceptions=True)
        assert r.exit_code in (0, 2), (text, r.output)
        assert r.exception is None or isinstance(r.exception, SystemExit), (text, r.exception)
        assert "Traceback" not in r.output
        if r.exit_code == 2:
            assert "error:" in r.output
        else:
            assert "z3:" in r.output
    assert not marker.exists()
