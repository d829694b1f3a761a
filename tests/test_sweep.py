"""Sweep specifications: parsing, checks before compiling, settings, groups and stacking."""

import jax
import numpy as np
import pytest

import jaxac
from jaxac import sweep
from jaxac.algos import ppo

CFG = ppo.Config(env="CartPole-v1", total_steps=4 * 16 * 4, num_envs=4, rollout_length=16, update_epochs=1,
                 num_minibatches=2, policy=dict(hidden=(16,)))


def test_a_grid_is_the_cartesian_product_and_samples_repeat_per_trial():
    spec = sweep.Spec.parse(grids=["optim.learning_rate=1e-4,3e-4", "policy.hidden=16:32,32"],
                            samples=["ent_coef=uniform:0:0.02", "clip_eps=choice:0.1,0.2"], trials=3)
    spec.check(CFG)
    settings = spec.settings(seed=0)
    assert len(settings) == 2 * 2 * 3 and settings == spec.settings(seed=0)  # reproducible draws
    assert settings[0]["policy.hidden"] == (16,) and settings[3]["policy.hidden"] == (32, 32)
    assert all(0 <= s["ent_coef"] <= 0.02 and s["clip_eps"] in (0.1, 0.2) for s in settings)
    assert len({s["ent_coef"] for s in settings}) == len(settings)
    draws = sweep.Spec.parse(samples=["optim.learning_rate=loguniform:1e-5:1e-2"], trials=200).settings(1)
    logs = np.log10([s["optim.learning_rate"] for s in draws])
    assert logs.min() >= -5 and logs.max() <= -2 and abs(logs.mean() + 3.5) < 0.3  # uniform in log


def test_structural_fields_split_the_settings_into_groups():
    spec = sweep.Spec.parse(grids=["policy.hidden=16:32", "optim.learning_rate=1e-4,1e-3", "critic=scalar,c51"])
    spec.check(CFG)
    found = sweep.groups(CFG, spec.settings())
    assert [fixed for fixed, _ in found] == [
        {"policy.hidden": (16,), "critic": "scalar"}, {"policy.hidden": (16,), "critic": "c51"},
        {"policy.hidden": (32,), "critic": "scalar"}, {"policy.hidden": (32,), "critic": "c51"}]
    assert all(floats == [{"optim.learning_rate": 1e-4}, {"optim.learning_rate": 1e-3}] for _, floats in found)


def test_a_stacked_config_trains_each_member_as_its_own_call():
    floats = [{"optim.learning_rate": 1e-4, "ent_coef": 0.0}, {"optim.learning_rate": 1e-3, "ent_coef": 0.01}]
    cfgs, axes = sweep.stack(CFG, floats, repeat=2)
    assert cfgs.optim.learning_rate.shape == (4,) and axes.ent_coef == 0 and axes.gamma is None
    keys = jax.random.split(jax.random.key(0), 2)
    member_keys = jax.numpy.concatenate([keys, keys])  # member m: setting m // 2, seed m % 2
    _, metrics = jax.jit(jax.vmap(ppo.train, in_axes=(axes, 0)))(cfgs, member_keys)
    for m, (setting, key) in enumerate([(floats[0], keys[0]), (floats[0], keys[1]), (floats[1], keys[0])]):
        _, alone = jax.jit(ppo.train)(jaxac.replace(CFG, **setting), key)
        np.testing.assert_allclose(metrics["loss"][m], alone["loss"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("grids,samples,trials,needle", [
    (["optim.lerning_rate=1e-4"], [], None, "did you mean optim.learning_rate"),
    (["num_envs=4"], ["rollout_length=uniform:8:16"], 2, "rollout_length is not a float field"),
    ([], ["ent_coef=uniform:0:0.1"], None, "--sample needs --trials N"),
    (["optim.learning_rate="], [], None, "use FIELD=VALUES"),
    (["optim.learning_rate=,"], [], None, "give at least one value"),
    ([], ["ent_coef=normal:0:1"], None, "uniform:LOW:HIGH"),
    ([], ["ent_coef=uniform:0.2:0.1"], None, "swap them: ent_coef=uniform:0.1:0.2"),
    ([], ["optim.learning_rate=loguniform:0:1e-3"], None, "0 < LOW"),
    ([], ["ent_coef=uniform:a:b"], None, "uniform:LOW:HIGH"),
    (["optim.learning_rate=1e-4"], [], 8, "--trials is given without --sample"),
    ([], ["ent_coef=uniform:0:1"], 0, "--trials 0 is invalid"),
    (["gamma=0.9", "gamma=0.99"], [], None, "gamma is given twice"),
    ([], [], None, "a sweep needs --grid"),
    (["gamma=0.9,1.5"], [], None, "gamma"),
    (["optim.learning_rate=fast"], [], None, "optim.learning_rate='fast' is invalid: use a number"),
])
def test_bad_specs_fail_before_compiling_with_one_line(grids, samples, trials, needle):
    with pytest.raises(jaxac.ConfigError) as err:
        sweep.Spec.parse(grids, samples, trials).check(CFG)
    assert needle in str(err.value) and len(str(err.value).splitlines()) == 1, str(err.value)
