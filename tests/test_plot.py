"""Learning-curve statistics and `jaxac plot` (band over seeds, partial runs, summary table)."""

import numpy as np
import pytest

from jaxac import cli, plot
from jaxac import logging as run_logs


def test_bootstrap_interval_and_iqm():
    x = np.array([1.0, 2.0, 3.0, 4.0, np.nan])
    lo, hi = plot.bootstrap_ci(x)
    assert 1.0 <= lo < 2.5 < hi <= 4.0
    assert np.isnan(plot.bootstrap_ci(np.array([3.0]))[0])
    # IQM of 8 values: the mean of the middle 4, untouched by the outliers
    assert plot.iqm(np.array([-1000.0, 1, 2, 3, 4, 5, 6, 1000])) == pytest.approx(3.5)
    assert plot.iqm(np.array([7.0])) == 7.0


def test_band_over_seeds():
    y = np.array([[1.0, 2.0, np.nan, 5.0], [1.0, 4.0, np.nan, np.nan], [1.0, 6.0, np.nan, np.nan]])
    mean, low, high = plot.band(y)
    np.testing.assert_allclose(mean[[0, 1, 3]], [1.0, 4.0, 5.0])
    assert low[0] == high[0] == 1.0  # no spread, no band
    assert 2.0 <= low[1] < 4.0 < high[1] <= 6.0
    assert low[3] == high[3] == 5.0  # one seed: no band
    assert np.isnan(mean[2]) and np.isnan(low[2])


def test_curve_averages_the_episodes_of_each_window():
    metrics = {"episode_return": np.array([[10.0, np.nan, 30.0, 50.0]]),
               "episodes": np.array([[1, 0, 3, 1]])}
    steps, y = plot.curve(metrics, np.array([100, 200, 300, 400]), points=2)
    np.testing.assert_array_equal(steps, [200, 400])
    np.testing.assert_allclose(y, [[10.0, (3 * 30 + 50) / 4]])


def _write_run(path, seeds, updates, offset):
    rng = np.random.default_rng(offset)
    ret = offset + np.cumsum(rng.normal(1.0, 0.5, (seeds, updates)), 1)
    metrics = {"episode_return": ret, "episodes": np.ones((seeds, updates), np.int32),
               "loss": rng.normal(size=(seeds, updates))}
    path.mkdir()
    run_logs.write_metrics_csv(str(path / "metrics.csv"), metrics, 128)


def test_plot_of_two_four_seed_runs_with_bands_and_a_partial_run(tmp_path, capsys):
    _write_run(tmp_path / "a", 4, 60, 0)
    _write_run(tmp_path / "b", 4, 30, 10)  # a run still going (or killed) at its 30th update
    lines = (tmp_path / "b" / "metrics.csv").read_text().splitlines()
    (tmp_path / "b" / "metrics.csv").write_text("\n".join(lines[:-3]) + "\n")  # seed 3 behind
    partial = plot.load_run(str(tmp_path / "b"))
    assert partial.metrics["episode_return"].shape == (4, 27)  # what every seed has written
    # error for a run without metrics before anything is drawn
    assert cli.main(["plot", str(tmp_path / "a"), str(tmp_path / "none")]) == 2
    assert "none does not exist" in capsys.readouterr().err

    out = tmp_path / "curves.png"
    assert cli.main(["plot", str(tmp_path / "a"), str(tmp_path / "b"), "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = capsys.readouterr().out
    assert "| a | 4 | 7,680 |" in table and "| b | 4 | 3,456 |" in table and "IQM" in table

    fig = plot.plot_runs([str(tmp_path / "a"), str(tmp_path / "b")], str(tmp_path / "c.svg"))
    ax = fig.axes[0]
    assert len(ax.lines) == 2 and len(ax.collections) == 2  # a mean line and a band per run
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a (4 seeds)", "b (4 seeds)"]


def test_sweep_labels_show_numbers_to_four_significant_digits():
    from jaxac import plot

    row = {"ent_coef": "0.012132715515343598", "optim.learning_rate": "0.001", "policy.hidden": "64,64",
           "num_envs": "8", "eval_return_mean": "1.0", "ci_low": "0", "ci_high": "2"}
    label = plot.setting_label({k: v for k, v in row.items() if k in ("ent_coef", "optim.learning_rate",
                                                                           "policy.hidden", "num_envs")})
    assert label == "ent_coef=0.01213 learning_rate=0.001 hidden=64,64 num_envs=8"
