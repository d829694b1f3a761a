"""Stochastic operations-research environments: FrozenLake-v1 against gymnasium's transition
table, LotSizing-v0 against a numpy re-implementation of the released simulator's dynamics,
and their post-decision states."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxac
from jaxac.env import MultiDiscrete
from jaxac.envs import frozen_lake, lot_sizing
from jaxac.envs.lot_sizing_settings import SETTINGS

gym = pytest.importorskip("gymnasium")


# --- FrozenLake-v1 ---------------------------------------------------------------------------

def gym_table(map_name, slippery, success_rate):
    """{(cell, action): {next cell: (probability, reward, terminated)}} of gymnasium's lake."""
    env = gym.make("FrozenLake-v1", map_name=map_name, is_slippery=slippery, success_rate=success_rate)
    table = {}
    for s, actions in env.unwrapped.P.items():
        for a, outcomes in actions.items():
            merged = {}
            for p, nxt, r, term in outcomes:
                q, _, _ = merged.get(nxt, (0.0, r, term))
                merged[nxt] = (q + p, float(r), bool(term))
            table[s, a] = merged
    return table, env.spec.max_episode_steps


@pytest.mark.parametrize("map_name,slippery,success_rate", [
    ("4x4", True, 1 / 3), ("8x8", True, 1 / 3), ("4x4", False, 1 / 3), ("4x4", True, 0.6)])
def test_frozen_lake_transitions_are_gymnasiums(map_name, slippery, success_rate):
    """Every non-terminal cell and action: the same next cells, probabilities, rewards and
    ends as gymnasium's table (the slip's three outcomes enumerated), and the time limit."""
    table, limit = gym_table(map_name, slippery, success_rate)
    env, params = jaxac.make("FrozenLake-v1", map_name=map_name, is_slippery=slippery, success_rate=success_rate)
    assert params.max_steps == limit
    goal, hole = np.asarray(env._letters("G")), np.asarray(env._letters("H"))
    fail = (1 - success_rate) / 2
    for (s, a), want in table.items():
        if goal[s] or hole[s]:
            continue  # gymnasium's self-loops there are never reached: the episode has ended
        got = {}
        outcomes = [(a, 1.0)] if not slippery else [((a - 1) % 4, fail), (a, success_rate), ((a + 1) % 4, fail)]
        for direction, p in outcomes:
            nxt = int(env.move(jnp.int32(s), jnp.int32(direction)))
            q, _, _ = got.get(nxt, (0.0, 0.0, False))
            got[nxt] = (q + p, float(goal[nxt]), bool(goal[nxt] or hole[nxt]))
        assert got.keys() == want.keys(), (s, a)
        for nxt in want:
            assert got[nxt][0] == pytest.approx(want[nxt][0]) and got[nxt][1:] == want[nxt][1:], (s, a, nxt)


def test_frozen_lake_step_samples_gymnasiums_probabilities_under_jit_and_vmap():
    table, _ = gym_table("4x4", True, 1 / 3)
    env, params = jaxac.make("FrozenLake-v1")
    cells, actions, draws = 16, 4, 4000
    s, a = np.meshgrid(np.arange(cells), np.arange(actions), indexing="ij")
    s, a = jnp.asarray(s.ravel(), jnp.int32), jnp.asarray(a.ravel(), jnp.int32)
    state = frozen_lake.FrozenLakeState(s, jnp.zeros_like(s))

    @jax.jit
    def sample(key):
        keys = jax.random.split(key, (draws, cells * actions))
        step = jax.vmap(jax.vmap(env.step, in_axes=(0, 0, 0, None)), in_axes=(0, None, None, None))
        nxt, ts = step(keys, state, a, params)
        return nxt.cell, ts.reward, ts.terminated

    nxt, reward, terminated = (np.asarray(x) for x in sample(jax.random.key(0)))
    for j, (cell, action) in enumerate(zip(np.asarray(s), np.asarray(a))):
        if np.asarray(env._letters("G"))[cell] or np.asarray(env._letters("H"))[cell]:
            continue
        for target, (p, r, term) in table[int(cell), int(action)].items():
            hit = nxt[:, j] == target
            assert abs(hit.mean() - p) < 4.5 * np.sqrt(p * (1 - p) / draws) + 1e-9, (cell, action, target)
            assert (reward[hit, j] == r).all() and (terminated[hit, j] == term).all()


