"""The head-to-head benchmark's statistics and option parsing (pure Python, no training)."""

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
import vs_brax_returns as vbr  # noqa: E402


def test_rank_sum_p_is_exact_for_small_groups():
    # 8 vs 8 fully separated: 2 of the C(16, 8) = 12,870 splits are as extreme
    assert vbr.rank_sum_p(list(range(8)), list(range(8, 16))) == pytest.approx(2 / 12870)
    # identical groups: every split is at least as extreme as no difference at all
    assert vbr.rank_sum_p([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == 1.0
    # ties get mid-ranks, so the test is symmetric in the groups
    a, b = [1.0, 2.0, 2.0, 5.0], [2.0, 3.0, 4.0, 6.0]
    assert vbr.rank_sum_p(a, b) == pytest.approx(vbr.rank_sum_p(b, a))


def test_overrides_are_json_values_with_tuples_for_sequences():
    got = vbr.parse_overrides(["policy.state_dependent_std=true", "policy.init_log_std=-0.35",
                               "policy.std=softplus", "policy.hidden=[32,32]"])
    assert got == {"policy.state_dependent_std": True, "policy.init_log_std": -0.35,
                   "policy.std": "softplus", "policy.hidden": (32, 32)}
    with pytest.raises(SystemExit):
        vbr.parse_overrides(["policy.init_log_std"])


def test_brax_returns_are_reused_only_for_the_same_row(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps([{"algo": "ppo", "env": "halfcheetah", "steps": 409600,
                                 "brax": {"0": 54.6, "1": 93.3}, "jaxac": {"0": 42.1},
                                 "initial": {"brax": {"1": 46.9}, "jaxac": {}}}]))
    assert vbr.earlier_brax(str(path), "ppo", "halfcheetah", 409600) == ({0: 54.6, 1: 93.3}, {1: 46.9})
    with pytest.raises(SystemExit):
        vbr.earlier_brax(str(path), "ppo", "halfcheetah", 204800)


def test_brax_returns_are_read_from_a_head_to_head_file_too(tmp_path):
    path = tmp_path / "vs_brax.json"
    row = {"algo": "ppo", "env": "hopper", "networks": "brax's", "steps": 102400,
           "brax": {"seed_evals": [197.3, 195.3]}, "jaxac": {"seed_evals": [1.0, 2.0]}}
    small = dict(row, networks="64x64", brax={"seed_evals": [5.0, 6.0]})
    path.write_text(json.dumps([small, row]))
    assert vbr.earlier_brax(str(path), "ppo", "hopper", 102400) == ({0: 197.3, 1: 195.3}, {})
    with pytest.raises(SystemExit):
        vbr.earlier_brax(str(path), "ppo", "hopper", 51200)
    with pytest.raises(SystemExit):
        vbr.earlier_brax(str(path), "sac", "hopper", 102400)
