"""Run-directory logs: chunk summaries and TensorBoard event files."""

import glob
import os
import struct

import numpy as np
import pytest

from jaxac import logging as run_logs


def read_events(run_dir):
    """{tag: [(step, value)]} from the TFRecord event files in `run_dir`."""
    from tensorboardX.proto import event_pb2

    out = {}
    for path in sorted(glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))):
        data, i = open(path, "rb").read(), 0
        while i < len(data):
            (n,) = struct.unpack("<Q", data[i:i + 8])
            event = event_pb2.Event()
            event.ParseFromString(data[i + 12:i + 12 + n])
            i += 12 + n + 4  # length, its crc, payload, payload crc
            for v in event.summary.value:
                out.setdefault(v.tag, []).append((event.step, v.simple_value))
    return out


def test_chunk_summary_weights_episode_statistics_by_episodes():
    metrics = {
        "episode_return": np.array([[10.0, np.nan, 40.0], [np.nan, np.nan, np.nan]]),
        "episodes": np.array([[1, 0, 3], [0, 0, 0]]),
        "loss": np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]),
    }
    s = run_logs.chunk_summary(metrics)
    np.testing.assert_allclose(s["episode_return"][0], (10 + 3 * 40) / 4)
    assert np.isnan(s["episode_return"][1])  # no episode ended for seed 1
    np.testing.assert_array_equal(s["episodes"], [4, 0])
    np.testing.assert_allclose(s["loss"], [2.0, 5.0])


def test_tensorboard_has_a_run_per_seed_and_the_mean(tmp_path):
    board = run_logs.TensorBoard(str(tmp_path), num_seeds=2)
    for step, ret in ((100, [1.0, 3.0]), (200, [2.0, np.nan])):
        board.write(step, {"episode_return": np.array([[ret[0]], [ret[1]]]),
                           "episodes": np.array([[1], [int(np.isfinite(ret[1]))]]),
                           "loss": np.array([[0.5], [1.5]])})
    board.close()
    seed0, seed1, mean = (read_events(str(tmp_path / n)) for n in ("seed_0", "seed_1", "mean"))
    assert seed0["episode/episode_return"] == [(100, 1.0), (200, 2.0)]
    assert seed1["episode/episode_return"] == [(100, 3.0)]  # no point where no episode ended
    assert mean["episode/episode_return"] == [(100, 2.0), (200, 2.0)]
    assert mean["train/loss"] == [(100, 1.0), (200, 1.0)]


def test_tensorboard_itself_reads_the_event_files(tmp_path):
    """The viewer the docs tell users to run (the `tensorboard` extra) reads what a run writes."""
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    board = run_logs.TensorBoard(str(tmp_path), num_seeds=1)
    board.write(100, {"episode_return": np.array([[4.0]]), "episodes": np.array([[1]]), "loss": np.array([[0.5]])})
    board.close()
    events = accumulator.EventAccumulator(str(tmp_path / "mean"))
    events.Reload()
    assert {"episode/episode_return", "train/loss"} <= set(events.Tags()["scalars"])
    assert [(e.step, e.value) for e in events.Scalars("episode/episode_return")] == [(100, 4.0)]
