"""Learning curves over seeds and summary statistics, from metrics or run directories.

    jaxac plot runs/ppo runs/a2c -o curves.png      # CLI
    jaxac.plot.plot_runs(["runs/ppo", "runs/a2c"], "curves.png")

A curve is the return of the training episodes that ended in each of `points` equal windows
of updates (per seed: the mean over those episodes), drawn as the mean over seeds with a 95%
percentile-bootstrap band. Runs still in progress (or killed) plot up to their last written
metrics. Summaries: final return (episodes in the last 5% of the run) as mean, 95% bootstrap
interval and interquartile mean over seeds (IQM, as recommended by Agarwal et al. 2021,
"Deep RL at the edge of the statistical precipice").

Plotting needs matplotlib (`pip install 'jaxac[plot]'`); the statistics need only numpy.
"""

from __future__ import annotations

import csv
import os
import warnings
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from jaxac.summary import episode_mean, final_return


def bootstrap_ci(x: np.ndarray, reps: int = 10_000, seed: int = 0) -> Tuple[float, float]:
    """95% percentile-bootstrap interval of the mean of `x` [S] (NaNs dropped; NaN if < 2)."""
    x = np.asarray(x, np.float64)
    x = x[np.isfinite(x)]
    if len(x) < 2:
        return float("nan"), float("nan")
    means = np.random.default_rng(seed).choice(x, (reps, len(x))).mean(1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def iqm(x: np.ndarray) -> float:
    """Interquartile mean of `x` [S]: the mean of the middle 50% (NaNs dropped)."""
    x = np.sort(np.asarray(x, np.float64)[np.isfinite(x)])
    if not len(x):
        return float("nan")
    lo, hi = int(np.floor(0.25 * len(x))), int(np.ceil(0.75 * len(x)))
    return float(x[lo:max(hi, lo + 1)].mean())


def band(y: np.ndarray, reps: int = 2_000, seed: int = 0) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, low, high) [P] over seeds of `y` [S, P]: the mean and its 95% percentile-bootstrap
    band at each point, over the seeds that have a value there (a single seed: no band)."""
    y = np.asarray(y, np.float64)
    idx = np.random.default_rng(seed).integers(0, y.shape[0], (reps, y.shape[0]))
    with warnings.catch_warnings():  # all-NaN columns (no seed has an episode there) stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(y, 0)
        means = np.nanmean(y[idx], 1)  # [reps, P]
        low, high = np.nanpercentile(means, 2.5, 0), np.nanpercentile(means, 97.5, 0)
    single = np.isfinite(y).sum(0) < 2
    return mean, np.where(single, mean, low), np.where(single, mean, high)


def curve(metrics: Dict[str, np.ndarray], steps: np.ndarray, points: int = 50) -> Tuple[np.ndarray, np.ndarray]:
    """(env steps [P], per-seed mean return of the episodes ending in each window [S, P]).

    Args:
      metrics: `episode_return` and `episodes`, [S, U].
      steps: [U] env steps per seed at the end of each update.
      points: windows of updates (fewer if there are fewer updates).
    """
    ret, count = metrics["episode_return"], metrics["episodes"]
    n = np.shape(ret)[-1]
    edges = np.unique(np.linspace(0, n, min(points, n) + 1).astype(int))
    per_window = np.stack([episode_mean(np.asarray(ret)[:, a:b], np.asarray(count)[:, a:b])
                           for a, b in zip(edges[:-1], edges[1:])], axis=1)
    return np.asarray(steps)[edges[1:] - 1], per_window


class RunMetrics(NamedTuple):
    """One run's metrics as read from its metrics.csv, for plotting."""

    name: str
    steps: np.ndarray  # [U] env steps per seed
    metrics: Dict[str, np.ndarray]  # [S, U] each


