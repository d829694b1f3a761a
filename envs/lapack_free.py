"""Cholesky factorisation and solves as XLA loops, for the physics engines behind the
adapters, and the patch that makes brax and MJX use them.

Why: on CPU, jax's Cholesky (`jax.scipy.linalg.cho_factor`, `solve(..., assume_a="pos")`)
is LAPACK as a custom call. Given a large batch (a vmapped reset or step of every env of
every seed), it splits the batch over XLA's intra-op thread pool and waits, on a thread of
that same pool, for the pieces. Two such calls at once -- the two CPU devices of
`jaxac.parallel` each stepping their seeds' envs -- can take every thread of the pool and
wait for each other for ever (docs/design/lapack.md). The loops here run
on the calling thread and do the same maths
(`cholesky` to LAPACK's float32 rounding; see tests/test_brax.py).

brax's generalized pipeline inverts its mass matrix with `solve(..., assume_a="pos")` at
every reset (its steps use an approximate inverse); MJX (brax's `mjx` backend and every
Playground env) factorises the mass matrix, and in its Newton solver the Hessian, at every
step. `patch(module)` gives only such a module a `jax` whose `scipy.linalg` has these;
everything else keeps jax's own.

Matrices are [..., n, n] with n the number of degrees of freedom (2 for a cart-pole, 23 for
brax's humanoid): a loop of n small steps, vectorised over the batch.
"""

from __future__ import annotations

from typing import Any, Tuple

import jax
import jax.numpy as jnp

from jaxac.types import Array


def _cholesky(a: Array) -> Array:
    """Lower L with L L^T = a, for one SPD matrix [n, n] (all NaN if it is not one, as jax's
    LAPACK factorisation gives)."""
    n = a.shape[-1]
    idx = jnp.arange(n)

    def column(j, low):
        # L's columns >= j are still zero, so low @ low[j] sums over the columns before j
        v = a[:, j] - low @ low[j]
        d = jnp.sqrt(v[j])
        return low.at[:, j].set(jnp.where(idx > j, v / d, jnp.where(idx == j, d, 0.0)))

    low = jax.lax.fori_loop(0, n, column, jnp.zeros_like(a))
    return jnp.where(jnp.isnan(low).any(), jnp.nan, low)  # all NaN, as jax's


def _solve_lower(low: Array, b: Array) -> Array:
    """x with L x = b; b [n] or [n, k]."""
    def row(i, x):  # x's rows >= i are still zero
        return x.at[i].set((b[i] - low[i] @ x) / low[i, i])
    return jax.lax.fori_loop(0, low.shape[-1], row, jnp.zeros_like(b))


def _solve_lower_t(low: Array, b: Array) -> Array:
    """x with L^T x = b, last row first; b [n] or [n, k]."""
    n = low.shape[-1]

    def row(k, x):  # x's rows <= i are still zero
        i = n - 1 - k
        return x.at[i].set((b[i] - low[:, i] @ x) / low[i, i])
    return jax.lax.fori_loop(0, n, row, jnp.zeros_like(b))


cholesky = jnp.vectorize(_cholesky, signature="(n,n)->(n,n)")


def _cho_solve_lower(low: Array, b: Array) -> Array:
    return _solve_lower_t(low, _solve_lower(low, b))


def cho_factor(a: Array, lower: bool = False, overwrite_a: bool = False,
               check_finite: bool = True) -> Tuple[Array, bool]:
    """`jax.scipy.linalg.cho_factor`: (the factor, `lower`); the upper factor is L^T."""
    low = cholesky(a)
    return (low if lower else jnp.swapaxes(low, -1, -2)), lower


def cho_solve(c_and_lower: Tuple[Array, bool], b: Array, overwrite_b: bool = False,
              check_finite: bool = True) -> Array:
    """`jax.scipy.linalg.cho_solve`: a^-1 b from `cho_factor`'s output; b [..., n] or
    [..., n, k] as jax's (one factor [n, n] with b [n] or [n, k])."""
    c, lower = c_and_lower
    low = c if lower else jnp.swapaxes(c, -1, -2)
    if b.ndim == low.ndim - 1:
        return jnp.vectorize(_cho_solve_lower, signature="(n,n),(n)->(n)")(low, b)
    return jnp.vectorize(_cho_solve_lower, signature="(n,n),(n,k)->(n,k)")(low, b)


def solve(a: Array, b: Array, lower: bool = False, overwrite_a: bool = False,
          overwrite_b: bool = False, debug: bool = False, check_finite: bool = True,
          assume_a: str = "gen") -> Array:
    """`jax.scipy.linalg.solve`: by `cholesky` for `assume_a="pos"`, else jax's own."""
    if assume_a != "pos":
        return jax.scipy.linalg.solve(a, b, lower=lower, assume_a=assume_a)
    return cho_solve(cho_factor(a, lower=True), b)


class _Linalg:
    """`jax.scipy.linalg` with this module's `cho_factor`, `cho_solve` and `solve`."""

    cho_factor = staticmethod(cho_factor)
    cho_solve = staticmethod(cho_solve)
    solve = staticmethod(solve)

    def __getattr__(self, name: str) -> Any:
        return getattr(jax.scipy.linalg, name)


class _Scipy:
    linalg = _Linalg()

    def __getattr__(self, name: str) -> Any:
        return getattr(jax.scipy, name)


class Jax:
    """The `jax` module as a patched module sees it: `jax.scipy.linalg` is `_Linalg`."""

    scipy = _Scipy()

    def __getattr__(self, name: str) -> Any:
        return getattr(jax, name)


def patch(*modules: Any) -> None:
    """Gives each module (which must call `jax.scipy.linalg` through its global `jax`) the
    loops above instead of LAPACK. Idempotent."""
    for module in modules:
        if not isinstance(module.jax, Jax):
            module.jax = Jax()


def engine_modules() -> list:
    """The engine modules that factorise through `jax.scipy.linalg`, of those installed:
    brax's generalized pipeline (`mass`, `integrator`) and MJX (`smooth`: the mass matrix;
    `forward`: implicit integration; `solver`: the Newton step's Hessian)."""
    modules = []
    try:
        from brax.generalized import integrator, mass
        modules += [mass, integrator]
    except ImportError:
        pass
    try:
        from mujoco.mjx._src import forward, smooth, solver
        modules += [forward, smooth, solver]
    except ImportError:
        pass
    return modules


def patch_engines() -> None:
    """`patch` every one of `engine_modules()` (the brax and Playground adapters call it)."""
    patch(*engine_modules())
