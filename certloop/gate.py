"""The CI proof gate: scenarios x properties with expected verdicts, plus guard sets to verify.

A gate config (TOML, ``certloop.toml``; the shipped default is ``certloop/data/gate.toml``) lists

* ``[[scenario]]`` entries: a named scenario (optionally with its GC / cache mode changed) and the
  verdict each named property must get -- ``holds``, or ``violated`` for a *negative control*, a
  configuration that must keep failing (the v1.16 seed must keep livelocking: the gate can still
  see the bug).  A negative control passes only if the property it names is violated; a crash,
  a bound or a violation of some other property does not count;
* ``[[guard]]`` entries: a guard set verified with :func:`certloop.guards.verify` (``accepted`` or
  ``rejected``, optionally by a named property);
* ``[gate]`` bounds: a time budget for the whole gate, a state bound per scenario, the diagram
  formats.

Every scenario is explored once, for all of its properties.  The outcome of an expectation is
``pass``, ``fail``, ``unknown`` (a bound was hit, the run was interrupted) or ``error``; the gate
exits 0 when every expectation passes, 1 when one fails (or errs), 3 when nothing failed but
something is unknown.  A bad config raises :class:`ConfigError` (exit 2) naming the file, the
line, the key, the expected type and the valid values.

The JSON summary and the JUnit XML are deterministic: the same config and code give the same
bytes (no timestamps or durations unless ``timings=True``).
"""

from __future__ import annotations

import difflib
import re
import time
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Sequence

from certloop.checker.check import HOLDS, UNKNOWN, VIOLATED
from certloop.model.scenario import CACHES, GC_MODES, VERSIONS
from certloop.properties import deletion
from certloop.properties import scenarios as scen

__all__ = [
    "ConfigError", "GateConfig", "ScenarioEntry", "GuardEntry", "Expectation", "Case", "ScenarioRun",
    "GuardRun", "GateResult", "load_config", "parse_config", "default_config_text", "find_config",
    "run_gate", "PROPERTIES", "VERDICTS", "GUARD_VERDICTS", "DEFAULT_CONFIG_NAME", "FORMATS",
]

DEFAULT_CONFIG_NAME = "certloop.toml"
PROPERTIES: tuple[str, ...] = deletion.LIVENESS + deletion.SAFETY
VERDICTS = (HOLDS, VIOLATED)
GUARD_VERDICTS = ("accepted", "rejected")
FORMATS = ("svg", "png", "pdf")
PASS, FAIL, ERROR = "pass", "fail", "error"      # and UNKNOWN ("unknown")


# --------------------------------------------------------------------------- errors


class ConfigError(ValueError):
    """A bad gate config: ``file:line: where: message; did you mean ...?; valid: ...``."""

    def __init__(self, file: str, line: int | None, where: str, message: str,
                 valid: Sequence[str] | None = None, hint: str | None = None):
        self.file, self.line, self.where, self.message = file, line, where, message
        self.valid = list(valid or [])
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        loc = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{loc}: {self.where + ': ' if self.where else ''}{self.message}"
        if self.hint:
            text += f"; did you mean {self.hint!r}?"
        if self.valid:
            text += "\n  valid: " + ", ".join(self.valid)
        return text


def _close(word: str, options: Sequence[str]) -> str | None:
    m = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return m[0] if m else None


# --------------------------------------------------------------------------- where keys are


