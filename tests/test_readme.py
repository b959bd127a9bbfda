"""The README stays true: its CLI reference, its commands, its config and workflow examples.

* The CLI reference between ``<!-- cli-reference:start -->`` and ``<!-- cli-reference:end -->``
  is the ``--help`` of every command.  ``CERTLOOP_UPDATE_README=1 pytest tests/test_readme.py``
  rewrites it.
* ``.ci/run`` runs exactly the README's test command, then ``certloop gate --quiet``.
* The config example of the "Config file" section is a valid gate config, and the workflow shown
  there is ``examples/github-actions.yml``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from certloop.cli import main
from certloop.gate import parse_config

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
START, END = "<!-- cli-reference:start -->", "<!-- cli-reference:end -->"
WIDTH = 100


def _help(args: list[str]) -> str:
    r = CliRunner().invoke(main, args + ["--help"], prog_name="certloop", terminal_width=WIDTH)
    assert r.exit_code == 0, r.output
    return r.output.rstrip() + "\n"


def cli_reference() -> str:
    """The generated region (without the markers)."""
    ctx = click.Context(main, info_name="certloop")
    parts = ["<!-- generated from `certloop <command> --help`; rewrite with: "
             "CERTLOOP_UPDATE_README=1 pytest tests/test_readme.py -->", ""]
    parts += ["### `certloop`", "", "```text", _help([]).rstrip(), "```", ""]
    for name in main.list_commands(ctx):
        cmd = main.get_command(ctx, name)
        if cmd is None or cmd.hidden:
            continue
        parts += [f"### `certloop {name}`", "", "```text", _help([name]).rstrip(), "```", ""]
    return "\n".join(parts)


def _split(text: str) -> tuple[str, str, str]:
    assert text.count(START) == 1 and text.count(END) == 1, "the README needs exactly one pair of markers"
    head, rest = text.split(START)
    body, tail = rest.split(END)
    return head, body, tail


def test_cli_reference_is_current():
    text = README.read_text(encoding="utf-8")
    head, body, tail = _split(text)
    want = "\n" + cli_reference()
    if os.environ.get("CERTLOOP_UPDATE_README") == "1":
        README.write_text(head + START + want + END + tail, encoding="utf-8")
        body = want
    assert body == want, ("the README's CLI reference differs from the current --help output; "
                          "run CERTLOOP_UPDATE_README=1 pytest tests/test_readme.py")


def test_cli_reference_covers_every_command():
    _, body, _ = _split(README.read_text(encoding="utf-8"))
    ctx = click.Context(main, info_name="certloop")
    for name in main.list_commands(ctx):
        assert f"### `certloop {name}`" in body


def _sh_blocks(section: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    m = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## )", text, re.S | re.M)
    assert m, f"no section {section!r} in the README"
    return [b.strip() for b in re.findall(r"```sh\n(.*?)```", m.group(1), re.S)]


def test_ci_runs_the_readme_test_command_then_the_gate():
    blocks = _sh_blocks("Two commands")
    assert len(blocks) == 2, blocks
    install, test_cmd = blocks
    assert install.endswith("certloop check") and test_cmd.endswith("pytest")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    lines = [ln.strip() for ln in ci.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert lines[-1] == f"{test_cmd} && certloop gate --quiet", lines[-1]
    # both README commands share the environment setup
    assert install.split(" && ")[:2] == test_cmd.split(" && ")[:2]


def _fenced(section: str, lang: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    m = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## )", text, re.S | re.M)
    assert m
    return re.findall(rf"```{lang}\n(.*?)```", m.group(1), re.S)


def test_readme_config_example_is_valid():
    blocks = _fenced("Config file", "toml")
    assert blocks
    cfg = parse_config(blocks[0], "README.md")
    assert [s.label for s in cfg.scenarios] == ["seed", "v1.18-seed+gc=abstract"]
    assert cfg.guards and cfg.guards[0].expect == "accepted"


def test_readme_shows_the_workflow_example():
    blocks = _fenced("Config file", "yaml")
    assert blocks == [(ROOT / "examples" / "github-actions.yml").read_text(encoding="utf-8")]


def test_readme_error_example_matches_the_real_message():
    """The error shown in the README is what a misspelt property really gives."""
    text = README.read_text(encoding="utf-8")
    m = re.search(r"error: (certloop\.toml:\d+: .*?deletion_complete: unknown property; did you mean "
                  r"'deletion_completes'\?)", text)
    assert m
    from certloop.gate import ConfigError
    bad = ("# a config\n" * 8 + '[[scenario]]\nname = "v1.18-seed"\nexpect = { deletion_completes = "holds" }\n'
           '[[scenario]]\nname = "seed"\nexpect = { deletion_complete = "violated" }\n')
    with pytest.raises(ConfigError) as e:
        parse_config(bad, "certloop.toml")
    assert str(e.value).splitlines()[0] == m.group(1)
