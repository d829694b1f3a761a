"""The code blocks of a Markdown page, as the docs tests run them."""

from __future__ import annotations

import re

SKIP = "<!-- not run:"  # an HTML comment right before a block: it is shown, not executed, and says why


def blocks(text: str, lang: str) -> list[str]:
    """Every ```lang block of `text` in order, except those preceded by a `<!-- not run: why -->` line."""
    found = []
    for match in re.finditer(rf"^```{lang}\n(.*?)^```", text, re.S | re.M):
        before = text[: match.start()].rstrip().splitlines()
        if before and before[-1].strip().startswith(SKIP):
            continue
        found.append(match.group(1))
    return found


def commands(text: str) -> list[str]:
    """`jaxac ...` commands of a page: lines of its bash blocks and inline `...` spans (each
    part of an `a && b` line)."""
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.splitlines():
            found += [part.strip() for part in line.split("  #")[0].split("&&") if part.strip().startswith("jaxac ")]
    for span in re.findall(r"`(jaxac (?:train|eval|resume|plot|sweep|pbt)[^`]*)`", text):
        parts = [part.strip() for part in span.split("&&")]
        # a synopsis ("[--json FILE]", "..."), or a bare name ("`jaxac train pdppo`") is not a command
        found += [p for p in parts if p.startswith("jaxac ") and "[" not in p and "..." not in p
                  and (len(p.split()) > 3 or "--" in p)]
    return found