class _Locator:
    """Line numbers of the keys of a (valid) TOML text: ``path -> line``.

    ``tomllib`` gives no positions, so this walks the text's structure (tables, arrays of tables,
    dotted keys, inline tables, arrays) once.  A path is a tuple of keys and 0-based array
    indices, e.g. ``("scenario", 1, "expect", "deletion_completes")``.
    """

    _BARE = re.compile(r"[A-Za-z0-9_-]+")

    def __init__(self, text: str):
        self.t = text
        self.i = 0
        self.lines: dict[tuple, int] = {}
        self.arrays: dict[tuple[str, ...], int] = {}
        try:
            self._document()
        except (IndexError, ValueError):   # pragma: no cover - tomllib accepted the text already
            pass

    def line(self, path: Sequence[Any]) -> int | None:
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return None

    # -- lexing helpers
    def _lineno(self, pos: int) -> int:
        return self.t.count("\n", 0, pos) + 1

    def _skip(self, newlines: bool = True) -> None:
        t = self.t
        while self.i < len(t):
            c = t[self.i]
            if c in " \t\r" or (newlines and c == "\n"):
                self.i += 1
            elif c == "#":
                j = t.find("\n", self.i)
                self.i = len(t) if j < 0 else j
            else:
                break

    def _string(self) -> str:
        t = self.t
        q = t[self.i]
        if t.startswith(q * 3, self.i):
            j = t.find(q * 3, self.i + 3)
            while j >= 0 and q == '"' and t[j - 1] == "\\":
                j = t.find(q * 3, j + 1)
            end = len(t) if j < 0 else j + 3
            while end < len(t) and t[end] == q:      # up to two extra quotes belong to the string
                end += 1
            s = t[self.i + 3:end - 3]
            self.i = end
            return s
        j = self.i + 1
        while j < len(t) and t[j] != q:
            j += 2 if (q == '"' and t[j] == "\\") else 1
        s = t[self.i + 1:j]
        self.i = j + 1
        return s

    def _key(self) -> tuple[str, ...]:
        parts = []
        while True:
            self._skip(newlines=False)
            if self.t[self.i] in "\"'":
                parts.append(self._string())
            else:
                m = self._BARE.match(self.t, self.i)
                if not m:
                    raise ValueError("key")
                parts.append(m.group())
                self.i = m.end()
            self._skip(newlines=False)
            if self.i < len(self.t) and self.t[self.i] == ".":
                self.i += 1
                continue
            return tuple(parts)

    def _value(self, path: tuple) -> None:
        self._skip(newlines=False)
        t = self.t
        c = t[self.i]
        if c in "\"'":
            self._string()
        elif c == "[":
            self.i += 1
            k = 0
            while True:
                self._skip()
                if t[self.i] == "]":
                    self.i += 1
                    return
                self.lines.setdefault(path + (k,), self._lineno(self.i))
                self._value(path + (k,))
                k += 1
                self._skip()
                if t[self.i] == ",":
                    self.i += 1
        elif c == "{":
            self.i += 1
            while True:
                self._skip(newlines=False)
                if t[self.i] == "}":
                    self.i += 1
                    return
                at = self._lineno(self.i)
                key = self._key()
                self.lines.setdefault(path + key, at)
                self._skip(newlines=False)
                self.i += 1      # '='
                self._value(path + key)
                self._skip(newlines=False)
                if t[self.i] == ",":
                    self.i += 1
        else:
            m = re.compile(r"[^,\]}\s#]+(?:[ T][0-9:.+\-Z]+)?").match(t, self.i)
            self.i = m.end() if m else self.i + 1

    def _header_path(self, parts: tuple[str, ...], array: bool) -> tuple:
        path: list[Any] = []
        for j, part in enumerate(parts):
            path.append(part)
            key = parts[:j + 1]
            last = j == len(parts) - 1
            if array and last:
                n = self.arrays.get(key, 0)
                self.arrays[key] = n + 1
                path.append(n)
            elif key in self.arrays:
                path.append(self.arrays[key] - 1)
        return tuple(path)

    def _document(self) -> None:
        t = self.t
        current: tuple = ()
        while True:
            self._skip()
            if self.i >= len(t):
                return
            at = self._lineno(self.i)
            if t.startswith("[[", self.i):
                self.i += 2
                current = self._header_path(self._key(), array=True)
                self._skip(newlines=False)
                self.i += 2
                self.lines.setdefault(current, at)
            elif t[self.i] == "[":
                self.i += 1
                current = self._header_path(self._key(), array=False)
                self._skip(newlines=False)
                self.i += 1
                self.lines.setdefault(current, at)
            else:
                key = self._key()
                self.lines.setdefault(current + key, at)
                self._skip(newlines=False)
                self.i += 1      # '='
                self._value(current + key)


# --------------------------------------------------------------------------- the config


@dataclass(frozen=True)
class Expectation:
    property: str
    expected: str          # "holds" | "violated"
    line: int | None = None


@dataclass
class ScenarioEntry:
    """One ``[[scenario]]``: one exploration, many expectations."""

    label: str             # the run's name: the scenario's, plus "+gc=..." / "+caches=..." overrides
    scenario: scen.Scenario
    expect: list[Expectation]
    max_states: int | None = None
    note: str = ""
    line: int | None = None

    @property
    def negative(self) -> bool:
        return any(e.expected == VIOLATED for e in self.expect)


@dataclass
class GuardEntry:
    """One ``[[guard]]``: a guard set verified over a matrix, expected accepted or rejected."""

    name: str
    guards: list[Any]                  # certloop.guards.Guard (empty when guards are unavailable)
    sources: list[str]                 # what the config named (built-in names, files, inline guards)
    expect: str                        # "accepted" | "rejected"
    rejected_by: str | None = None
    base: str = "v1.16"
    matrix: list[str] | None = None
    gc: str = "abstract"
    caches: str = "fresh"
    note: str = ""
    line: int | None = None
    unavailable: str = ""              # why the entry cannot run in this build (then it is UNKNOWN)


@dataclass
class GateConfig:
    file: str                          # as shown to people (the path given, or the shipped default)
    scenarios: list[ScenarioEntry]
    guards: list[GuardEntry]
    max_seconds: float | None = None
    max_states: int | None = None
    formats: tuple[str, ...] = ("svg",)

    @property
    def n_expectations(self) -> int:
        return sum(len(s.expect) for s in self.scenarios) + len(self.guards)


_TYPE_WORDS = {bool: "a boolean (true/false)", int: "an integer", float: "a number", str: "a string",
               list: "an array", dict: "a table"}


def _tname(v: Any) -> str:
    if isinstance(v, bool):
        return f"the boolean {str(v).lower()}"
    if isinstance(v, int):
        return f"the integer {v}"
    if isinstance(v, float):
        return f"the number {v}"
    if isinstance(v, str):
        return f"the string {v!r}"
    if isinstance(v, list):
        return "an array"
    if isinstance(v, dict):
        return "a table"
    return type(v).__name__


