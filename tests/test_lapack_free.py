"""jaxac.envs.lapack_free: Cholesky factorisation and solves as XLA loops, against numpy in
float64, in every calling convention of jax.scipy.linalg that brax and MJX use."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxac.envs import lapack_free


def spd(rng, n, batch=()):
    m = rng.normal(size=batch + (n, n))
    return (m @ np.swapaxes(m, -1, -2) + n * np.eye(n)).astype(np.float32)


@pytest.mark.parametrize("n", [1, 2, 9, 23])
def test_cholesky_and_solves_match_numpy(n):
    rng = np.random.default_rng(n)
    a, b, v = spd(rng, n), rng.normal(size=(n, 3)).astype(np.float32), rng.normal(size=n).astype(np.float32)
    low = np.asarray(jax.jit(lapack_free.cholesky)(a))
    np.testing.assert_allclose(low, np.linalg.cholesky(a.astype(np.float64)), rtol=1e-5, atol=1e-5)
    assert (np.triu(low, 1) == 0).all()
    expected = np.linalg.solve(a.astype(np.float64), b)
    for lower in (False, True):
        c = lapack_free.cho_factor(a, lower=lower)
        solve = jax.jit(lambda factor, rhs: lapack_free.cho_solve((factor, lower), rhs))
        np.testing.assert_allclose(solve(c[0], b), expected, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(lapack_free.cho_solve(c, v), np.linalg.solve(a.astype(np.float64), v), rtol=1e-4, atol=1e-5)
    # the upper factor is what jax's cho_factor(lower=False) returns (MJX keeps it as qLD)
    np.testing.assert_allclose(lapack_free.cho_factor(a)[0], jax.scipy.linalg.cho_factor(a)[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lapack_free.solve(a, np.eye(n, dtype=np.float32), assume_a="pos"),
                               np.linalg.inv(a.astype(np.float64)), rtol=1e-4, atol=1e-5)


def test_batches_and_vmap():
    rng = np.random.default_rng(0)
    a, b = spd(rng, 5, (4, 3)), rng.normal(size=(4, 3, 5)).astype(np.float32)
    expected = np.linalg.solve(a.astype(np.float64), b[..., None])[..., 0]
    np.testing.assert_allclose(lapack_free.cho_solve(lapack_free.cho_factor(a), b), expected, rtol=1e-4, atol=1e-5)
    vmapped = jax.vmap(jax.vmap(lambda x, y: lapack_free.solve(x, y, assume_a="pos")))(a, b)
    np.testing.assert_allclose(vmapped, expected, rtol=1e-4, atol=1e-5)


def test_not_positive_definite_gives_nans_and_general_solve_is_jaxs():
    assert np.isnan(np.asarray(lapack_free.cholesky(-jnp.eye(3)))).all()
    a = np.array([[0.0, 1.0], [1.0, 0.0]], np.float32)  # symmetric, indefinite
    np.testing.assert_allclose(lapack_free.solve(a, np.array([1.0, 2.0], np.float32)), [2.0, 1.0])


def test_compiled_program_has_no_lapack_call():
    text = jax.jit(jax.vmap(lambda a: lapack_free.solve(a, jnp.eye(4), assume_a="pos"))).lower(
        jnp.broadcast_to(jnp.eye(4), (8, 4, 4))).as_text()
    assert "lapack" not in text and "custom_call" not in text


def test_patch_replaces_only_the_module_s_jax():
    import types

    module = types.SimpleNamespace(jax=jax)
    lapack_free.patch(module)
    lapack_free.patch(module)  # idempotent
    assert module.jax.scipy.linalg.cho_factor is lapack_free.cho_factor
    assert module.jax.vmap is jax.vmap and module.jax.scipy.linalg.eigh is jax.scipy.linalg.eigh
    assert jax.scipy.linalg.cho_factor is not lapack_free.cho_factor
