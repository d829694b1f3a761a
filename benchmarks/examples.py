"""Wall time of every script in examples/ at its default budget, each in a fresh process
(process start to exit, the compilation cache as a user has it), and the last line it prints.

    python benchmarks/examples.py        # writes benchmarks/results/examples.md and .json
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import tempfile
import time

import report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    lines = report.header("Examples at their default budgets", report.command())
    lines += ["- each script in a fresh process in an empty directory, default arguments; wall is process",
              "  start to exit, with jax's compilation cache in its default place (as a user runs them)",
              "", "| example | wall s | last line printed |", "|---|---:|---|"]
    rows, data = report.Rows(), []
    for path in sorted(glob.glob(os.path.join(ROOT, "examples", "*.py"))):
        with tempfile.TemporaryDirectory() as cwd:
            start = time.perf_counter()
            done = subprocess.run([sys.executable, path], cwd=cwd, capture_output=True, text=True, check=True)
            wall = time.perf_counter() - start
        last = done.stdout.strip().splitlines()[-1].replace("|", "/")
        rows(f"`examples/{os.path.basename(path)}`", f"{wall:.1f}", last)
        data.append(dict(example=os.path.basename(path), wall_seconds=wall, stdout=done.stdout))
    report.write("examples", lines + rows, data)


if __name__ == "__main__":
    main()
