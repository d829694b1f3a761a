"""The documentation: the site builds in strict mode (warnings and broken links fail), every
public module has a reference page in the navigation, every example is listed, and every
`jaxac` command in the README and the docs parses (`train` commands build their configs;
nothing is trained: the commands' runs are the measured numbers)."""

import glob
import os
import shlex
import subprocess
import sys

import pytest

from doc_blocks import commands
from jaxac import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = [os.path.join(ROOT, "README.md")] + sorted(
    p for p in glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True)
    if os.sep + "reference" + os.sep not in p and os.sep + "results" + os.sep not in p)


def public_modules():
    """Every module a user can import: jaxac's, its algorithms', critics' and environments'."""
    found = []
    for folder, package in [("jaxac", "jaxac"), ("jaxac/algos", "jaxac.algos"), ("jaxac/critics", "jaxac.critics"),
                            ("envs", "jaxac.envs")]:
        found += [f"{package}.{name[:-3]}" for name in sorted(os.listdir(os.path.join(ROOT, folder)))
                  if name.endswith(".py") and not name.startswith("_")]
    return found


def test_the_site_builds_in_strict_mode(tmp_path):
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", os.path.join(ROOT, "mkdocs.yml"),
                           "-d", str(tmp_path / "site")], capture_output=True, text=True, timeout=600, env=env,
                          cwd=ROOT)  # snippets are included from paths relative to the root
    assert done.returncode == 0, done.stdout + done.stderr
    for module in public_modules():  # the reference pages have their module's members rendered
        page = (tmp_path / "site" / "reference" / module / "index.html").read_text()
        assert f'id="{module.replace("jaxac.envs", "envs")}' in page, module


def test_every_public_module_has_a_reference_page_in_the_navigation():
    nav = open(os.path.join(ROOT, "mkdocs.yml")).read()
    for module in public_modules():
        path = os.path.join(ROOT, "docs", "reference", module + ".md")
        assert os.path.exists(path), f"no reference page for {module}"
        target = module.replace("jaxac.envs.", "envs.")  # the envs/ directory installs as jaxac.envs
        assert f"::: {target}\n" in open(path).read(), path
        assert f"reference/{module}.md" in nav, f"{module}'s page is not in mkdocs.yml's nav"


def test_every_results_file_and_example_is_reachable():
    nav = open(os.path.join(ROOT, "mkdocs.yml")).read()
    for path in glob.glob(os.path.join(ROOT, "benchmarks", "results", "*.md")):
        assert f"results/{os.path.basename(path)}" in nav, f"{path} is not in mkdocs.yml's nav"
    listed = open(os.path.join(ROOT, "docs", "examples.md")).read()
    for path in glob.glob(os.path.join(ROOT, "examples", "*.py")):
        assert f"examples/{os.path.basename(path)}" in listed, f"{path} is not in docs/examples.md"


def test_the_readme_is_short_and_links_only_to_files_that_exist():
    text = open(PAGES[0]).read()
    assert len(text.splitlines()) < 200
    import re
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if not target.startswith("http"):
            assert os.path.exists(os.path.join(ROOT, target)), target


def all_commands():
    return sorted({(os.path.relpath(page, ROOT), command) for page in PAGES for command in commands(open(page).read())})


@pytest.mark.parametrize("page, command", all_commands())
def test_every_command_parses_and_builds_its_config(page, command):
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


def test_every_public_class_and_function_of_a_module_has_a_docstring():
    """The reference pages are generated from docstrings: a public name without one is an
    empty entry there."""
    import griffe

    missing = []

    def walk(obj):
        for name, member in obj.members.items():
            if name.startswith("_") or member.is_alias:
                continue
            if member.is_module:
                walk(member)
            elif (member.is_function or member.is_class) and not member.docstring:
                missing.append(member.path)

    for package in ("jaxac", "envs"):
        walk(griffe.load(package, search_paths=[ROOT]))
    assert not missing, missing
