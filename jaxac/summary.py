"""Host-side summaries of training metrics."""

from __future__ import annotations

import numpy as np


def final_return(metrics: dict, fraction: float = 0.05) -> np.ndarray:
    """Mean return of the episodes that ended in the last `fraction` of updates.

    Args:
      metrics: with `episode_return` and `episodes`, shaped [..., num_updates] (leading axes:
        seeds or swept hyperparameters).

    Returns:
      [...] one number per run (NaN for a run where no episode ended in that window).
    """
    ret = np.asarray(metrics["episode_return"], np.float64)
    count = np.asarray(metrics["episodes"], np.float64)
    n = ret.shape[-1]
    window = max(1, int(round(n * fraction)))
    ret, count = ret[..., -window:], count[..., -window:]
    total = np.where(count > 0, np.nan_to_num(ret) * count, 0.0).sum(-1)
    episodes = count.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(episodes > 0, total / np.maximum(episodes, 1), np.nan)
