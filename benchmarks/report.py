"""What every benchmark's results file starts with, and its table rows.

    lines = report.header("Throughput", report.command())   # title, command, machine, versions, date
    rows = report.Rows(); rows("| a | b |")                 # kept and echoed as it is measured
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from typing import Any, List, Optional

import jax

from jaxac.logging import versions


def command(script: str = "") -> str:
    """The command line that produced a results file (this process's, by default)."""
    script = script or sys.argv[0]
    return f"python benchmarks/{os.path.basename(script)} {' '.join(sys.argv[1:])}".rstrip()


def header(title: str, *commands: str) -> List[str]:
    """A results file's title and the facts that make it reproducible."""
    cmds = "; ".join(f"`{c}`" for c in commands)
    return [
        f"# {title}",
        "",
        f"- command{'s' if len(commands) > 1 else ''}: {cmds}",
        f"- machine: {platform.platform()}, {os.cpu_count()} CPU cores, backend {jax.default_backend()}",
        f"- versions: {versions()}",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
    ]


class Rows(list):
    """Table rows of a results file, each echoed when added (a long benchmark shows progress)."""

    def __call__(self, *cells) -> None:
        self.append("| " + " | ".join(str(c) for c in cells) + " |")
        print(self[-1], flush=True)


def write(name: str, lines: List[str], data: Optional[Any] = None) -> str:
    """Writes benchmarks/results/NAME.md (the lines) and, with `data`, NAME.json; returns the stem."""
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", name)
    with open(out + ".md", "w") as fh:
        fh.write("\n".join(lines) + "\n")
    if data is not None:
        with open(out + ".json", "w") as fh:
            json.dump(data, fh, indent=1)
    print(f"wrote {out}.md", flush=True)
    return out