class _V:
    """Validation helpers bound to a file and its key locations."""

    def __init__(self, file: str, loc: _Locator):
        self.file, self.loc = file, loc

    def err(self, path: Sequence[Any], where: str, message: str, valid: Sequence[str] | None = None,
            hint: str | None = None) -> ConfigError:
        return ConfigError(self.file, self.loc.line(path), where, message, valid, hint)

    def keys(self, table: dict, allowed: Sequence[str], path: tuple, where: str) -> None:
        for k in table:
            if k not in allowed:
                raise self.err(path + (k,), where, f"unknown key {k!r}", valid=list(allowed), hint=_close(k, allowed))

    def typed(self, table: dict, key: str, kinds: tuple, path: tuple, where: str, what: str = "") -> Any:
        v = table[key]
        ok = isinstance(v, kinds) and not (isinstance(v, bool) and bool not in kinds)
        if not ok:
            want = what or " or ".join(_TYPE_WORDS[k] for k in kinds)
            raise self.err(path + (key,), where, f"key {key!r} must be {want}, got {_tname(v)}")
        return v

    def choice(self, table: dict, key: str, valid: Sequence[str], path: tuple, where: str) -> str:
        v = self.typed(table, key, (str,), path, where, "one of the strings " + ", ".join(f'"{x}"' for x in valid))
        if v not in valid:
            low = v.strip().lower()
            if low in valid:
                return low
            raise self.err(path + (key,), where, f"key {key!r}: {v!r} is not valid", valid=list(valid),
                           hint=_close(v, valid))
        return v

    def positive(self, table: dict, key: str, path: tuple, where: str, integer: bool) -> Any:
        v = self.typed(table, key, (int,) if integer else (int, float), path, where,
                       "a positive integer" if integer else "a positive number of seconds")
        if v <= 0:
            raise self.err(path + (key,), where, f"key {key!r} must be positive, got {v}")
        return int(v) if integer else float(v)


_TOP_KEYS = ("gate", "scenario", "guard")
_GATE_KEYS = ("max_seconds", "max_states", "gc", "caches", "formats")
_SCENARIO_KEYS = ("name", "expect", "gc", "caches", "max_states", "note")
_GUARD_KEYS = ("name", "builtin", "file", "guards", "allow_live", "base", "matrix", "gc", "caches", "expect",
               "rejected_by", "note")


