"""The default test run bounds itself: a test that hangs, or a worker that crashes, fails the
run within a minute or so and names the test (pyproject.toml's pytest settings, run here on
deliberately broken test files with a short timeout)."""

import os
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BROKEN = {
    "hang": "import threading\n\ndef test_waits_forever():\n    threading.Event().wait()\n",
    "crash": "import os, signal\n\ndef test_dies():\n    os.kill(os.getpid(), signal.SIGSEGV)\n",
}
FINE = "import time\n\ndef test_fine():\n    time.sleep(1)\n\ndef test_also_fine():\n    pass\n"


@pytest.mark.parametrize("kind,needle", [("hang", "test_waits_forever"), ("crash", "crashed while running")])
def test_a_hanging_or_crashing_test_fails_the_run_quickly_and_is_named(tmp_path, kind, needle):
    (tmp_path / f"test_{kind}.py").write_text(BROKEN[kind])
    (tmp_path / "test_fine.py").write_text(FINE)
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "pytest", "-c", os.path.join(ROOT, "pyproject.toml"),
                          "--rootdir", str(tmp_path), "-p", "no:cacheprovider", "--timeout", "10", str(tmp_path)],
                         capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert out.returncode != 0 and time.monotonic() - start < 120
    assert needle in out.stdout and f"test_{kind}.py" in out.stdout, out.stdout[-3000:]
