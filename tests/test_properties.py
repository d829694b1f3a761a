"""Property-based tests (hypothesis) for returns, the replay buffer and the distributional
projections. Shapes are fixed per test so that each jitted function compiles once."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from jaxac import buffers
from jaxac.critics.base import Particles
from jaxac.critics.categorical import categorical_projection, hl_gauss_probs
from jaxac.critics.ensemble import truncate_top
from jaxac.returns import gae

T, B = 10, 3
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)
floats = st.floats(-10, 10, width=32)
seq = hnp.arrays(np.float32, (T, B), elements=floats)
flags = hnp.arrays(bool, (T, B))
unit = st.floats(0.0, 1.0)

_gae = jax.jit(gae)


def gae_by_definition(r, v, nv, term, trunc, gamma, lam):
    """The forward view: A_t = sum_k (gamma lam)^k delta_{t+k}, up to and including the first
    step that ends the episode; delta bootstraps from the final observation unless terminated."""
    delta = r.astype(np.float64) + gamma * (1.0 - term) * nv - v
    done = term | trunc
    adv = np.zeros_like(delta, np.float64)
    for t in range(T):
        for b in range(B):
            coef = 1.0
            for k in range(t, T):
                adv[t, b] += coef * delta[k, b]
                if done[k, b]:
                    break
                coef *= gamma * lam
    return adv


@SETTINGS
@given(seq, seq, seq, flags, flags, unit, unit)
def test_gae_matches_its_forward_definition(r, v, nv, term, trunc, gamma, lam):
    trunc = trunc & ~term
    adv, ret = _gae(r, v, nv, term, trunc, gamma, lam)
    want = gae_by_definition(r, v, nv, term, trunc, gamma, lam)
    np.testing.assert_allclose(adv, want, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(ret, np.asarray(adv) + v, rtol=1e-5, atol=1e-4)


@SETTINGS
@given(seq, seq, seq, unit)
def test_lambda_one_to_a_terminal_step_is_the_discounted_return_whatever_the_values(r, v, last, gamma):
    # within an episode the bootstrap value of step t is the value of step t + 1's observation
    nv = np.concatenate([v[1:], last[:1]])
    term = np.zeros((T, B), bool)
    term[-1] = True
    _, ret = _gae(r, v, nv, term, np.zeros((T, B), bool), gamma, 1.0)
    discounts = gamma ** np.arange(T)
    want = [[(discounts[: T - t] * r[t:, b]).sum() for b in range(B)] for t in range(T)]
    np.testing.assert_allclose(ret, np.array(want), rtol=1e-4, atol=1e-3)


@SETTINGS
@given(seq, seq, seq, flags, unit, unit)
def test_lambda_zero_is_the_one_step_target(r, v, nv, term, gamma, lam):
    _, ret = _gae(r, v, nv, term, ~term, gamma, 0.0)
    np.testing.assert_allclose(ret, r + gamma * (1 - term) * nv, rtol=1e-5, atol=1e-4)


CAPACITY = 8


@SETTINGS
@given(st.lists(st.sampled_from([1, 3, 5, 8]), min_size=1, max_size=8), st.integers(0, 2**31 - 1))
def test_buffer_holds_the_last_capacity_items_and_samples_only_them(sizes, seed):
    buf = buffers.init({"id": jnp.zeros((), jnp.int32), "x": jnp.zeros((2,), jnp.bfloat16)}, CAPACITY)
    added = []
    for n in sizes:
        ids = np.arange(len(added), len(added) + n, dtype=np.int32)
        buf = buffers.add(buf, {"id": ids, "x": np.stack([ids, -ids], 1).astype(np.float32)})
        added.extend(ids.tolist())
    assert int(buf.size) == min(len(added), CAPACITY)
    assert int(buf.insert) == len(added) % CAPACITY
    stored = np.asarray(buf.data["id"])[: int(buf.size)]
    assert sorted(stored.tolist()) == sorted(added[-CAPACITY:])
    for slot, item in enumerate(stored):  # each item sits at its insertion index mod capacity
        assert added.index(item) % CAPACITY == slot
    batch = buffers.sample(buf, jax.random.key(seed), 16)
    assert set(np.asarray(batch["id"]).tolist()) <= set(added[-CAPACITY:])
    assert batch["x"].dtype == jnp.float32
    np.testing.assert_array_equal(batch["x"][:, 0], batch["id"])


SUPPORT = jnp.linspace(-5.0, 5.0, 11)
K = 6
# no subnormals: XLA's CPU sort compares them as zero (flush-to-zero), numpy does not
atoms = hnp.arrays(np.float32, (4, K), elements=st.floats(-8, 8, width=32, allow_subnormal=False))
weights = hnp.arrays(np.float32, (4, K), elements=st.floats(0.125, 1.0, width=32))
_project = jax.jit(lambda a, w: categorical_projection(Particles(a, w), SUPPORT))


@SETTINGS
@given(atoms, weights)
def test_c51_projection_keeps_mass_and_the_mean_of_the_clipped_atoms(a, w):
    w = w / w.sum(-1, keepdims=True)
    probs = np.asarray(_project(a, w))
    assert (probs >= -1e-7).all()
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    # linear interpolation between neighbours preserves the mean of the (clipped) atoms
    np.testing.assert_allclose(probs @ np.asarray(SUPPORT), (np.clip(a, -5, 5) * w).sum(-1), atol=1e-4)


@SETTINGS
@given(hnp.arrays(np.int32, (4, K), elements=st.integers(0, 10)), weights)
def test_c51_atoms_on_support_points_keep_their_mass_there(index, w):
    w = w / w.sum(-1, keepdims=True)
    probs = np.asarray(_project(np.asarray(SUPPORT)[index], w))
    want = np.zeros((4, 11))
    for row in range(4):
        np.add.at(want[row], index[row], w[row])
    np.testing.assert_allclose(probs, want, atol=1e-5)


EDGES = jnp.linspace(-5.5, 5.5, 12)  # 11 bins of width 1 centred on SUPPORT
_hl = jax.jit(lambda y: hl_gauss_probs(Particles.point(y), EDGES, 0.75))


@SETTINGS
@given(hnp.arrays(np.float32, (8,), elements=st.floats(-3.0, 3.0, width=32)))
def test_hl_gauss_histogram_is_a_distribution_centred_on_the_target(y):
    probs = np.asarray(_hl(y))
    assert (probs >= 0).all()
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    # well inside the range the histogram's mean is the target to a small fraction of a bin
    np.testing.assert_allclose(probs @ np.asarray(SUPPORT), y, atol=0.02)


_truncate = jax.jit(lambda a, w: truncate_top(Particles(a, w), 2))


@SETTINGS
@given(atoms, weights)
def test_truncation_keeps_the_smallest_atoms_sorted_and_renormalised(a, w):
    out = _truncate(a, w)
    kept = np.asarray(out.atoms)
    np.testing.assert_array_equal(kept, np.sort(a, -1)[:, : K - 2])
    np.testing.assert_allclose(np.asarray(out.weights).sum(-1), 1.0, atol=1e-5)