def parse_config(text: str, file: str = DEFAULT_CONFIG_NAME, base_dir: str | Path | None = None) -> GateConfig:
    """Parse and validate a gate config; raises :class:`ConfigError`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        line = int(m.group(1)) if m else (len(text.splitlines()) or 1 if "end of document" in msg else None)
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", msg) + (f" (column {m.group(2)})" if m else "")
        raise ConfigError(file, line, "", f"not valid TOML: {msg}") from None
    v = _V(file, _Locator(text))
    base = Path(base_dir) if base_dir is not None else Path(".")
    v.keys(data, _TOP_KEYS, (), "top level")

    gate = data.get("gate", {})
    if not isinstance(gate, dict):
        raise v.err(("gate",), "top level", f"'gate' must be a table ([gate]), got {_tname(gate)}")
    v.keys(gate, _GATE_KEYS, ("gate",), "[gate]")
    gp = ("gate",)
    max_seconds = v.positive(gate, "max_seconds", gp, "[gate]", integer=False) if "max_seconds" in gate else None
    max_states = v.positive(gate, "max_states", gp, "[gate]", integer=True) if "max_states" in gate else None
    gc_default = v.choice(gate, "gc", GC_MODES, gp, "[gate]") if "gc" in gate else None
    caches_default = v.choice(gate, "caches", CACHES, gp, "[gate]") if "caches" in gate else None
    formats: tuple[str, ...] = ("svg",)
    if "formats" in gate:
        fl = v.typed(gate, "formats", (list,), gp, "[gate]", "an array of strings")
        for k, f in enumerate(fl):
            if not isinstance(f, str) or f not in FORMATS:
                raise v.err(gp + ("formats", k), "[gate]", f"formats[{k}]: {_tname(f)} is not a diagram format",
                            valid=list(FORMATS), hint=_close(str(f), FORMATS))
        formats = tuple(dict.fromkeys(fl))

    entries = data.get("scenario", [])
    if not isinstance(entries, list):
        raise v.err(("scenario",), "top level",
                    "'scenario' must be an array of tables: write [[scenario]] (two brackets) before each entry")
    scenarios: list[ScenarioEntry] = []
    seen: dict[tuple, tuple[int, str]] = {}
    for k, t in enumerate(entries):
        scenarios.append(_scenario_entry(v, t, k, gc_default, caches_default, seen))

    gentries = data.get("guard", [])
    if not isinstance(gentries, list):
        raise v.err(("guard",), "top level",
                    "'guard' must be an array of tables: write [[guard]] (two brackets) before each entry")
    guards: list[GuardEntry] = []
    names: dict[str, int] = {}
    for k, t in enumerate(gentries):
        guards.append(_guard_entry(v, t, k, base, names))

    if not scenarios and not guards:
        raise ConfigError(file, None, "", "the config checks nothing: add a [[scenario]] (or a [[guard]]) entry; "
                                         "`certloop init` writes a commented example")
    return GateConfig(file, scenarios, guards, max_seconds, max_states, formats)


def _scenario_entry(v: _V, t: Any, k: int, gc_default: str | None, caches_default: str | None,
                    seen: dict[tuple, tuple[int, str]]) -> ScenarioEntry:
    path: tuple = ("scenario", k)
    where = f"[[scenario]] #{k + 1}"
    if not isinstance(t, dict):
        raise v.err(path, where, f"each [[scenario]] must be a table, got {_tname(t)}")
    if "name" in t and isinstance(t["name"], str):
        where = f"[[scenario]] #{k + 1} ({t['name']})"
    v.keys(t, _SCENARIO_KEYS, path, where)
    if "name" not in t:
        raise v.err(path, where, "missing key 'name' (a scenario name; `certloop scenarios` lists them)",
                    valid=[s.name for s in scen.SCENARIOS])
    name = v.typed(t, "name", (str,), path, where)
    names = [s.name for s in scen.SCENARIOS]
    if name not in names:
        raise v.err(path + ("name",), where, f"unknown scenario {name!r}", valid=names, hint=_close(name, names))
    s = scen.get(name)
    gc = v.choice(t, "gc", GC_MODES, path, where) if "gc" in t else gc_default
    caches = v.choice(t, "caches", CACHES, path, where) if "caches" in t else caches_default
    label = name
    if gc is not None and gc != s.config.gc:
        label += f"+gc={gc}"
    s2 = scen.with_modes(s, gc=gc, caches=caches)
    if caches is not None and s2.config != scen.with_modes(s, gc=gc).config:
        label += f"+caches={caches}"
    s2 = replace(s2, name=label)
    max_states = v.positive(t, "max_states", path, where, integer=True) if "max_states" in t else None
    note = v.typed(t, "note", (str,), path, where) if "note" in t else ""
    if "expect" not in t:
        raise v.err(path, where, "missing key 'expect': a table property = \"holds\" | \"violated\", e.g. "
                                 "expect = { deletion_completes = \"holds\" }")
    ex = v.typed(t, "expect", (dict,), path, where, 'a table of property = "holds" | "violated"')
    if not ex:
        raise v.err(path + ("expect",), where, "'expect' is empty: name at least one property")
    from certloop.model.scenario import build
    from certloop.runner import select_properties
    world = build(s2.config)
    deletion.attach(world)
    applicable = select_properties(world, None)
    expect: list[Expectation] = []
    for p, word in ex.items():
        pp = path + ("expect", p)
        if p not in PROPERTIES:
            what = "a non-vacuity witness, not a property" if p in deletion.WITNESSES else "unknown property"
            raise v.err(pp, where, f"expect.{p}: {what}", valid=applicable, hint=_close(p, PROPERTIES))
        if p not in applicable:
            raise v.err(pp, where, f"expect.{p}: the property does not apply to scenario {name!r} (it needs a knob: "
                                   f"test finalizer, namespace deletion, second delete or a fresh start)",
                        valid=applicable)
        if not isinstance(word, str):
            raise v.err(pp, where, f"expect.{p} must be the string \"holds\" or \"violated\", got {_tname(word)}",
                        valid=list(VERDICTS))
        w = word.strip().lower()
        if w not in VERDICTS:
            raise v.err(pp, where, f"expect.{p}: {word!r} is not a verdict", valid=list(VERDICTS),
                        hint=_close(w, VERDICTS))
        expect.append(Expectation(p, w, v.loc.line(pp)))
    key = (s2.config,)
    if key in seen:
        other_k, other = seen[key]
        same = "is already run by" if other == label else f"is the same configuration as {other!r} in"
        raise v.err(path, where, f"scenario {label!r} {same} [[scenario]] #{other_k + 1} "
                                 f"(line {v.loc.line(('scenario', other_k))}): each configuration is explored "
                                 f"once; put all of its expectations in one entry")
    seen[key] = (k, label)
    return ScenarioEntry(label, s2, expect, max_states, note, v.loc.line(path))


def _guard_entry(v: _V, t: Any, k: int, base_dir: Path, names: dict[str, int]) -> GuardEntry:
    path: tuple = ("guard", k)
    where = f"[[guard]] #{k + 1}"
    if not isinstance(t, dict):
        raise v.err(path, where, f"each [[guard]] must be a table, got {_tname(t)}")
    if "name" in t and isinstance(t["name"], str):
        where = f"[[guard]] #{k + 1} ({t['name']})"
    v.keys(t, _GUARD_KEYS, path, where)
    if "name" not in t:
        raise v.err(path, where, "missing key 'name' (a label for the guard set)")
    name = v.typed(t, "name", (str,), path, where)
    if name in names:
        raise v.err(path + ("name",), where, f"the name {name!r} is already used by [[guard]] #{names[name] + 1}")
    names[name] = k
    if "expect" not in t:
        raise v.err(path, where, "missing key 'expect'", valid=list(GUARD_VERDICTS))
    expect = v.choice(t, "expect", GUARD_VERDICTS, path, where)
    allow_live = bool(v.typed(t, "allow_live", (bool,), path, where)) if "allow_live" in t else False
    base = v.choice(t, "base", VERSIONS, path, where) if "base" in t else "v1.16"
    gc = v.choice(t, "gc", GC_MODES, path, where) if "gc" in t else "abstract"
    caches = v.choice(t, "caches", CACHES, path, where) if "caches" in t else "fresh"
    note = v.typed(t, "note", (str,), path, where) if "note" in t else ""
    if not any(x in t for x in ("builtin", "file", "guards")):
        raise v.err(path, where, "no guard: give 'builtin' (a built-in set), 'file' (a guard file) or 'guards' "
                                 "(an array of \"controller: expression\" strings)")
    try:
        from certloop import guards as gmod
    except ImportError as e:      # pragma: no cover - the guard language ships with certloop
        return GuardEntry(name, [], [], expect, None, base, None, gc, caches, note, v.loc.line(path),
                          unavailable=f"guard verification is not available in this build ({e})")
    rejected_by = None
    if "rejected_by" in t:
        rejected_by = v.choice(t, "rejected_by", list(gmod.COUNTED), path, where)
        if expect != "rejected":
            raise v.err(path + ("rejected_by",), where, "'rejected_by' needs expect = \"rejected\"")
    out: list[Any] = []
    sources: list[str] = []
    try:
        if "builtin" in t:
            b = t["builtin"]
            bl = [b] if isinstance(b, str) else b
            if not isinstance(bl, list) or not all(isinstance(x, str) for x in bl):
                raise v.err(path + ("builtin",), where, f"key 'builtin' must be a string or an array of strings, "
                                                        f"got {_tname(b)}", valid=list(gmod.BUILTINS))
            for j, x in enumerate(bl):
                if x not in gmod.BUILTINS:
                    raise v.err(path + ("builtin",) + ((j,) if isinstance(b, list) else ()), where,
                                f"unknown built-in guard set {x!r}", valid=list(gmod.BUILTINS),
                                hint=_close(x, list(gmod.BUILTINS)))
                out += gmod.builtin_guards(x)
                sources.append(f"builtin {x}")
        if "file" in t:
            f = v.typed(t, "file", (str,), path, where, "a path (relative to the config file)")
            p = Path(f) if Path(f).is_absolute() else base_dir / f
            try:
                text = p.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise v.err(path + ("file",), where, f"cannot read guard file {str(p)!r}: "
                                                     f"{e.strerror if isinstance(e, OSError) else e}") from None
            try:
                out += gmod.parse_guard_file(text, f, allow_live)
            except gmod.GuardError as e:
                raise v.err(path + ("file",), where, f"in guard file {f}: {e}") from None
            sources.append(f"file {f}")
        if "guards" in t:
            gl = v.typed(t, "guards", (list,), path, where, 'an array of "controller: expression" strings')
            for j, g in enumerate(gl):
                gp = path + ("guards", j)
                if isinstance(g, dict):
                    extra = [x for x in g if x not in ("controller", "guard")]
                    if extra or not isinstance(g.get("controller"), str) or not isinstance(g.get("guard"), str):
                        raise v.err(gp, where, f"guards[{j}] must be {{ controller = \"...\", guard = \"...\" }} "
                                               f"(two strings)")
                    target, expr = g["controller"], g["guard"]
                elif isinstance(g, str):
                    target, sep, expr = g.partition(":")
                    if not sep:
                        raise v.err(gp, where, f"guards[{j}] must read \"controller: expression\", got {g!r}",
                                    valid=list(gmod.TARGETS))
                else:
                    raise v.err(gp, where, f"guards[{j}] must be a string \"controller: expression\", "
                                           f"got {_tname(g)}")
                try:
                    out.append(gmod.parse_guard(target.strip(), expr, allow_live, source=f"{name} guards[{j}]"))
                except gmod.GuardError as e:
                    raise v.err(gp, where, f"guards[{j}]: {e}") from None
                sources.append(f"{target.strip()}: {' '.join(expr.split())}")
    except gmod.GuardError as e:      # pragma: no cover - built-ins always parse
        raise v.err(path, where, str(e)) from None
    matrix = None
    if "matrix" in t:
        ml = v.typed(t, "matrix", (list,), path, where, "an array of scenario names (or \"default\", \"all\")")
        if not all(isinstance(x, str) for x in ml) or not ml:
            raise v.err(path + ("matrix",), where, "'matrix' must be a non-empty array of scenario names")
        try:
            gmod.matrix_scenarios(ml, base=base, gc=gc, caches=caches)
        except gmod.GuardError as e:
            raise v.err(path + ("matrix",), where, e.message, valid=e.valid, hint=e.hint) from None
        matrix = list(ml)
    return GuardEntry(name, out, sources, expect, rejected_by, base, matrix, gc, caches, note, v.loc.line(path))


def default_config_text() -> str:
    """The shipped default config (``certloop/data/gate.toml``), also what ``certloop init`` writes."""
    return resources.files("certloop").joinpath("data/gate.toml").read_text(encoding="utf-8")


SHIPPED = "<shipped default: certloop/data/gate.toml>"


def find_config(path: str | None) -> tuple[str, str, Path]:
    """``(text, name shown, base directory)``: ``path``, else ``./certloop.toml``, else the default.

    Raises :class:`ConfigError` if ``path`` cannot be read."""
    if path is None and Path(DEFAULT_CONFIG_NAME).is_file():
        path = DEFAULT_CONFIG_NAME
    if path is None:
        return default_config_text(), SHIPPED, Path(str(resources.files("certloop").joinpath("data")))
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, None, "", "no such file (`certloop init` writes a commented config)") from None
    except IsADirectoryError:
        raise ConfigError(path, None, "", "is a directory, not a config file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(path, None, "", f"cannot read: {e}") from None
    return text, path, p.parent


def load_config(path: str | None = None) -> GateConfig:
    text, name, base = find_config(path)
    return parse_config(text, name, base)


# --------------------------------------------------------------------------- outcomes


@dataclass
class Case:
    """One expectation's outcome: a JUnit testcase (classname = scenario, name = property)."""

    classname: str
    name: str
    expected: str
    verdict: str | None            # holds / violated / unknown / accepted / rejected; None if not run
    outcome: str                   # pass / fail / unknown / error
    message: str = ""
    detail: str = ""               # the failure body: a counterexample, or why
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0
    line: int | None = None


