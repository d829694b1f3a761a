"""final_return: the latest completed episodes of each run."""

import numpy as np

from jaxac.summary import final_return


def test_final_return_uses_the_last_window_or_reaches_back_to_the_last_episodes():
    ret = np.array([[1.0, np.nan, 3.0, np.nan, 5.0, 7.0],     # episodes in the window
                    [2.0, 4.0, np.nan, np.nan, np.nan, np.nan],  # none: the last update with one
                    [np.nan] * 6])                               # none at all
    count = np.array([[1, 0, 1, 0, 1, 3], [1, 2, 0, 0, 0, 0], [0] * 6])
    out = final_return({"episode_return": ret, "episodes": count}, fraction=2 / 6)
    np.testing.assert_allclose(out[:2], [(5 + 3 * 7) / 4, 4.0])
    assert np.isnan(out[2])


def test_episode_mean_weights_updates_by_their_episodes_and_skips_empty_ones():
    from jaxac.summary import episode_mean

    values = np.array([[10.0, np.nan, 40.0], [np.nan, np.nan, np.nan]])
    count = np.array([[1, 0, 3], [0, 0, 0]])
    np.testing.assert_allclose(episode_mean(values, count, axis=1), [(10 + 120) / 4, np.nan])
    assert float(episode_mean(values, count, axis=None)) == 32.5
    np.testing.assert_allclose(episode_mean(values, count, axis=0), [10.0, np.nan, 40.0])
