"""Runs that survive schedulers, full disks, damaged files and careless input: SIGTERM,
a second signal, the run-directory lock, checkpoint fallback, write errors, a finished
run's resume, input checked before compiling, and the compilation cache."""

import errno
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import jaxac
from jaxac import checkpoint, cli, compile_cache, runlock, session as session_module
from jaxac.algos import ppo

HERE = os.path.dirname(os.path.abspath(__file__))
# 160 updates of 4 envs x 16 steps in chunks of 4, a checkpoint after every chunk
LONG = ["train", "ppo", "--env", "CartPole-v1", "--seeds", "2", "--total-steps", str(4 * 16 * 160),
        "--num-envs", "4", "--rollout-length", "16", "--policy.hidden", "16", "--checkpoint-every", "1",
        "--chunk-updates", "4", "--no-progress"]
SMALL = ppo.Config(env="CartPole-v1", total_steps=4 * 16 * 12, num_envs=4, rollout_length=16, update_epochs=1,
                   num_minibatches=2, policy=dict(hidden=(16,)))


def run_cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "jaxac.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=HERE)


def popen(*args):
    return subprocess.Popen([sys.executable, "-m", "jaxac.cli", *args], text=True, cwd=HERE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_checkpoint_after(ckpts, step, proc, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        found = checkpoint.steps(str(ckpts))
        if found and found[-1] > step:
            return found[-1]
        time.sleep(0.02)
    raise AssertionError("the run finished (or hung) before a new checkpoint appeared")


def one_line(text):
    return "Traceback" not in text and len(text.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The uninterrupted run every interrupted one must equal."""
    run = tmp_path_factory.mktemp("rel") / "straight"
    out = run_cli(*LONG, "--out", str(run))
    assert out.returncode == 0, out.stderr
    return run


@pytest.fixture(scope="module")
def stopped(tmp_path_factory):
    """A run stopped by SIGTERM after its third checkpoint: (directory, exit status, seconds
    from the signal to the exit, stdout)."""
    run = tmp_path_factory.mktemp("rel") / "stopped"
    proc = popen(*LONG, "--out", str(run))
    wait_for_checkpoint_after(run / "checkpoints", 8, proc)
    t0 = time.time()
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    return run, proc.returncode, time.time() - t0, stdout, stderr


def copy_of(run, tmp_path, name="copy"):
    target = tmp_path / name
    shutil.copytree(run, target)
    return target


def test_sigterm_saves_exits_and_resume_equals_an_uninterrupted_run(stopped, straight, tmp_path):
    run, status, seconds, stdout, stderr = stopped
    assert status == 143 and seconds < 60, stderr
    assert "stopped by SIGTERM at update" in stdout and f"resume with: jaxac resume {run}" in stdout
    last = checkpoint.latest_step(str(run / "checkpoints"))
    assert 12 <= last < 160 and f"at update {last} of 160" in stdout  # saved where it stopped
    resumed = copy_of(run, tmp_path)
    out = run_cli("resume", str(resumed), "--no-progress")
    assert out.returncode == 0, out.stderr
    assert (resumed / "metrics.csv").read_text() == (straight / "metrics.csv").read_text()


def test_a_second_signal_exits_at_once_without_saving(stopped, tmp_path):
    run = copy_of(stopped[0], tmp_path)
    proc = popen("resume", str(run), "--no-progress")
    first = wait_for_checkpoint_after(run / "checkpoints", checkpoint.latest_step(str(run / "checkpoints")), proc)
    t0 = time.time()
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    # sent back to back, both may be pending when the process next runs, and the kernel then
    # delivers the lower-numbered SIGINT first: the second one is whichever came second
    second = re.search(r"second signal \((SIGINT|SIGTERM)\): exiting without saving", stderr)
    assert second and "Traceback" not in stderr, stderr
    assert proc.returncode == 128 + getattr(signal, second.group(1)) and time.time() - t0 < 30, stderr
    assert checkpoint.latest_step(str(run / "checkpoints")) >= first


def test_a_signal_while_compiling_exits_with_one_line(tmp_path):
    run = tmp_path / "run"
    proc = popen(*LONG, "--out", str(run), "--compile-cache", "off")
    assert proc.stdout.readline().startswith("compiling ppo")
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "compiled in" not in stdout, stdout
    assert "SIGINT: stopped while compiling" in stderr and one_line(stderr), stderr
    assert not (run / "config.json").exists()


def _damage(step_dir, how):
    state = [os.path.join(d, f) for d, _, fs in os.walk(step_dir / "state") for f in fs]
    biggest = max(state, key=os.path.getsize)
    if how == "truncated":
        with open(biggest, "r+b") as fh:
            fh.truncate(os.path.getsize(biggest) // 2)
    elif how == "flipped":  # one bit in the middle of every array data file
        for path in (p for p in state if os.path.basename(os.path.dirname(p)) == "d"):
            data = bytearray(open(path, "rb").read())
            data[len(data) // 2] ^= 1
            open(path, "wb").write(bytes(data))
    else:  # the metadata jaxac records beside the state
        os.remove(step_dir / "meta" / "metadata")


@pytest.mark.parametrize("how", ["truncated", "flipped", "missing_metadata"])
def test_resume_falls_back_from_a_damaged_newest_checkpoint(stopped, straight, tmp_path, how):
    run = copy_of(stopped[0], tmp_path)
    newest, older = checkpoint.steps(str(run / "checkpoints"))[::-1][:2]
    _damage(run / "checkpoints" / str(newest), how)
    out = run_cli("resume", str(run), "--no-progress")
    assert out.returncode == 0, out.stderr
    assert f"checkpoint {newest} is damaged: set aside" in out.stdout
    assert f"resuming at update {older} of 160" in out.stdout
    assert (run / "checkpoints-set-aside" / f"{newest}-damaged").is_dir()  # kept, never deleted
    assert (run / "metrics.csv").read_text() == (straight / "metrics.csv").read_text()


def test_eval_falls_back_and_a_damaged_choice_lists_the_intact_ones(stopped, tmp_path):
    run = copy_of(stopped[0], tmp_path)
    newest, older, oldest = checkpoint.steps(str(run / "checkpoints"))[::-1][:3]
    _damage(run / "checkpoints" / str(newest), "flipped")
    before = sorted(os.listdir(run / "checkpoints"))
    out = run_cli("eval", str(run), "--episodes", "1")
    assert out.returncode == 0, out.stderr
    assert f"checkpoint {newest} in" in out.stderr and "trying the one before it" in out.stderr
    assert one_line(out.stderr), out.stderr  # no orbax or tensorstore noise after the message
    assert f"checkpoint at update {older}" in out.stdout
    out = run_cli("eval", str(run), "--episodes", "1", "--checkpoint", str(newest))
    assert out.returncode == 2 and one_line(out.stderr), out.stderr
    assert f"intact: {oldest}, {older} (choose one with --checkpoint N)" in out.stderr
    assert sorted(os.listdir(run / "checkpoints")) == before  # eval only reads


def test_resume_from_an_older_checkpoint_sets_the_newer_ones_aside(stopped, straight, tmp_path):
    run = copy_of(stopped[0], tmp_path)
    newest, older = checkpoint.steps(str(run / "checkpoints"))[::-1][:2]
    out = run_cli("resume", str(run), "--no-progress", "--checkpoint", str(older))
    assert out.returncode == 0, out.stderr
    assert f"checkpoint {newest} is newer than the one asked for: set aside" in out.stdout
    assert (run / "checkpoints-set-aside" / f"{newest}-after-{older}").is_dir()
    assert (run / "metrics.csv").read_text() == (straight / "metrics.csv").read_text()


def _snapshot(run):
    return {os.path.relpath(os.path.join(d, f), run): (open(os.path.join(d, f), "rb").read(),
                                                        os.stat(os.path.join(d, f)).st_mtime_ns)
            for d, _, fs in os.walk(run) for f in fs}


def test_resume_of_a_finished_run_changes_no_file(straight):
    before = _snapshot(straight)
    out = run_cli("resume", str(straight))
    assert out.returncode == 0 and "is finished (update 160 of 160): nothing to do" in out.stdout, out.stderr
    assert "compil" not in out.stdout
    assert _snapshot(straight) == before


def test_a_finished_run_whose_last_checkpoint_is_damaged_resumes_from_the_one_before(straight, tmp_path):
    run = copy_of(straight, tmp_path)
    newest, older = checkpoint.steps(str(run / "checkpoints"))[::-1][:2]
    _damage(run / "checkpoints" / str(newest), "flipped")
    out = run_cli("resume", str(run), "--no-progress")
    assert out.returncode == 0 and "is finished" not in out.stdout, out.stderr
    assert f"checkpoint {newest} is damaged: set aside" in out.stdout
    assert f"resuming at update {older} of 160" in out.stdout
    assert (run / "metrics.csv").read_text() == (straight / "metrics.csv").read_text()


def test_a_second_writer_is_refused_at_once_and_the_first_ends_normally(tmp_path):
    run = tmp_path / "run"
    first = jaxac.Session("ppo", SMALL, seeds=2, out=str(run), eval_episodes=0)
    t0 = time.time()
    out = run_cli("train", "ppo", "--out", str(run), "--total-steps", "1024")
    assert out.returncode == 2 and one_line(out.stderr) and time.time() - t0 < 60, out.stderr
    assert f"is in use by jaxac process {os.getpid()}" in out.stderr and "compiling" not in out.stdout
    with pytest.raises(runlock.RunLocked, match=str(os.getpid())):
        jaxac.Session("ppo", SMALL, out=str(run))
    result = first.run()
    assert result.updates == SMALL.num_updates and not result.interrupted
    runlock.acquire(str(run)).release()  # released at the end of the run


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path):
    (tmp_path / runlock.LOCK_FILE).write_text('{"pid": 999999999, "host": "elsewhere"}')
    lock = runlock.acquire(str(tmp_path))
    assert runlock.holder(str(tmp_path))["pid"] == os.getpid()
    with pytest.raises(runlock.RunLocked, match=f"process {os.getpid()}"):
        runlock.acquire(str(tmp_path))  # another open file description, even in this process
    lock.release()
    runlock.acquire(str(tmp_path)).release()


# ---- write errors (injected where the operating system would raise them) -------------------


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    run = tmp_path_factory.mktemp("rel") / "whole"
    jaxac.Session("ppo", SMALL, seeds=2, out=str(run), chunk_updates=2, checkpoint_every=1, eval_episodes=0).run()
    return run


def _full_disk_after(monkeypatch, cls, method, calls, error):
    """`cls.method` raises `error(self)` from its `calls`-th call on."""
    original, seen = getattr(cls, method), []

    def failing(self, *args, **kwargs):
        seen.append(1)
        if len(seen) >= calls:
            raise error(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, method, failing)


def _finish_and_compare(run, whole):
    result = jaxac.Session.resume(str(run), eval_episodes=0).run()
    assert result.updates == SMALL.num_updates
    assert (run / "metrics.csv").read_text() == (whole / "metrics.csv").read_text()


def test_a_full_disk_while_writing_tensorboard_ends_the_run_with_one_line(whole, tmp_path, monkeypatch):
    from tensorboardX.record_writer import RecordWriter

    run = tmp_path / "run"
    no_space = lambda writer: OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(run / "tb" / "events"))
    with monkeypatch.context() as patch:
        _full_disk_after(patch, RecordWriter, "write", 60, no_space)  # a few chunks in
        t0 = time.time()
        with pytest.raises(session_module.WriteError) as err:
            jaxac.Session("ppo", SMALL, seeds=2, out=str(run), chunk_updates=2, checkpoint_every=1,
                          eval_episodes=0).run()
        assert time.time() - t0 < 30
    assert one_line(str(err.value)) and f"could not write {run / 'tb'}" in str(err.value)
    assert "No space left on device" in str(err.value)
    assert checkpoint.steps(str(run / "checkpoints"))  # the earlier checkpoints are intact
    _finish_and_compare(run, whole)


def test_a_full_disk_while_checkpointing_ends_the_run_with_one_line(whole, tmp_path, monkeypatch, capsys):
    import orbax.checkpoint as ocp

    run = tmp_path / "run"
    # what tensorstore raises on ENOSPC, through orbax's background threads
    message = ("RESOURCE_EXHAUSTED: Error writing \"state/0\" in OCDBT database: Failed to write 9000 bytes "
               "to file 5: No space left on device [os_error_code='28']")
    with monkeypatch.context() as patch:
        _full_disk_after(patch, ocp.CheckpointManager, "save", 3, lambda _: ValueError(message))
        run_session = jaxac.Session("ppo", SMALL, seeds=2, out=str(run), chunk_updates=2, checkpoint_every=1,
                                    eval_episodes=0)
        assert cli._execute(run_session, no_progress=True) == 4
    err = capsys.readouterr().err
    assert one_line(err) and "checkpoint 6 could not be written to" in err and "No space left on device" in err
    assert checkpoint.steps(str(run / "checkpoints")) == [2, 4]  # intact, and no half-written one
    assert not [n for n in os.listdir(run / "checkpoints") if "tmp" in n]
    _finish_and_compare(run, whole)


def _tiny_tmpfs(path):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    path.mkdir()
    return subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def test_a_really_full_disk_ends_the_cli_run_with_one_line_and_resume_finishes_it(straight, tmp_path):
    """A 256 KiB tmpfs (where the test may mount one): no injected error, orbax and all; then
    the disk grows (space freed) and the run is resumed to the end."""
    disk = tmp_path / "disk"
    if not _tiny_tmpfs(disk):
        pytest.skip("mounting a tmpfs needs root")
    try:
        t0 = time.time()
        out = run_cli(*LONG, "--out", str(disk / "run"), timeout=120)
        assert out.returncode == 4 and time.time() - t0 < 90, out.stderr
        assert one_line(out.stderr) and "No space left on device" in out.stderr, out.stderr
        assert checkpoint.steps(str(disk / "run" / "checkpoints"))  # the earlier ones are intact
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        out = run_cli("resume", str(disk / "run"), "--no-progress")
        assert out.returncode == 0, out.stderr
        assert (disk / "run" / "metrics.csv").read_text() == (straight / "metrics.csv").read_text()
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


# ---- input: one line, before compiling ------------------------------------------------------


@pytest.mark.parametrize("args,needle", [
    (["--env-kwarg", "max_steps=-5"], "max_steps=-5 is invalid: use an integer >= 1"),
    (["--env-kwarg", "max_steps=abc"], "max_steps='abc' is invalid: use an integer"),
    (["--env-kwarg", "gravity=[1, 2]"], "gravity=[1, 2] is invalid: use a finite number"),
    (["--env-kwarg", "max_step=9"], "did you mean max_steps"),
    (["--env", "Pendulum-v1", "--env-kwarg", "max_speed=True"], "max_speed=True is invalid"),
])
def test_bad_env_kwargs_are_one_line_before_compiling(capsys, args, needle):
    assert cli.main(["train", "ppo", *args]) == 2
    captured = capsys.readouterr()
    assert needle in captured.err and one_line(captured.err), captured.err
    assert "compiling" not in captured.out


@pytest.mark.parametrize("args,needle", [
    (["--total-steps", "abc"], "argument --total-steps: invalid integer value: 'abc'"),
    (["--total-steps", "1.5"], "invalid integer value: '1.5'"),
    (["--optim.lerning-rate", "1e-3"], "did you mean --optim.learning-rate"),
    (["--num-env", "8"], "did you mean --num-envs"),
])
def test_bad_flags_are_one_line(capsys, args, needle):
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "ppo", *args])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and needle in err and one_line(err), err


def test_integer_flags_take_whole_numbers_in_float_notation():
    args = cli.parse_args(["train", "ppo", "--total-steps", "1e5", "--seeds", "8.0", "--num-envs", "1_024"])
    assert (args.total_steps, args.seeds, args.num_envs) == (100_000, 8, 1024)


@pytest.mark.parametrize("kwargs,needle", [
    (dict(obs={"normalize": "False"}), "obs.normalize='False' is invalid: use True or False"),
    (dict(optim={"learning_rate": "3e-4"}), "optim.learning_rate='3e-4' is invalid: use a number"),
    (dict(total_steps=1e5), "total_steps=100000.0 is invalid: use an integer"),
    (dict(clip_value_loss=1), "clip_value_loss=1 is invalid: use True or False"),
    (dict(optim={"max_grad_norm": "none"}), "optim.max_grad_norm='none' is invalid"),
    (dict(env_kwargs=(("max_steps", -5),)), "max_steps=-5 is invalid"),
])
def test_config_fields_are_type_checked_at_construction(kwargs, needle):
    with pytest.raises(jaxac.ConfigError, match=needle.replace("[", r"\[").replace("(", r"\(")):
        ppo.Config(**kwargs)


# ---- the compilation cache -----------------------------------------------------------------


def test_the_compilation_cache_is_private_and_reused_by_the_next_process(tmp_path):
    cache = tmp_path / "cache"
    args = ["train", "ppo", "--total-steps", "1024", "--rollout-length", "64", "--policy.hidden", "8",
            "--no-progress", "--eval-episodes", "0", "--compile-cache", str(cache)]
    first, second = run_cli(*args), run_cli(*args)
    assert first.returncode == 0 and "(cached: no)" in first.stdout, first.stderr
    assert second.returncode == 0 and "(cached: yes)" in second.stdout, second.stderr
    assert os.stat(cache).st_mode & 0o777 == 0o700 and os.listdir(cache)
    off = run_cli(*args[:-1], "off")
    assert off.returncode == 0 and "cached" not in off.stdout


def test_a_cache_directory_others_can_write_is_refused(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    assert "can be written by other users" in compile_cache.private_dir(str(shared))
    assert compile_cache.private_dir(str(tmp_path / "new")) is None
    assert os.stat(tmp_path / "new").st_mode & 0o777 == 0o700
    monkeypatch.setenv(compile_cache.ENV, "off")
    assert compile_cache.resolve() is None and compile_cache.resolve(str(shared)) == str(shared)
    monkeypatch.delenv(compile_cache.ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert compile_cache.resolve() == str(tmp_path / "xdg" / "jaxac" / "compile")


# ---- the signal watcher itself ---------------------------------------------------------------

WATCHER = """
import os, signal, threading, time
from jaxac import signals
flag = threading.Event()
with signals.stop_on_signals(flag, "bye") as caught:
    os.kill(os.getpid(), signal.SIGTERM)
    assert flag.wait(10)
    print("first", caught.signum, flush=True)
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(30)
print("not reached")
"""


BETWEEN_PHASES = """
import os, signal, sys
from jaxac import cli, session
start = session.Session.start_update  # read right after compiling, before the first chunk
session.Session.start_update = property(lambda self: (os.kill(os.getpid(), signal.SIGTERM), start.fget(self))[1])
sys.exit(cli.main(["train", "ppo", "--total-steps", "1024", "--policy.hidden", "8", "--no-progress"]))
"""


def test_a_sigterm_between_compiling_and_the_first_chunk_says_one_line():
    out = subprocess.run([sys.executable, "-c", BETWEEN_PHASES], capture_output=True, text=True, timeout=300)
    assert out.returncode == 143, out.stderr[-2000:]
    err = "\n".join(line for line in out.stderr.splitlines() if not line.startswith("jaxac: note:"))
    assert "jaxac: stopped by SIGTERM outside training: nothing to save" in err and one_line(err)


def test_the_first_signal_sets_the_flag_and_the_second_exits():
    out = subprocess.run([sys.executable, "-c", WATCHER], capture_output=True, text=True, timeout=60)
    assert out.returncode == 130 and out.stdout == f"first {int(signal.SIGTERM)}\n", out.stderr
    assert "second signal (SIGINT): bye" in out.stderr and "Traceback" not in out.stderr


# ---- malloc arenas ---------------------------------------------------------------------------


@pytest.mark.parametrize("env,expected", [({}, "True"), ({"JAXAC_MALLOC": "off"}, "False"),
                                          ({"MALLOC_ARENA_MAX": "3"}, "False")])
def test_malloc_arenas_are_capped_unless_turned_off_or_set_by_the_user(env, expected):
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("only glibc's malloc is tuned")
    clean = {k: v for k, v in os.environ.items() if k not in ("JAXAC_MALLOC", "MALLOC_ARENA_MAX")}
    code = "from jaxac import memory; print(memory.tune_malloc())"
    out = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.strip() == expected, out.stderr