@dataclass
class ScenarioRun:
    entry: ScenarioEntry
    cases: list[Case]
    states: int | None = None
    transitions: int | None = None
    depth: int | None = None
    complete: bool = False
    bound: str | None = None
    report: str | None = None       # path of the per-scenario report JSON
    seconds: float = 0.0
    error: str = ""

    def to_json(self, timings: bool = False) -> dict[str, Any]:
        e = self.entry
        d: dict[str, Any] = {
            "name": e.label, "scenario": e.label.split("+", 1)[0], "row": e.scenario.row, "title": e.scenario.title,
            "note": e.note, "knobs": e.scenario.config.knobs(), "states": self.states,
            "transitions": self.transitions, "depth": self.depth, "complete": self.complete, "bound": self.bound,
            "report": self.report, "error": self.error or None,
            "results": [_case_json(c, timings) for c in self.cases],
        }
        if timings:
            d["seconds"] = round(self.seconds, 3)
        return d


@dataclass
class GuardRun:
    entry: GuardEntry
    case: Case
    verification: dict[str, Any] | None = None

    def to_json(self, timings: bool = False) -> dict[str, Any]:
        e = self.entry
        d = {"name": e.name, "sources": e.sources, "base": e.base, "matrix": e.matrix, "gc": e.gc,
             "caches": e.caches, "note": e.note, **_case_json(self.case, timings),
             "verification": self.verification}
        return d


