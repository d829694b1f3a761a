"""PBT's exploit-and-explore step with a hand-made fitness: who copies whom, bit-for-bit
copies, exact perturbation factors, bounds, and one compiled program across calls."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxac
from jaxac import pbt
from jaxac.algos import ppo

LR = pbt.Hyper.parse("optim.learning_rate=loguniform:1e-4:1e-2")
ENT = pbt.Hyper.parse("ent_coef=uniform:0:0.05")
P = 8


def population(key=0):
    k1, k2 = jax.random.split(jax.random.key(key))
    state = {"params": jax.random.normal(k1, (P, 3, 4)), "moments": jax.random.normal(k2, (P, 5)),
             "count": jnp.arange(P, dtype=jnp.int32)}
    values = {LR.path: jnp.full((P,), 1e-3, jnp.float32), ENT.path: jnp.linspace(0.0, 0.04, P, dtype=jnp.float32)}
    return values, state


def test_the_bottom_members_copy_a_top_members_whole_state_bit_for_bit():
    values, state = population()
    fitness = jnp.asarray([5.0, 1.0, 7.0, jnp.nan, 3.0, 8.0, 2.0, 6.0])  # worst: 3 (NaN), then 1
    new_values, new_state, parents = pbt.exploit_explore(
        jax.random.key(1), fitness, values, state, [LR, ENT], pbt.Explore(fraction=0.25, resample=0.0))
    parents = np.asarray(parents)
    assert set(parents[[3, 1]]) <= {5, 2}  # the top two: 8.0 and 7.0
    keep = [m for m in range(P) if m not in (1, 3)]
    assert (parents[keep] == keep).all()
    for name in state:
        np.testing.assert_array_equal(np.asarray(new_state[name]), np.asarray(state[name])[parents])
    for h in (LR, ENT):
        old, new = np.asarray(values[h.path]), np.asarray(new_values[h.path])
        np.testing.assert_array_equal(new[keep], old[keep])


def test_perturbation_factors_are_exactly_as_set_and_bounds_hold():
    values, state = population()
    explore = pbt.Explore(fraction=0.5, perturb=(0.5, 3.0), resample=0.0)
    fitness = jnp.arange(P, dtype=jnp.float32)
    seen = set()
    for seed in range(20):
        new, _, parents = pbt.exploit_explore(jax.random.key(seed), fitness, values, state, [LR, ENT], explore)
        parents = np.asarray(parents)
        for m in range(P // 2):  # the replaced half
            inherited = np.float32(values[LR.path][parents[m]])
            got = np.float32(new[LR.path][m])
            assert got in (np.float32(inherited * np.float32(0.5)), np.float32(min(inherited * np.float32(3.0), 1e-2)))
            seen.add(round(float(got / inherited), 3))
            assert np.float32(ENT.low) <= new[ENT.path][m] <= np.float32(ENT.high)  # bounds in float32
    assert seen == {0.5, 3.0}  # both factors drawn; 3e-3 x 3 clips to the bound 1e-2
    drawn, _, _ = pbt.exploit_explore(jax.random.key(0), fitness, values, state, [LR, ENT],
                                      pbt.Explore(fraction=0.5, resample=1.0))
    lr = np.asarray(drawn[LR.path])[: P // 2]
    assert ((lr >= 1e-4) & (lr <= 1e-2)).all() and len(set(lr.tolist())) == P // 2


def test_the_step_compiles_once_for_every_fitness_and_key():
    values, state = population()
    step = jax.jit(lambda k, f, v, s: pbt.exploit_explore(k, f, v, s, [LR, ENT]))
    for seed in range(3):
        fitness = jax.random.normal(jax.random.key(seed), (P,))
        values, state, _ = step(jax.random.key(seed), fitness, values, state)
    assert step._cache_size() == 1


@pytest.mark.parametrize("item,needle", [
    ("optim.learning_rate=uniform:1e-2:1e-4", "--hyper 'optim.learning_rate=uniform:1e-2:1e-4' is invalid"),
    ("ent_coef=choice:0,0.01", "use ent_coef=uniform:LOW:HIGH or ent_coef=loguniform:LOW:HIGH"),
    ("ent_coef=loguniform:0:1", "0 < LOW"),
    ("ent_coef", "use FIELD=VALUES"),
])
def test_bad_hyperparameters_are_one_line(item, needle):
    with pytest.raises(jaxac.ConfigError) as err:
        pbt.Hyper.parse(item)
    assert needle in str(err.value) and len(str(err.value).splitlines()) == 1, str(err.value)


def test_a_hyperparameter_must_be_a_float_field_and_explore_settings_are_checked():
    cfg = ppo.Config(env="CartPole-v1")
    LR.check(cfg)
    with pytest.raises(jaxac.ConfigError, match="num_envs is not a float field"):
        pbt.Hyper.parse("num_envs=uniform:1:8").check(cfg)
    with pytest.raises(jaxac.ConfigError, match="not a config field"):
        pbt.Hyper.parse("optim.lr=uniform:0:1").check(cfg)
    for kwargs, needle in ((dict(fraction=0.6), "fraction=0.6"), (dict(perturb=(0.8, -1.0)), "perturb"),
                           (dict(resample=1.5), "resample=1.5")):
        with pytest.raises(jaxac.ConfigError, match=needle):
            pbt.Explore(**kwargs)
