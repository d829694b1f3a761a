"""Host-side summaries of training metrics."""

from __future__ import annotations

import numpy as np


def episode_mean(values, count, axis=-1) -> np.ndarray:
    """Mean of a per-update episode statistic (`episode_return`, `episode_length`: the mean
    over the episodes that ended in that update) over `axis`, weighted by those episodes'
    `count`; NaN where no episode ended. `axis=None`: over everything (a scalar array)."""
    values = np.asarray(values, np.float64)
    count = np.asarray(count, np.float64)
    total = np.where(count > 0, np.nan_to_num(values) * count, 0.0).sum(axis)
    episodes = count.sum(axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(episodes > 0, total / np.maximum(episodes, 1), np.nan)


def final_return(metrics: dict, fraction: float = 0.05) -> np.ndarray:
    """Mean return of the episodes that ended in the last `fraction` of updates.

    A run where no episode ended in that window (long episodes that all end together, e.g.
    brax's fixed-length ones) reaches back to the last update where some did, so the number
    is always about the latest completed episodes.

    Args:
      metrics: with `episode_return` and `episodes`, shaped [..., num_updates] (leading axes:
        seeds or swept hyperparameters).

    Returns:
      [...] one number per run (NaN for a run where no episode ended at all).
    """
    ret = np.asarray(metrics["episode_return"], np.float64)
    count = np.asarray(metrics["episodes"], np.float64)
    n = ret.shape[-1]
    window = max(1, int(round(n * fraction)))
    ended = count > 0
    last = n - 1 - np.argmax(ended[..., ::-1], axis=-1)  # last update where an episode ended
    start = np.minimum(n - window, last)[..., None]
    use = (np.arange(n) >= start) & ended
    return episode_mean(ret, np.where(use, count, 0.0))