def _case_json(c: Case, timings: bool) -> dict[str, Any]:
    d: dict[str, Any] = {"property": c.name, "expected": c.expected, "verdict": c.verdict, "outcome": c.outcome,
                         "message": c.message, "files": list(c.files)}
    if timings:
        d["seconds"] = round(c.seconds, 3)
    return d


@dataclass
class GateResult:
    config: GateConfig
    runs: list[ScenarioRun]
    guard_runs: list[GuardRun]
    interrupted: bool = False
    seconds: float = 0.0
    max_seconds: float | None = None
    max_states: int | None = None

    def cases(self) -> list[Case]:
        return [c for r in self.runs for c in r.cases] + [g.case for g in self.guard_runs]

    def counts(self) -> dict[str, int]:
        cs = self.cases()
        return {"expectations": len(cs), "passed": sum(c.outcome == PASS for c in cs),
                "failed": sum(c.outcome == FAIL for c in cs), "errors": sum(c.outcome == ERROR for c in cs),
                "unknown": sum(c.outcome == UNKNOWN for c in cs)}

    @property
    def verdict(self) -> str:
        n = self.counts()
        if n["failed"] or n["errors"]:
            return "FAIL"
        if n["unknown"]:
            return "UNKNOWN"
        return "PASS"

    @property
    def exit_code(self) -> int:
        return {"PASS": 0, "FAIL": 1, "UNKNOWN": 3}[self.verdict]

    def verdict_line(self) -> str:
        n = self.counts()
        nv = sum(len(r.cases) for r in self.runs)
        where = f"{nv} verdict{'s' * (nv != 1)} on {len(self.runs)} scenario{'s' * (len(self.runs) != 1)}"
        if self.guard_runs:
            where += f", {len(self.guard_runs)} guard set{'s' * (len(self.guard_runs) != 1)}"
        if self.verdict == "PASS":
            return f"PASS: all {n['expectations']} expectations met ({where})"
        if self.verdict == "FAIL":
            first = next(c for c in self.cases() if c.outcome in (FAIL, ERROR))
            more = n["failed"] + n["errors"] - 1
            return (f"FAIL: {first.classname}: {first.message}"
                    + (f" (and {more} more)" if more else "") + f"; {n['passed']}/{n['expectations']} met")
        first = next(c for c in self.cases() if c.outcome == UNKNOWN)
        why = "interrupted" if self.interrupted else first.message
        return (f"UNKNOWN: nothing failed, but {n['unknown']} of {n['expectations']} expectations are unknown "
                f"({first.classname}: {why})")

    def to_json(self, timings: bool = False) -> dict[str, Any]:
        from certloop import __version__
        d: dict[str, Any] = {
            "tool": "certloop gate", "certloop_version": __version__, "config": self.config.file,
            "verdict": self.verdict, "exit_code": self.exit_code, "summary": self.verdict_line(),
            "counts": self.counts(), "interrupted": self.interrupted,
            "bounds": {"max_seconds": self.max_seconds, "max_states": self.max_states},
            "scenarios": [r.to_json(timings) for r in self.runs],
            "guards": [g.to_json(timings) for g in self.guard_runs],
        }
        if timings:
            d["seconds"] = round(self.seconds, 3)
        return d

    def to_junit(self, timings: bool = False) -> str:
        """JUnit XML: one testcase per expectation; failures carry the counterexample text."""
        from certloop import __version__
        n = self.counts()
        suites = ET.Element("testsuites", _attrs(name="certloop gate", tests=n["expectations"],
                                                 failures=n["failed"], errors=n["errors"], skipped=n["unknown"],
                                                 time=round(self.seconds, 3) if timings else None))
        suite = ET.SubElement(suites, "testsuite", _attrs(name="certloop gate", tests=n["expectations"],
                                                          failures=n["failed"], errors=n["errors"],
                                                          skipped=n["unknown"],
                                                          time=round(self.seconds, 3) if timings else None))
        props = ET.SubElement(suite, "properties")
        for k, val in (("config", self.config.file), ("certloop_version", __version__), ("verdict", self.verdict),
                       ("max_seconds", self.max_seconds), ("max_states", self.max_states)):
            if val is not None:
                ET.SubElement(props, "property", {"name": k, "value": _xml_text(str(val))})
        for r in self.runs:
            extra = {"states": r.states, "complete": r.complete, "bound": r.bound, "note": r.entry.note or None,
                     "report": r.report}
            for c in r.cases:
                _junit_case(suite, c, extra, timings)
        for g in self.guard_runs:
            _junit_case(suite, g.case, {"sources": "; ".join(g.entry.sources), "base": g.entry.base,
                                        "note": g.entry.note or None}, timings)
        ET.indent(suites, space="  ")
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _attrs(**kw: Any) -> dict[str, str]:
    return {k: str(v) for k, v in kw.items() if v is not None}