def test_frozen_lake_post_decision_is_the_intended_cell_and_episodes_end_at_the_limit():
    env, params = jaxac.make("FrozenLake-v1", is_slippery=False, max_steps=3)
    state, ts = env.reset(jax.random.key(0), params)
    assert int(state.cell) == 0 and ts.obs.shape == (16,) and ts.obs[0] == 1
    np.testing.assert_array_equal(env.post_decision(state, 1, params), jax.nn.one_hot(4, 16))  # down
    np.testing.assert_array_equal(env.post_decision(state, 0, params), jax.nn.one_hot(0, 16))  # the edge
    for _ in range(3):
        state, ts = env.step(jax.random.key(1), state, 0, params)  # left into the edge: stays
    assert bool(ts.truncated) and not bool(ts.terminated)
    with pytest.raises(ValueError, match="map_name='9x9' is invalid"):
        jaxac.make("FrozenLake-v1", map_name="9x9")


# --- LotSizing-v0 ----------------------------------------------------------------------------

def numpy_period(setting, inventory, setup, action, demand):
    """One period of the released simulator, written out in loops: (inventory, setup,
    post-decision inventory, cost)."""
    inventory, setup = inventory.astype(float).copy(), setup.copy()
    setup_cost = 0.0
    for m, choice in enumerate(action):
        if choice == 0:
            setup[m] = 0
            continue
        loss = 0
        if setup[m] != choice:
            setup_cost += setting["setup_costs"][m][choice - 1]
            loss = setting["setup_loss"][m][choice - 1]
        setup[m] = choice
        inventory[choice - 1] += setting["machine_production"][m][choice - 1] - loss
    decided = inventory.copy()
    lost = holding = 0.0
    for i in range(len(inventory)):
        inventory[i] -= demand[i]
        if inventory[i] < 0:
            lost -= inventory[i] * setting["lost_sales_costs"][i]
            inventory[i] = 0
        elif inventory[i] > setting["max_inventory_level"][i]:
            inventory[i] = setting["max_inventory_level"][i]
        holding += inventory[i] * setting["holding_costs"][i]
    return inventory, setup, decided, setup_cost + lost + holding


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_lot_sizing_matches_a_numpy_simulator_over_1000_random_steps(name):
    setting = SETTINGS[name]
    env, params = jaxac.make("LotSizing-v0", setting=name)
    space = env.action_space(params)
    assert space.nvec == (setting["n_items"] + 1,) * setting["n_machines"]

    def one(carry, key):
        state = carry
        k_act, k_step, k_reset = jax.random.split(key, 3)
        action = space.sample(k_act)
        pd = env.post_decision(state, action, params)
        nxt, ts = env.step(k_step, state, action, params)
        reset, _ = env.reset(k_reset, params)
        carry = jax.tree.map(lambda r, n: jnp.where(ts.terminated, r, n), reset, nxt)
        return carry, (state, action, env.demand(k_step, params), nxt, ts, pd)

    state, _ = env.reset(jax.random.key(0), params)
    _, (before, actions, demands, after, ts, pds) = jax.jit(
        lambda s: jax.lax.scan(one, s, jax.random.split(jax.random.key(1), 1000)))(state)
    before, after = jax.tree.map(np.asarray, (before, after))
    items, machines = setting["n_items"], setting["n_machines"]
    max_inv = np.asarray(setting["max_inventory_level"], float)
    for t in range(1000):
        inv, setup, decided, cost = numpy_period(setting, before.inventory[t], before.setup[t],
                                                 np.asarray(actions[t]), np.asarray(demands[t]))
        np.testing.assert_allclose(after.inventory[t], inv, err_msg=f"step {t}")
        np.testing.assert_array_equal(after.setup[t], setup)
        assert float(ts.reward[t]) == pytest.approx(-cost, rel=1e-5, abs=1e-4), t
        np.testing.assert_allclose(np.asarray(pds[t])[:items], decided / max_inv, rtol=1e-6)
        np.testing.assert_allclose(np.asarray(pds[t])[items:items + machines], setup / items, rtol=1e-6)
    assert int(np.asarray(ts.terminated).sum()) == 1000 // setting["time_horizon"]
    shown = jax.vmap(lambda o: lot_sizing.state_of(o, params))(ts.obs)  # what a heuristic reads
    np.testing.assert_array_equal(shown.inventory, after.inventory)
    np.testing.assert_array_equal(shown.setup, after.setup)
    np.testing.assert_array_equal(shown.time, after.time)
    # resets draw inventories in [0, max) and setups among the items each machine can make
    starts = before.time == 0
    assert (before.inventory[starts] < max_inv).all() and (before.inventory[starts] >= 0).all()
    production = np.asarray(setting["machine_production"])
    for setup in before.setup[starts]:
        assert all(production[m, s - 1] > 0 for m, s in enumerate(setup))


