"""Every Python block of the README and the user guide runs: a page's blocks in order, in one
fresh process (as a reader pastes them), in an empty directory. A block that is only shown
says why in a `<!-- not run: why -->` line above it."""

import os
import re
import subprocess
import sys

import pytest

from doc_blocks import SKIP, blocks
from test_docs import PAGES, ROOT

CODE_PAGES = [p for p in PAGES if blocks(open(p).read(), "python")]


def test_the_guide_has_code_and_every_skipped_block_says_why():
    assert len(CODE_PAGES) >= 6
    for page in PAGES:
        for line in open(page).read().splitlines():
            if line.strip().startswith(SKIP):
                assert re.match(r"<!-- not run: \S.* -->$", line.strip()), f"{page}: {line}"


@pytest.mark.timeout(900)
@pytest.mark.parametrize("page", [os.path.relpath(p, ROOT) for p in CODE_PAGES])
def test_the_code_blocks_of_a_page_run(page, tmp_path):
    script = tmp_path / "page.py"
    script.write_text("\n".join(blocks(open(os.path.join(ROOT, page)).read(), "python")))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{page}:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