_BAD_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(s: str) -> str:
    return _BAD_XML.sub("?", s)


def _junit_case(suite: ET.Element, c: Case, extra: dict[str, Any], timings: bool) -> None:
    tc = ET.SubElement(suite, "testcase", _attrs(classname=c.classname, name=c.name,
                                                 time=round(c.seconds, 3) if timings else None))
    props = ET.SubElement(tc, "properties")
    for k, val in (("expected", c.expected), ("verdict", c.verdict), ("outcome", c.outcome), *extra.items(),
                   ("line", c.line)):
        if val is not None:
            ET.SubElement(props, "property", {"name": k, "value": _xml_text(str(val).lower() if isinstance(val, bool)
                                                                           else str(val))})
    for i, f in enumerate(c.files):
        ET.SubElement(props, "property", {"name": f"file{i}", "value": _xml_text(f)})
    if c.outcome == FAIL:
        el = ET.SubElement(tc, "failure", {"message": _xml_text(c.message), "type": "unexpected verdict"})
        el.text = _xml_text(c.detail or c.message)
    elif c.outcome == ERROR:
        el = ET.SubElement(tc, "error", {"message": _xml_text(c.message), "type": "error"})
        el.text = _xml_text(c.detail or c.message)
    elif c.outcome == UNKNOWN:
        ET.SubElement(tc, "skipped", {"message": _xml_text(c.message)})


# --------------------------------------------------------------------------- running


def _judge(entry: ScenarioEntry, e: Expectation, x: Any, r: Any, files: list[str]) -> Case:
    """Compare one verdict with its expectation."""
    from certloop.checker import trace as tracefmt
    from certloop.properties.ledger import ledger_lines
    label = entry.label
    c = Case(label, e.property, e.expected, x.verdict, PASS, files=files, seconds=x.seconds, line=e.line)
    g = r.graph
    if x.verdict == e.expected:
        c.message = f"{e.property} {x.verdict.upper()} as expected" + (" (negative control)"
                                                                       if e.expected == VIOLATED else "")
        return c
    if x.verdict == UNKNOWN:
        c.outcome = UNKNOWN
        c.message = f"{e.property} is UNKNOWN, expected {e.expected.upper()}: {x.note or 'a bound was hit'}"
        c.detail = c.message + f"\n{g.n_states:,} states explored, depth {g.max_depth}."
        return c
    c.outcome = FAIL
    if x.verdict == VIOLATED:
        c.message = f"{e.property} is VIOLATED, expected HOLDS"
        body = [c.message, ""]
        if x.trace is not None:
            body.append(tracefmt.to_text(x.trace, title=f"{label}: {e.property} VIOLATED").rstrip())
            body += ["  " + ln for ln in ledger_lines(x.trace)]
        c.detail = "\n".join(body) + "\n"
    else:
        c.message = (f"{e.property} HOLDS, expected VIOLATED: this negative control no longer fails, so the gate "
                     f"cannot see the bug any more")
        c.detail = (c.message + f"\n\n{label}: {g.n_states:,} states, {g.n_transitions:,} transitions, depth "
                    f"{g.max_depth}, complete; {e.property} holds" + (f" ({x.note})" if x.note else "") + ".\n")
    return c


def _not_run(entry: ScenarioEntry, why: str, outcome: str = UNKNOWN) -> ScenarioRun:
    cases = [Case(entry.label, e.property, e.expected, None, outcome, f"{e.property}: not run: {why}",
                  line=e.line) for e in entry.expect]
    return ScenarioRun(entry, cases, error=why if outcome == ERROR else "")