def read_metrics_csv(path: str) -> RunMetrics:
    """A `metrics.csv` as arrays [seeds, updates] (the updates every seed has written)."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ValueError(f"{path} has no rows yet")
    seeds = sorted({int(r["seed"]) for r in rows})
    by_seed = {s: [r for r in rows if int(r["seed"]) == s] for s in seeds}
    n = min(len(v) for v in by_seed.values())
    names = [k for k in rows[0] if k not in ("seed", "update", "step")]
    metrics = {k: np.array([[float(r[k]) if r[k] not in ("", "nan") else np.nan for r in by_seed[s][:n]]
                            for s in seeds]) for k in names}
    steps = np.array([int(r["step"]) for r in by_seed[seeds[0]][:n]])
    return RunMetrics(os.path.basename(os.path.dirname(os.path.abspath(path))), steps, metrics)


def load_run(run_dir: str) -> RunMetrics:
    """The metrics of a run directory (`run_dir/metrics.csv`), named after the directory."""
    path = os.path.join(run_dir, "metrics.csv")
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"{run_dir} does not exist" if not os.path.exists(run_dir)
                                else f"{run_dir} is a file, not a run directory")
    if not os.path.exists(path):
        if not os.path.exists(os.path.join(run_dir, "config.json")):
            raise FileNotFoundError(f"{run_dir} is not a jaxac run directory (no config.json or metrics.csv)")
        raise FileNotFoundError(f"{run_dir} has no metrics.csv yet: a run writes it at its first checkpoint")
    return read_metrics_csv(path)._replace(name=os.path.basename(os.path.normpath(run_dir)))


def summary(run: RunMetrics) -> Dict[str, float]:
    """Final return over seeds: mean, 95% bootstrap interval, IQM, number of seeds."""
    finals = final_return(run.metrics)
    lo, hi = bootstrap_ci(finals)
    return {"seeds": int(finals.shape[0]), "final_mean": float(np.nanmean(finals)),
            "ci_low": lo, "ci_high": hi, "iqm": iqm(finals), "env_steps": int(run.steps[-1])}


def summary_table(runs: Sequence[RunMetrics]) -> str:
    """A markdown table of `summary` per run."""
    lines = ["| run | seeds | env steps | final return (training episodes) | 95% CI | IQM |",
             "|---|---:|---:|---:|---|---:|"]
    for r in runs:
        s = summary(r)
        lines.append(f"| {r.name} | {s['seeds']} | {s['env_steps']:,} | {s['final_mean']:.1f} | "
                     f"[{s['ci_low']:.1f}, {s['ci_high']:.1f}] | {s['iqm']:.1f} |")
    return "\n".join(lines)


def plot_runs(run_dirs: Sequence[str], out: str, labels: Optional[List[str]] = None,
              points: int = 50, title: Optional[str] = None):
    """Overlays the learning curves of `run_dirs` (mean and 95% band over seeds) and writes
    `out` (PNG, SVG or PDF by extension). Returns the matplotlib Figure."""
    return plot_curves([load_run(d) for d in run_dirs], out, labels, points, title)


def plot_curves(runs: Sequence[RunMetrics], out: str, labels: Optional[List[str]] = None,
                points: int = 50, title: Optional[str] = None):
    """Draws each run's return against env steps (mean and 95% bootstrap band over seeds) to `out`."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install 'jaxac[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, run in enumerate(runs):
        x, y = curve(run.metrics, run.steps, points)
        ended = np.isfinite(y).any(0)  # windows where some episode ended
        mean, low, high = band(y[:, ended])
        label = labels[i] if labels else run.name
        line, = ax.plot(x[ended], mean, label=f"{label} ({y.shape[0]} seeds)")
        ax.fill_between(x[ended], low, high, alpha=0.2, color=line.get_color())
    ax.set_xlabel("env steps (per seed)")
    ax.set_ylabel("episode return")
    ax.set_title(title or "mean over seeds, 95% bootstrap band")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return fig


def sweep_curves(sweep_dir: str) -> Tuple[List[Dict[str, str]], List[RunMetrics]]:
    """(summary rows best first, one RunMetrics per row: its setting's seeds [S, U]) of a
    sweep directory (`jaxac.sweep_run`), from its batches' metrics.csv."""
    import json

    summary_path = os.path.join(sweep_dir, "summary.csv")
    if not os.path.exists(summary_path):
        raise FileNotFoundError(f"{sweep_dir} has no summary.csv yet: it is written when the sweep ends "
                                f"(continue it with `jaxac resume {sweep_dir}`)")
    with open(summary_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    with open(os.path.join(sweep_dir, "sweep.json")) as fh:
        seeds = json.load(fh)["run"]["seeds"]
    by_member: Dict[int, Tuple[np.ndarray, Dict[str, np.ndarray]]] = {}
    root = os.path.join(sweep_dir, "runs")
    for name in sorted(os.listdir(root)):
        with open(os.path.join(root, name, "config.json")) as fh:
            ids = json.load(fh)["run"]["members"]["ids"]
        run = read_metrics_csv(os.path.join(root, name, "metrics.csv"))
        for i, member in enumerate(ids):
            by_member[member] = (run.steps, {k: v[i] for k, v in run.metrics.items()})
    out = []
    for row in rows:
        s = int(row["setting"])
        parts = [by_member[s * seeds + r] for r in range(seeds)]
        n = min(len(p[0]) for p in parts)
        metrics = {k: np.stack([p[1][k][:n] for p in parts]) for k in parts[0][1]}
        out.append(RunMetrics(setting_label(row), parts[0][0][:n], metrics))
    return rows, out


SUMMARY_COLUMNS = ("eval_return_mean", "final_return_mean",  # the latter: sweeps written before the rename
                   "ci_low", "ci_high", "iqm", "seeds", "train_return_mean", "setting",
                   "diverged")


def swept_fields(row: Dict[str, str]) -> List[str]:
    """The swept fields of a summary.csv row (every column that is not a figure)."""
    return [k for k in row if k not in SUMMARY_COLUMNS]


def setting_label(row: Dict[str, str]) -> str:
    """A setting's label from its swept values, numbers to 4 significant digits:
    `learning_rate=0.001 ent_coef=0.01213`."""
    return " ".join(f"{k.split('.')[-1]}={short(row[k])}" for k in swept_fields(row))


def short(value: Any) -> str:
    """A value as a label shows it: a number to 4 significant digits, anything else as it is."""
    number = _number(str(value))
    return f"{number:.4g}" if number is not None and not str(value).lstrip("-").isdigit() else str(value)


def hyper_scales(run_dir: str) -> Dict[str, str]:
    """{hyper path: "log" or "linear"}: the axis each PBT hyperparameter is drawn on, as its
    distribution was declared (loguniform: log), from the run's config.json."""
    import json

    with open(os.path.join(run_dir, "config.json")) as fh:
        hypers = json.load(fh)["run"]["population"]["hypers"]
    return {h["path"]: "log" if h["log"] else "linear" for h in hypers}


def plot_sweep(sweep_dir: str, out: str, top: int = 5, points: int = 50) -> Tuple[str, str]:
    """Learning curves of the `top` settings (best eval return first) to `out`, and the
    sensitivity plot (eval return with its 95% interval against each swept field) to
    `<out stem>-sensitivity<ext>`. Returns both paths."""
    rows, runs = sweep_curves(sweep_dir)
    plot_curves(runs[:top], out, points=points,
                title=f"{os.path.basename(os.path.normpath(sweep_dir))}: top {min(top, len(runs))} of {len(runs)} settings")
    stem, ext = os.path.splitext(out)
    second = f"{stem}-sensitivity{ext or '.png'}"
    plot_sensitivity(rows, second)
    return out, second


def _number(text: str) -> Optional[float]:
    try:
        return float(text)
    except ValueError:
        return None


def plot_sensitivity(rows: Sequence[Dict[str, str]], out: str):
    """One panel per swept field: each setting's eval return (mean over seeds, 95% interval)
    against the field's value; numbers on a log axis when they span more than 5x."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install 'jaxac[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fields = swept_fields(rows[0])
    fig, axes = plt.subplots(1, len(fields), figsize=(4.2 * len(fields), 3.6), squeeze=False)
    for ax, field in zip(axes[0], fields):
        values = [r[field] for r in rows]
        numbers = [_number(v) for v in values]
        numeric = all(x is not None for x in numbers)
        if numeric:
            x = np.asarray(numbers)
        else:
            names = sorted(set(values))
            x = np.asarray([names.index(v) for v in values], float)
            ax.set_xticks(range(len(names)), names, rotation=30, fontsize=8)
        y = np.asarray([float(r.get("eval_return_mean", r.get("final_return_mean"))) for r in rows])
        lo = np.asarray([float(r["ci_low"]) for r in rows])
        hi = np.asarray([float(r["ci_high"]) for r in rows])
        err = np.stack([np.nan_to_num(y - lo), np.nan_to_num(hi - y)])
        ax.errorbar(x, y, yerr=err, fmt="o", alpha=0.8, capsize=3)
        if numeric and (x > 0).all() and x.max() > 5 * x.min():
            ax.set_xscale("log")
        ax.set_xlabel(field)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("eval return (deterministic policy)")
    fig.suptitle("each setting: mean over seeds, 95% bootstrap interval", fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return fig


def best_lineage(parents: np.ndarray, ready: int, best: int) -> np.ndarray:
    """[U] the member whose training the final member `best` descends from at each update,
    following `parents` ([P, U]: at an exploit update, the member each one copied) back."""
    trace = np.zeros(parents.shape[1], int)
    owner = best
    for u in reversed(range(parents.shape[1])):
        if (u + 1) % ready == 0:
            owner = int(parents[owner, u])
        trace[u] = owner
    return trace


def plot_pbt(run_dir: str, out: str, points: int = 50):
    """A PBT run (`jaxac pbt`): the population's best and median learning curves, and the
    hyperparameter schedule of the final best member's lineage (one panel per
    hyperparameter). Returns the best member's index."""
    import json

    try:
        import matplotlib
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install 'jaxac[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = load_run(run_dir)
    with open(os.path.join(run_dir, "config.json")) as fh:
        ready = json.load(fh)["run"]["population"]["ready"]
    scales = hyper_scales(run_dir)
    finals = final_return(run.metrics)
    best = int(np.nanargmax(np.where(np.isnan(finals), -np.inf, finals)))
    trace = best_lineage(run.metrics["pbt_parent"].astype(int), ready, best)
    hypers = sorted(k for k in run.metrics if k.startswith("hyper/"))
    fig, axes = plt.subplots(1, 1 + len(hypers), figsize=(5 * (1 + len(hypers)), 3.8), squeeze=False)
    x, y = curve(run.metrics, run.steps, points)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        axes[0][0].plot(x, np.nanmax(y, 0), label="best member")
        axes[0][0].plot(x, np.nanmedian(y, 0), label="median member")
    axes[0][0].set_xlabel("env steps (per member)")
    axes[0][0].set_ylabel("episode return")
    axes[0][0].legend(fontsize=8)
    for ax, name in zip(axes[0][1:], hypers):
        values = run.metrics[name][trace, np.arange(len(trace))]
        ax.step(run.steps, values, where="post")
        ax.set_xlabel("env steps (per member)")
        ax.set_ylabel(name[len("hyper/"):])
        ax.set_yscale(scales.get(name[len("hyper/"):], "linear"))
    for ax in axes[0]:
        ax.grid(alpha=0.3)
    fig.suptitle(f"{os.path.basename(os.path.normpath(run_dir))}: population of {y.shape[0]}; "
                 f"schedule of the final best member ({best})'s lineage", fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return best
