"""Hand-derived GAE / lambda-return cases, jitted and not."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxac.returns import gae, vtrace_advantage

F, T = False, True


# rollouts of 1-8 steps: (reward, value, next value, terminated, truncated) per step
STEPS = st.lists(st.tuples(st.floats(-5, 5), st.floats(-5, 5), st.floats(-5, 5),
                           st.booleans(), st.booleans()), min_size=1, max_size=8)


def run(r, v, nv, term, trunc, gamma, lam, jit):
    fn = jax.jit(gae) if jit else gae
    adv, ret = fn(
        jnp.array(r, jnp.float32), jnp.array(v, jnp.float32), jnp.array(nv, jnp.float32),
        jnp.array(term), jnp.array(trunc), gamma, lam,
    )
    return np.asarray(adv), np.asarray(ret)


@pytest.fixture(params=[False, True], ids=["eager", "jit"])
def jit(request):
    return request.param


def test_no_episode_end(jit):
    # gamma 0.5, lambda 0.5: delta = r + 0.5 nv - v
    r, v, nv = [1.0, 2.0, 3.0], [0.0, 1.0, 2.0], [1.0, 2.0, 4.0]
    d = [1 + 0.5 * 1 - 0, 2 + 0.5 * 2 - 1, 3 + 0.5 * 4 - 2]  # [1.5, 2, 3]
    a2 = d[2]
    a1 = d[1] + 0.25 * a2
    a0 = d[0] + 0.25 * a1
    adv, ret = run(r, v, nv, [F] * 3, [F] * 3, 0.5, 0.5, jit)
    np.testing.assert_allclose(adv, [a0, a1, a2], rtol=1e-6)
    np.testing.assert_allclose(ret, np.array([a0, a1, a2]) + v, rtol=1e-6)


def test_termination_mid_rollout_bootstraps_zero_and_cuts_chain(jit):
    r, v, nv = [1.0, 1.0, 1.0], [0.5, 0.5, 0.5], [9.0, 9.0, 2.0]
    adv, _ = run(r, v, nv, [F, T, F], [F] * 3, 0.9, 0.8, jit)
    a2 = 1 + 0.9 * 2 - 0.5
    a1 = 1 + 0.0 - 0.5  # terminated: no bootstrap, chain cut
    a0 = (1 + 0.9 * 9 - 0.5) + 0.9 * 0.8 * a1
    np.testing.assert_allclose(adv, [a0, a1, a2], rtol=1e-6)


def test_truncation_mid_rollout_bootstraps_final_obs_and_cuts_chain(jit):
    r, v, nv = [1.0, 1.0, 1.0], [0.5, 0.5, 0.5], [9.0, 7.0, 2.0]
    adv, _ = run(r, v, nv, [F] * 3, [F, T, F], 0.9, 0.8, jit)
    a2 = 1 + 0.9 * 2 - 0.5
    a1 = 1 + 0.9 * 7 - 0.5  # truncated: bootstrap from V(final obs) = 7, chain cut
    a0 = (1 + 0.9 * 9 - 0.5) + 0.9 * 0.8 * a1
    np.testing.assert_allclose(adv, [a0, a1, a2], rtol=1e-6)


@pytest.mark.parametrize("term,trunc,expected", [
    ([F, T], [F, F], 2.0 - 1.0),           # terminated at the last step: r - v
    ([F, F], [F, T], 2.0 + 0.9 * 5 - 1.0),  # truncated at the last step: r + g V(final) - v
    ([F, T], [F, T], 2.0 - 1.0),           # both flags: termination wins
])
def test_episode_end_at_last_step(jit, term, trunc, expected):
    adv, _ = run([1.0, 2.0], [1.0, 1.0], [3.0, 5.0], term, trunc, 0.9, 0.95, jit)
    np.testing.assert_allclose(adv[1], expected, rtol=1e-6)
    np.testing.assert_allclose(adv[0], (1 + 0.9 * 3 - 1) + 0.9 * 0.95 * expected, rtol=1e-6)


def test_gamma_zero_is_reward_minus_value(jit):
    adv, ret = run([1.0, -2.0, 3.0], [0.5, 0.5, 0.5], [9.0, 9.0, 9.0], [F] * 3, [F] * 3, 0.0, 0.95, jit)
    np.testing.assert_allclose(adv, [0.5, -2.5, 2.5], rtol=1e-6)
    np.testing.assert_allclose(ret, [1.0, -2.0, 3.0], rtol=1e-6)


def test_lambda_zero_is_one_step_td(jit):
    r, v, nv = [1.0, 2.0, 3.0], [0.1, 0.2, 0.3], [4.0, 5.0, 6.0]
    adv, _ = run(r, v, nv, [F] * 3, [F] * 3, 0.9, 0.0, jit)
    np.testing.assert_allclose(adv, np.array(r) + 0.9 * np.array(nv) - v, rtol=1e-6)


def test_lambda_one_is_discounted_return_with_bootstrap(jit):
    # consistent values (nv[t] = v[t+1]) so the bootstrap telescopes to the last one
    r, v, nv = [1.0, 2.0, 3.0], [0.1, 0.2, 0.3], [0.2, 0.3, 6.0]
    _, ret = run(r, v, nv, [F] * 3, [F] * 3, 0.9, 1.0, jit)
    expected = [1 + 0.9 * 2 + 0.81 * 3 + 0.729 * 6, 2 + 0.9 * 3 + 0.81 * 6, 3 + 0.9 * 6]
    np.testing.assert_allclose(ret, expected, rtol=1e-6)


def test_batch_dims_are_independent():
    key = jax.random.key(0)
    r, v, nv = jax.random.normal(key, (3, 5, 4))
    term = jax.random.bernoulli(jax.random.key(1), 0.2, (5, 4))
    trunc = jax.random.bernoulli(jax.random.key(2), 0.2, (5, 4))
    adv, _ = gae(r, v, nv, term, trunc, 0.9, 0.7)
    for b in range(4):
        adv_b, _ = gae(r[:, b], v[:, b], nv[:, b], term[:, b], trunc[:, b], 0.9, 0.7)
        np.testing.assert_allclose(adv[:, b], adv_b, rtol=1e-5, atol=1e-6)


@settings(max_examples=30, deadline=None)
@given(STEPS, st.floats(0, 1), st.floats(0, 1))
def test_matches_reference_loop(steps, gamma, lam):
    r, v, nv, term, trunc = map(list, zip(*steps))
    adv, _ = run(r, v, nv, term, trunc, gamma, lam, jit=False)
    expected, nxt = [], 0.0
    for t in reversed(range(len(r))):
        delta = r[t] + gamma * (0.0 if term[t] else nv[t]) - v[t]
        nxt = delta + gamma * lam * (0.0 if (term[t] or trunc[t]) else nxt)
        expected.append(nxt)
    np.testing.assert_allclose(adv, expected[::-1], rtol=1e-4, atol=1e-4)


def vtrace(r, v, nv, term, trunc, gamma, lam):
    arrays = [jnp.array(x, jnp.float32) for x in (r, v, nv)] + [jnp.array(term), jnp.array(trunc)]
    _, target = gae(*arrays, gamma, lam)
    return np.asarray(vtrace_advantage(*arrays[:3], target, *arrays[3:], gamma)), np.asarray(target)


@settings(max_examples=30, deadline=None)
@given(STEPS, st.floats(0, 1), st.floats(0, 1))
def test_vtrace_advantage_matches_reference_loop(steps, gamma, lam):
    """r_t + gamma * G_{t+1} - V_t, G_{t+1} the next lambda-return, the bootstrap value where
    the episode (terminated: zero) or the sequence ends."""
    r, v, nv, term, trunc = map(list, zip(*steps))
    adv, target = vtrace(r, v, nv, term, trunc, gamma, lam)
    expected = []
    for t in range(len(r)):
        ended = term[t] or trunc[t] or t == len(r) - 1
        g_next = 0.0 if term[t] else (nv[t] if ended else float(target[t + 1]))
        expected.append(r[t] + gamma * g_next - v[t])
    np.testing.assert_allclose(adv, expected, rtol=1e-4, atol=1e-4)


def test_vtrace_advantage_is_delta_plus_full_next_gae_advantage():
    """delta_t + gamma * A_{t+1} (GAE has gamma * lambda): equal to GAE at lambda = 1, and
    at the last step / an episode end it is the one-step TD error."""
    r, v, nv = [1.0, -0.5, 2.0, 0.3], [0.2, 0.4, -0.1, 0.7], [0.4, -0.1, 0.9, 1.5]
    term, trunc = [F, F, T, F], [F, F, F, F]
    at_one, _ = vtrace(r, v, nv, term, trunc, 0.9, 1.0)
    np.testing.assert_allclose(at_one, run(r, v, nv, term, trunc, 0.9, 1.0, jit=False)[0], rtol=1e-5)
    adv, _ = vtrace(r, v, nv, term, trunc, 0.9, 0.5)
    gae_adv, _ = run(r, v, nv, term, trunc, 0.9, 0.5, jit=False)
    delta = np.array(r) + 0.9 * np.array(nv) * (1 - np.array(term)) - np.array(v)
    np.testing.assert_allclose(adv[:2], delta[:2] + 0.9 * gae_adv[1:3], rtol=1e-5)
    np.testing.assert_allclose(adv[2:], delta[2:], rtol=1e-5)
    assert not np.allclose(adv, gae_adv)
