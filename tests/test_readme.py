"""Every `jaxac` command in the README parses, and every `jaxac train` command builds its
config (nothing is trained: the commands' runs are the README's measured numbers)."""

import os
import re
import shlex

import pytest

from jaxac import cli

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def commands():
    """`jaxac ...` commands of the README: lines of its code blocks and inline `...` spans."""
    text = open(README).read()
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        found += [line.split("  #")[0].strip() for line in block.splitlines() if line.startswith("jaxac ")]
    for span in re.findall(r"`(jaxac (?:train|eval|resume|plot)[^`]*)`", text):
        parts = [part.strip() for part in span.split("&&")]
        # a synopsis ("[--json FILE]") or a bare name ("`jaxac train`") is not a command
        found += [p for p in parts if p.startswith("jaxac ") and "[" not in p and len(p.split()) > 2]
    return sorted(set(found))


@pytest.mark.parametrize("command", commands())
def test_readme_command_parses_and_builds_its_config(command):
    argv = shlex.split(command)[1:]
    if "--help" in argv or "--help-all" in argv:
        with pytest.raises(SystemExit) as exc:
            cli.parse_args(argv)
        assert exc.value.code == 0
        return
    args = cli.parse_args(argv)
    if args.command == "train" and ":" not in args.env:  # module:factory is the reader's own module
        cfg = cli._config_from_args(args)
        assert cfg.total_steps > 0