def run_gate(cfg: GateConfig, *, out_dir: str | Path | None = "out/gate", max_seconds: float | None = None,
             max_states: int | None = None, formats: Sequence[str] | None = None, timings: bool = False,
             progress_for: Callable[[str], Callable[[Any], None] | None] | None = None,
             on_run: Callable[[ScenarioRun], None] | None = None,
             on_guard: Callable[[GuardRun], None] | None = None) -> GateResult:
    """Run every scenario once and every guard set; never raises on a verdict.

    ``max_seconds`` (default: the config's) is a budget for the whole gate: each scenario gets what
    is left, and once it is spent the remaining entries are UNKNOWN without running.  Ctrl-C stops
    the gate: the entry under way and the remaining ones are UNKNOWN (``interrupted``).
    ``out_dir=None`` writes no artifacts.
    """
    import json as _json
    from certloop.runner import report_json, run, write_artifacts
    t0 = time.monotonic()
    budget = max_seconds if max_seconds is not None else cfg.max_seconds
    bound_states = max_states if max_states is not None else cfg.max_states
    fmts = tuple(cfg.formats if formats is None else formats)
    res = GateResult(cfg, [], [], max_seconds=budget, max_states=bound_states)

    def left() -> float | None:
        return None if budget is None else budget - (time.monotonic() - t0)

    for entry in cfg.scenarios:
        if res.interrupted:
            out = _not_run(entry, "the gate was interrupted")
        elif (lt := left()) is not None and lt <= 0:
            out = _not_run(entry, f"the gate's time budget ({budget:g} s) was spent")
        else:
            t1 = time.monotonic()
            cap = entry.max_states if entry.max_states is not None else bound_states
            prog = progress_for(entry.label) if progress_for else None
            try:
                r = run(entry.scenario, [e.property for e in entry.expect], max_states=cap, max_seconds=left(),
                        progress=prog, witnesses=False, measure=False)
            except KeyboardInterrupt:
                res.interrupted = True
                out = _not_run(entry, "interrupted")
            except Exception as e:      # noqa: BLE001 - a crash is an ERROR testcase, never a pass
                out = _not_run(entry, f"{type(e).__name__}: {e}", outcome=ERROR)
            else:
                if r.graph.reason == "interrupted":
                    res.interrupted = True
                files: dict[str, list[str]] = {}
                report_path = None
                if out_dir is not None:
                    try:
                        for p in write_artifacts(r, out_dir, formats=fmts):
                            files.setdefault(p.name.split(".")[0], []).append(p.as_posix())
                        rp = Path(out_dir) / _slug(entry.label) / "report.json"
                        rp.parent.mkdir(parents=True, exist_ok=True)
                        rp.write_text(_json.dumps(report_json(r, timings), indent=2) + "\n")
                        report_path = rp.as_posix()
                    except KeyboardInterrupt:
                        res.interrupted = True
                cases = []
                by_name = {x.name: x for x in r.results}
                for ex in entry.expect:
                    cases.append(_judge(entry, ex, by_name[ex.property], r,
                                        sorted(files.get(_slug(ex.property), []))))
                g = r.graph
                out = ScenarioRun(entry, cases, g.n_states, g.n_transitions, g.max_depth, g.complete,
                                  g.reason or None, report_path)
            out.seconds = time.monotonic() - t1
        res.runs.append(out)
        if on_run:
            on_run(out)

    for ge in cfg.guards:
        gr = _guard_run(ge, res, left(), budget, out_dir)
        res.guard_runs.append(gr)
        if on_guard:
            on_guard(gr)
    res.seconds = time.monotonic() - t0
    return res


def _slug(s: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in s)


def _guard_run(ge: GuardEntry, res: GateResult, lt: float | None, budget: float | None,
               out_dir: str | Path | None) -> GuardRun:
    cls = "guard"
    base = Case(cls, ge.name, ge.expect, None, UNKNOWN, line=ge.line)
    if res.interrupted:
        base.message = f"{ge.name}: not run: the gate was interrupted"
        return GuardRun(ge, base)
    if ge.unavailable:
        base.message = f"{ge.name}: skipped: {ge.unavailable}"
        return GuardRun(ge, base)
    if lt is not None and lt <= 0:
        base.message = f"{ge.name}: not run: the gate's time budget ({budget:g} s) was spent"
        return GuardRun(ge, base)
    from certloop.guards import verify
    t1 = time.monotonic()
    gdir = None if out_dir is None else str(Path(out_dir) / "guard" / _slug(ge.name))
    try:
        v = verify(ge.guards, base=ge.base, matrix=ge.matrix, gc=ge.gc, caches=ge.caches, max_seconds=lt,
                   out_dir=gdir, analysis=False)
    except KeyboardInterrupt:
        res.interrupted = True
        base.message = f"{ge.name}: interrupted"
        return GuardRun(ge, base)
    except Exception as e:      # noqa: BLE001 - a crash is an ERROR testcase, never a pass
        base.outcome, base.message = ERROR, f"{ge.name}: {type(e).__name__}: {e}"
        return GuardRun(ge, base)
    word = v.verdict.lower()
    c = Case(cls, ge.name, ge.expect, word, PASS, seconds=time.monotonic() - t1, line=ge.line)
    ff = v.first_failure
    if ff is not None:
        c.files = list(ff[1].files)
    detail = [v.verdict_line(), ""]
    for s in v.scenarios:
        detail.append(f"  {s.name}: " + ", ".join(f"{p.name}={p.verdict}" for p in s.properties if p.counted))
    c.detail = "\n".join(detail) + "\n"
    if word == "unknown":
        c.outcome, c.message = UNKNOWN, f"guard set {ge.name!r}: {v.verdict_line()}"
    elif word != ge.expect:
        c.outcome = FAIL
        c.message = f"guard set {ge.name!r} is {v.verdict}, expected {ge.expect.upper()}: {v.verdict_line()}"
    elif ge.rejected_by is not None:
        hit = [(s.name, p.name) for s in v.scenarios for p in s.properties
               if p.counted and p.verdict == VIOLATED and p.name == ge.rejected_by]
        if hit:
            c.message = f"guard set {ge.name!r} REJECTED by {ge.rejected_by} on {hit[0][0]} as expected"
        else:
            c.outcome = FAIL
            c.message = (f"guard set {ge.name!r} is REJECTED, but not by {ge.rejected_by} "
                         f"(expected rejected_by = {ge.rejected_by!r}): {v.verdict_line()}")
    else:
        c.message = f"guard set {ge.name!r} {v.verdict} as expected"
    return GuardRun(ge, c, v.to_json())
