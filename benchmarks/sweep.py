"""Sweeps against sequential runs: throughput, wall time and memory per member.

    python benchmarks/sweep.py              # writes benchmarks/results/sweep.md (about 15 min, 2 cores)
    python benchmarks/sweep.py --quick      # smaller member counts, for a look

Every figure is one process's life, start to exit (`jaxac sweep` / `jaxac train` in a fresh
process), against a compilation cache warmed by an untimed first run of each command, as a
user's default cache would be. Three parts, PPO on CartPole-v1 (its preset):

1. Members: `jaxac sweep` of 1 to 1024 members (4 learning rates x seeds), on one CPU
   device and on one per core; total env steps per second of wall time, peak memory of the
   process (ru_maxrss) and its growth per member; beside it, the same members as sequential
   single-seed `jaxac train` processes (one such process timed, times the member count).
2. 16 seeds in one `jaxac train --seeds 16` against 16 sequential `jaxac train` processes of
   one seed each, all timed, at three budgets per seed.
3. Processes: a 256-member sweep in one process (1 and 2 devices) and in two
   `jax.distributed` processes of one CPU device each (gloo), on this one machine.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

LRS = "optim.learning_rate=1e-4,2.5e-4,1e-3,3e-3"


def timed(args, env=None) -> dict:
    """Runs `python -m jaxac.cli ARGS` to its end: wall seconds and its stdout."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "jaxac.cli", *args], capture_output=True, text=True, env=env,
                         timeout=3600)
    if out.returncode:
        raise RuntimeError(f"{args}: {out.stderr[-1500:]}")
    return {"wall_s": time.perf_counter() - t0, "stdout": out.stdout}


def _rss(args, env=None) -> dict:
    """`timed` with the child's own peak RSS (os.wait4 reaps it and reads its usage)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "jaxac.cli", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"{args} failed (rerun it by hand to see why)")
    return {"wall_s": wall, "rss": usage.ru_maxrss * 1024}


def sweep_args(members: int, steps: int, out: str, devices: int) -> list:
    grid = LRS if members >= 4 else "optim.learning_rate=2.5e-4"
    seeds = members // 4 if members >= 4 else members
    return ["sweep", "ppo", "--env", "CartPole-v1", "--grid", grid, "--seeds", str(seeds), "--total-steps",
            str(steps), "--out", out, "--no-progress", "--devices", str(devices)]


def train_args(seeds: int, steps: int) -> list:
    return ["train", "ppo", "--env", "CartPole-v1", "--seeds", str(seeds), "--total-steps", str(steps),
            "--no-progress"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def main() -> None:
    from jaxac import presets
    import report

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--steps", type=int, default=10_000, help="env steps per member in part 1")
    args = parser.parse_args()
    counts = (1, 8, 64) if args.quick else (1, 8, 64, 256, 1024)
    budgets = (20_000, 100_000) if args.quick else (20_000, 100_000, 300_000)
    cores = os.cpu_count() or 1
    work = tempfile.mkdtemp(prefix="jaxac-sweep-bench-")
    env = {**os.environ, "JAXAC_COMPILE_CACHE": os.path.join(work, "cache")}
    os.makedirs(env["JAXAC_COMPILE_CACHE"], mode=0o700)
    steps = presets.config("ppo", "CartPole-v1", total_steps=args.steps)
    per_member = steps.warmup_steps + steps.num_updates * steps.steps_per_update
    lines = report.header("Sweeps against sequential runs", report.command())
    lines += ["", f"PPO CartPole-v1 (preset), {per_member:,} env steps per member in part 1; wall time is a "
                  f"process's life, start to exit, with a warm compilation cache.", ""]
    data = {"members": [], "budgets": [], "processes": []}

    timed(train_args(1, args.steps), env)  # warm the cache
    single = [_rss(train_args(1, args.steps), env) for _ in range(3)]
    one = statistics.median(r["wall_s"] for r in single)
    lines += ["## 1. Members in one sweep", "",
              f"One single-seed `jaxac train` process: {one:.2f} s (median of 3), peak "
              f"{statistics.median(r['rss'] for r in single) / 2**20:.0f} MiB.", "",
              "| members | devices | wall s | env steps/s | peak MiB | MiB per member | sequential s (est.) | speed-up |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    rows = report.Rows()
    base = {}
    for devices in sorted({1, cores}):
        for n in counts:
            out = os.path.join(work, f"m{n}-d{devices}")
            warm = os.path.join(work, f"warm-m{n}-d{devices}")
            timed(sweep_args(n, 2 * steps.steps_per_update, warm, devices), env)  # same program, tiny run
            r = _rss(sweep_args(n, args.steps, out, devices), env)
            base.setdefault(devices, r["rss"])
            growth = (r["rss"] - base[devices]) / max(n - 1, 1) / 2**20 if n > 1 else float("nan")
            seq = n * one
            rows(n, devices, f"{r['wall_s']:.1f}", f"{n * per_member / r['wall_s']:,.0f}",
                 f"{r['rss'] / 2**20:.0f}", f"{growth:.2f}", f"{seq:,.0f}", f"{seq / r['wall_s']:.1f}x")
            data["members"].append({"members": n, "devices": devices, **r, "sequential_s": seq})
    lines += rows

    lines += ["", "## 2. 16 seeds in one call against 16 sequential runs", "",
              "| env steps per seed | 16 x `train --seeds 1` s | `train --seeds 16` s | speed-up |",
              "|---:|---:|---:|---:|"]
    rows = report.Rows()
    for budget in budgets:
        timed(train_args(1, budget), env)
        timed(train_args(16, budget), env)
        t0 = time.perf_counter()
        for _ in range(16):
            timed(train_args(1, budget), env)
        sequential = time.perf_counter() - t0
        together = timed(train_args(16, budget), env)["wall_s"]
        rows(f"{budget:,}", f"{sequential:.1f}", f"{together:.1f}", f"{sequential / together:.1f}x")
        data["budgets"].append({"steps": budget, "sequential_s": sequential, "together_s": together})
    lines += rows

    lines += ["", "## 3. One process against two", "",
              "| setup | wall s | env steps/s |", "|---|---:|---:|"]
    rows = report.Rows()
    n = 64 if args.quick else 256
    for devices in (1, 2):
        out = os.path.join(work, f"p1-d{devices}")
        wall = timed(sweep_args(n, args.steps, out, devices), env)["wall_s"]
        rows(f"1 process, {devices} CPU device(s)", f"{wall:.1f}", f"{n * per_member / wall:,.0f}")
        data["processes"].append({"processes": 1, "devices": devices, "wall_s": wall})
    for attempt in ("warm", "timed"):
        port, out = free_port(), os.path.join(work, f"p2-{attempt}")
        cpu = {**env, "JAX_PLATFORMS": "cpu"}
        t0 = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-m", "jaxac.cli", *sweep_args(n, args.steps, out, 1),
                                   "--coordinator", f"localhost:{port}", "--num-processes", "2",
                                   "--process-id", str(i)], env=cpu, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE) for i in range(2)]
        for p in procs:
            if p.wait(3600):
                raise RuntimeError(p.stderr.read().decode()[-1500:])
        wall = time.perf_counter() - t0
    rows("2 processes x 1 CPU device (jax.distributed, gloo)", f"{wall:.1f}", f"{n * per_member / wall:,.0f}")
    data["processes"].append({"processes": 2, "devices": 1, "wall_s": wall})
    lines += rows
    lines += ["", f"Members in part 3: {n} ({per_member:,} env steps each)."]
    report.write("sweep" + ("-quick" if args.quick else ""), lines, data)


if __name__ == "__main__":
    main()
