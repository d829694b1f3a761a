"""Where a run's user code lives: the directory a module was imported from, and importing it
again from there in a process that does not find it."""

import sys

import pytest

from jaxac import sources


def test_a_module_is_found_again_from_the_directory_it_was_imported_from(tmp_path, monkeypatch):
    package = tmp_path / "root" / "pkg39"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text("X = 39\n")
    monkeypatch.syspath_prepend(str(tmp_path / "root"))
    __import__("pkg39.mod")

    root = str(tmp_path / "root")
    assert sources.where("pkg39.mod") == {"module": "pkg39.mod", "path": root}
    assert sources.where("pkg39")["path"] == root  # a package's __init__ counts one level more
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != root])
    for name in ("pkg39.mod", "pkg39"):
        monkeypatch.delitem(sys.modules, name)
    assert sources.load("pkg39.mod", root, "environment 'x'").X == 39 and root in sys.path


def test_what_cannot_be_found_again_is_one_line_naming_it(tmp_path):
    with pytest.raises(sources.Missing, match=r"critic 'c' needs module 'nope39' \(imported from .* PYTHONPATH"):
        sources.load("nope39", str(tmp_path), "critic 'c'")
    with pytest.raises(sources.Missing, match="was defined by the script /x/train.py"):
        sources.load("__main__", "/x/train.py", "environment 'e'")
    assert sources.is_users("my_envs") and not sources.is_users("jaxac.envs.classic")
