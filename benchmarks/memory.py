"""Resident memory and speed of a long CPU run under malloc settings (jaxac.memory).

    python benchmarks/memory.py --settings glibc jaxac --minutes 8 30    # the figures in docs/benchmarks/runs.md
    python benchmarks/memory.py --minutes 5 --name memory_screen          # every setting, 5 minutes

Each setting trains PPO with the brax halfcheetah preset, 4 seeds split over the default CPU
devices (2 on a 2-core machine), as `jaxac train --out` does, in a process of its own started
with that setting's environment, for `--minutes` of training (compilation excluded; the
compilation cache is shared, so only the first setting compiles from scratch). The process
samples its resident memory (VmRSS) every 5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# setting -> (environment of the process, what jaxac.memory does in it)
SETTINGS = {
    "glibc": ({"JAXAC_MALLOC": "off"}, "glibc's defaults (up to 8 arenas per core)"),
    "jaxac": ({}, "jaxac's default: jaxac.memory.tune_malloc(), one arena per core"),
    "arenas1": ({"MALLOC_ARENA_MAX": "1"}, "MALLOC_ARENA_MAX=1"),
    "arenas2": ({"MALLOC_ARENA_MAX": "2"}, "MALLOC_ARENA_MAX=2"),
    "arenas4": ({"MALLOC_ARENA_MAX": "4"}, "MALLOC_ARENA_MAX=4"),
    "thresholds": ({"JAXAC_MALLOC": "off", "MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072"},
                   "fixed mmap and trim thresholds of 128 KiB"),
    "one-device": ({"JAXAC_MALLOC": "off", "JAXAC_BENCH_DEVICES": "1"}, "glibc's defaults, one CPU device"),
}


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(env_name: str, seeds: int, minutes: float, out: str) -> None:
    """Trains as `jaxac train` does (run directory, default chunks and checkpoints) and prints a
    JSON line every 5 s: seconds of training, env steps over all seeds so far, resident MB."""
    import tempfile
    import threading

    from jaxac import memory, parallel

    memory.tune_malloc()  # does nothing under JAXAC_MALLOC=off or a MALLOC_ARENA_MAX of the setting's
    devices = int(os.environ.get("JAXAC_BENCH_DEVICES", 0)) or parallel.default_cpu_devices(seeds)
    parallel.use_cpu_devices(devices)
    import jaxac

    cfg = jaxac.presets.config("ppo", env_name)
    run_dir = tempfile.mkdtemp(prefix="jaxac-memory-", dir=out)
    session = jaxac.Session("ppo", cfg, seeds=seeds, out=os.path.join(run_dir, "run"), eval_episodes=0)
    session.compile()
    print(json.dumps({"compile_s": session.compile_seconds, "devices": len(session.devices_used),
                      "chunk_updates": session._runner.chunk_updates}), flush=True)
    t0, steps, done = time.perf_counter(), [0], threading.Event()

    def sample():
        while not done.wait(5.0):
            print(json.dumps({"t": time.perf_counter() - t0, "steps": steps[0], "rss_mb": rss_mb()}), flush=True)

    def on_chunk(p):
        steps[0] = seeds * (p.env_steps - cfg.warmup_steps)
        print(json.dumps({"chunk_t": time.perf_counter() - t0, "steps": steps[0]}), flush=True)

    threading.Thread(target=sample, daemon=True).start()
    session.run(on_chunk=on_chunk, stop=lambda: time.perf_counter() - t0 > 60 * minutes, catch_interrupt=False)
    done.set()
    import shutil

    shutil.rmtree(run_dir, ignore_errors=True)


def measure(setting: str, env_name: str, seeds: int, minutes: float) -> dict:
    extra, _ = SETTINGS[setting]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(extra)
    proc = subprocess.run([sys.executable, __file__, "--child", "--env", env_name, "--seeds", str(seeds),
                           "--minutes", str(minutes)], env=env, capture_output=True, text=True,
                          timeout=60 * minutes + 1800)
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    samples = [x for x in lines if "rss_mb" in x]
    chunks = [x for x in lines if "chunk_t" in x]
    if proc.returncode != 0 or len(samples) < 3 or len(chunks) < 2:
        return {"setting": setting, "error": (proc.stderr or proc.stdout)[-500:], "returncode": proc.returncode}
    head = lines[0]
    # resident memory swings with the buffers of a chunk: compare the peaks of windows
    early = max(x["rss_mb"] for x in samples if 60 <= x["t"] <= 180) if samples[-1]["t"] > 180 else samples[-1]["rss_mb"]
    late = max(x["rss_mb"] for x in samples if x["t"] >= samples[-1]["t"] - 120)
    after = [c for c in chunks if c["chunk_t"] >= 60] or chunks
    first, last = (after[0], after[-1]) if len(after) > 1 else (chunks[0], chunks[-1])
    return {
        "setting": setting, "devices": head["devices"], "compile_s": head["compile_s"],
        "chunk_updates": head["chunk_updates"], "rss_first_minutes_mb": early, "rss_end_mb": late,
        "growth": late / early - 1, "minutes": samples[-1]["t"] / 60,
        "steps_per_s": (last["steps"] - first["steps"]) / max(last["chunk_t"] - first["chunk_t"], 1e-9),
        "samples": [(round(x["t"]), round(x["rss_mb"])) for x in samples],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--env", default="brax/halfcheetah")
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--minutes", type=float, nargs="+", default=[5.0],
                   help="training minutes: one value for every setting, or one per setting")
    p.add_argument("--settings", nargs="+", default=["glibc", "jaxac", "arenas1", "arenas2", "arenas4",
                                                     "thresholds", "one-device"], choices=list(SETTINGS))
    p.add_argument("--name", default="memory", help="results file name under benchmarks/results")
    p.add_argument("--out", default=None, help="where the run directories go (a temporary one, removed)")
    args = p.parse_args()
    if args.child:
        child(args.env, args.seeds, args.minutes[0], args.out)
        return
    import report

    results = []
    rows = report.Rows()
    rows("setting", "devices", "peak RSS, minutes 1-3 (MB)", "peak RSS, last 2 minutes (MB)", "growth", "minutes",
         "env steps/s (all seeds)", "compile s")
    rows(*["---"] * 8)
    minutes = args.minutes * len(args.settings) if len(args.minutes) == 1 else args.minutes
    if len(minutes) != len(args.settings):
        p.error("--minutes takes one value, or one per setting")
    for setting, budget in zip(args.settings, minutes):
        r = measure(setting, args.env, args.seeds, budget)
        results.append(r)
        if "error" in r:
            rows(SETTINGS[setting][1], f"failed ({r['returncode']}): {r['error'][-120:]!r}", *[""] * 6)
            continue
        rows(SETTINGS[setting][1], r["devices"], f"{r['rss_first_minutes_mb']:,.0f}", f"{r['rss_end_mb']:,.0f}",
             f"{100 * r['growth']:+.1f}%", f"{r['minutes']:.1f}", f"{r['steps_per_s']:,.0f}", f"{r['compile_s']:.1f}")
    lines = report.header(f"Resident memory of a long CPU run: PPO {args.env}, {args.seeds} seeds", report.command())
    lines += ["- each setting in a process of its own, training as `jaxac train` does (run directory,",
              "  TensorBoard, checkpoints, the default chunks); resident memory (VmRSS) sampled every 5 s.",
              "  It swings with a chunk's buffers, so growth compares peaks: minutes 1-3 against the last 2;",
              "  env steps/s over all seeds between the first chunk after one minute and the last.", ""]
    report.write(args.name, lines + rows, results)


if __name__ == "__main__":
    main()
