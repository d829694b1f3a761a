"""Every script in examples/ runs to the end at its tiny budget (`--tiny`), and the custom
environment's factory trains from the CLI as `--env examples.custom_env:make_reach` from the
repository root."""

import glob
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "examples", "*.py")))


def test_there_are_examples():
    assert len(EXAMPLES) >= 6


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", EXAMPLES)
def test_an_example_runs_at_its_tiny_budget(name, tmp_path):
    done = subprocess.run([sys.executable, os.path.join(ROOT, "examples", name), "--tiny"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=500)
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    assert done.stdout.strip(), "an example reports what it did"


@pytest.mark.timeout(300)
def test_a_factory_in_the_working_directory_trains_from_the_cli(tmp_path):
    jaxac = os.path.join(os.path.dirname(sys.executable), "jaxac")
    done = subprocess.run([jaxac, "train", "ppo", "--env", "examples.custom_env:make_reach", "--seeds", "2",
                           "--total-steps", "4096", "--no-progress", "--out", str(tmp_path / "run")],
                          cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert os.path.exists(tmp_path / "run" / "config.json")
