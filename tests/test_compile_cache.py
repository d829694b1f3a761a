"""The compilation cache cannot crash a run twice: an entry whose load killed a process, or
raised an error, is quarantined and compiled afresh; entries are written atomically; each
device layout has a directory of its own. Each step is a fresh process (jax opens its cache
once per process)."""

import os
import subprocess
import sys
import textwrap

import pytest

from jaxac import compile_cache

PROGRAM = textwrap.dedent("""
    import json, os, sys
    import jax, jax.numpy as jnp
    from jaxac import compile_cache
    path = compile_cache.enable(sys.argv[1])
    if os.environ.get("DIE_LOADING"):  # stands in for a crash inside XLA's deserialiser
        from jax._src import compilation_cache as jc
        jc.decompress_executable = lambda data: os.kill(os.getpid(), 9)
    value = float(jax.jit(lambda x: jnp.tanh(x @ x.T).sum())(jnp.arange(12.0).reshape(3, 4) / 10))
    print(json.dumps(dict(path=path, value=value, **compile_cache.counts())))
""")


def _run(cache, **env):
    import json

    out = subprocess.run([sys.executable, "-c", PROGRAM, str(cache)], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "JAXAC_CPU_DEVICES": "1", **env})
    return out, (json.loads(out.stdout.splitlines()[-1]) if out.returncode == 0 else None)


def test_an_entry_that_killed_its_reader_is_quarantined_and_compiled_afresh(tmp_path):
    cache = tmp_path / "cache"
    out, first = _run(cache)
    assert out.returncode == 0 and first["cache_misses"] >= 1 and first["cache_hits"] == 0, out.stderr
    out, again = _run(cache)
    assert again["cache_hits"] == first["cache_misses"] and again["quarantined"] == 0, out.stderr

    died, _ = _run(cache, DIE_LOADING="1")
    assert died.returncode == -9  # killed while loading its first entry: a marker is left
    directory = first["path"]
    assert len(os.listdir(os.path.join(directory, "reading"))) == 1

    out, after = _run(cache)
    assert out.returncode == 0 and after["quarantined"] == 1, out.stderr
    assert after["cache_hits"] == first["cache_misses"] - 1 and after["value"] == first["value"]
    (key,) = os.listdir(os.path.join(directory, "quarantine"))
    assert "died while loading it" in open(os.path.join(directory, "quarantine", key)).read()
    assert "quarantined" in out.stderr and not os.listdir(os.path.join(directory, "reading"))
    out, later = _run(cache)  # never read again, and not counted twice
    assert later["quarantined"] == 0 and later["cache_hits"] == first["cache_misses"] - 1


def test_an_entry_that_fails_to_load_is_quarantined(tmp_path):
    cache = tmp_path / "cache"
    _, first = _run(cache)
    entries = [f for f in os.listdir(first["path"]) if f.endswith("-cache")]
    for name in entries:
        with open(os.path.join(first["path"], name), "wb") as fh:
            fh.write(b"not an executable")
    out, after = _run(cache)
    assert out.returncode == 0 and after["quarantined"] == len(entries) and after["cache_hits"] == 0, out.stderr
    assert after["value"] == first["value"]
    reasons = {open(os.path.join(first["path"], "quarantine", k)).read().strip()
               for k in os.listdir(os.path.join(first["path"], "quarantine"))}
    assert reasons == {"loading it raised an error"}


def test_entries_are_written_whole_and_layouts_do_not_share_a_directory(tmp_path):
    cache = tmp_path / "cache"
    _, one = _run(cache)
    _, two = _run(cache, JAXAC_CPU_DEVICES="2")
    assert one["path"] != two["path"] and "cpu1" in one["path"] and "cpu2" in two["path"]
    assert two["cache_hits"] == 0  # executables of another device count are never offered
    assert not [f for f in os.listdir(one["path"]) if f.endswith(".tmp")]
    assert os.stat(one["path"]).st_mode & 0o777 == 0o700


@pytest.mark.parametrize("setting", ["off", ""])
def test_off_turns_the_cache_off(setting, monkeypatch):
    monkeypatch.setenv(compile_cache.ENV, setting)
    assert compile_cache.resolve() is None