def test_lot_sizing_demand_is_binomial_and_bad_settings_are_one_line():
    env, params = jaxac.make("LotSizing-v0", demand_n=4.0, demand_p=0.25, horizon=7)
    demand = np.asarray(jax.vmap(lambda k: env.demand(k, params))(jax.random.split(jax.random.key(0), 20000)))
    assert demand.min() >= 0 and demand.max() <= 4 and abs(demand.mean() - 1.0) < 0.02
    assert abs(demand.var() - 0.75) < 0.03 and params.horizon == 7
    with pytest.raises(ValueError, match="setting='30items' is invalid: use one of 15items_5machines"):
        jaxac.make("LotSizing-v0", setting="30items")
    with pytest.raises(ValueError, match="no parameter"):
        jaxac.make("LotSizing-v0", items=3)
    with pytest.raises(ValueError, match="MultiDiscrete sizes \\(3, 0\\) are invalid"):
        MultiDiscrete((3, 0))
    assert lot_sizing.DEFAULT_SETTING in SETTINGS


def test_sac_refuses_multidiscrete_actions_before_compiling():
    from jaxac.algos import sac

    with pytest.raises(jaxac.ConfigError, match="its actions are MultiDiscrete.*ppo and a2c take MultiDiscrete"):
        sac.Config(env="LotSizing-v0")


@pytest.mark.parametrize("slippery", [False, True])
def test_the_rollout_records_post_decision_observations_through_the_wrappers(slippery):
    """Without slip the intended cell is the cell reached; with it, the intended move from
    the observed cell, whatever the ice did."""
    from jaxac.env import has_post_decision, wrap_for_training
    from jaxac.networks import policy_for, sampling_policy
    from jaxac.rollout import reset_envs, unroll

    base, params = jaxac.make("FrozenLake-v1", is_slippery=slippery)
    env = wrap_for_training(base)
    assert has_post_decision(env) and not has_post_decision(jaxac.make("CartPole-v1")[0])
    net, dist = policy_for(env.action_space(params), (8,), "tanh", "gaussian")
    carry = reset_envs(env, params, jax.random.key(0), 4)
    actor = net.init(jax.random.key(1), carry.obs[0])
    _, traj = jax.jit(lambda c: unroll(env, params, sampling_policy(net, dist), actor, c, jax.random.key(2), 64,
                                       post_decision=True))(carry)
    assert traj.post_obs.shape == traj.obs.shape
    cells, post = np.asarray(traj.obs).argmax(-1), np.asarray(traj.post_obs).argmax(-1)
    intended = np.asarray(jax.vmap(base.move)(jnp.asarray(cells.ravel()), traj.env_action.ravel())).reshape(cells.shape)
    np.testing.assert_array_equal(post, intended)
    if not slippery:
        np.testing.assert_array_equal(traj.post_obs, traj.next_obs)
    _, plain = unroll(env, params, sampling_policy(net, dist), actor, carry, jax.random.key(2), 4)
    assert plain.post_obs is None


def test_the_reorder_heuristic_keeps_setups_below_the_up_to_level_and_switches_to_the_most_urgent():
    env, params = jaxac.make("LotSizing-v0")
    mean = float(params.demand_n * params.demand_p)  # 8 units a period
    act = jax.jit(lot_sizing.reorder_policy(params, reorder=2.0, up_to=4.0))
    inventory = jnp.full((15,), 40.0)  # 5 periods: nothing is short
    # machine 0 set up for item 0 (below up-to: keeps it); machine 1 for item 1 (above: idles)
    state = lot_sizing.LotSizingState(inventory.at[0].set(3 * mean), jnp.asarray([1, 2, 0, 0, 0]),
                                      jnp.zeros((), jnp.int32))
    np.testing.assert_array_equal(act(state), [1, 0, 0, 0, 0])
    # item 2 (only machine 3 makes it, 40 a period) and item 3 (machine 3 too) fall short:
    # machine 3 takes the most urgent, item 2; machine 4 cannot make either
    state = state.replace(inventory=state.inventory.at[2].set(0.0).at[3].set(10.0))
    np.testing.assert_array_equal(act(state), [1, 0, 0, 3, 0])
