"""Torsos and policy heads.

A policy is a flax module producing distribution parameters plus an `ActionDist` (a static,
hashable description) that turns them into samples, log-probs and entropies. Distributions
come from distrax; the tanh-Gaussian keeps the *pre-tanh* sample as the action so that its
log-prob is recomputed exactly (no atanh of a saturated action) with the stable log-det
`2 (log 2 - u - softplus(-2u))` (distrax's `Tanh` bijector).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Sequence, Tuple

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxac import config as C
from jaxac.env import Box, Discrete, MultiDiscrete
from jaxac.rollout import Policy
from jaxac.types import Array, PRNGKey

ACTIVATIONS: dict = {
    "tanh": nn.tanh,
    "relu": nn.relu,
    "gelu": nn.gelu,
    "swish": nn.swish,
    "elu": nn.elu,
}


def orthogonal(scale: float = 1.0):
    """Orthogonal initializer equal to flax's `nn.initializers.orthogonal`, without LAPACK.

    flax computes `Q, R = qr(A)` and returns `Q * sign(diag(R))`. Under `vmap` (a seed sweep)
    that QR becomes jaxlib's batched LAPACK kernel, which fans out onto XLA's intra-op thread
    pool and blocks waiting for it; two such kernels running at once on a 2-thread pool wait
    on each other forever (docs/design/lapack.md). Gram-Schmidt with
    re-orthogonalisation gives exactly `Q * sign(diag(R))` (its R has a positive diagonal)
    from plain matrix-vector products, so the distribution and values match flax's.
    """

    def init(key, shape, dtype=jnp.float32):
        n_rows, n_cols = int(np.prod(shape[:-1])), shape[-1]
        q = _gram_schmidt(jax.random.normal(key, _tall(n_rows, n_cols), jnp.float32))
        q = q if n_rows >= n_cols else q.T
        return (scale * q).reshape(shape).astype(dtype)

    return init


def _tall(n_rows: int, n_cols: int) -> Tuple[int, int]:
    return (n_rows, n_cols) if n_rows >= n_cols else (n_cols, n_rows)


def _gram_schmidt(a: Array) -> Array:
    """Orthonormal columns of a tall [m, n] matrix (classical Gram-Schmidt, applied twice)."""
    n = a.shape[1]

    def column(j, q):
        v = a[:, j]
        earlier = (jnp.arange(n) < j).astype(a.dtype)
        for _ in range(2):  # the second pass restores orthogonality lost to rounding
            v = v - q @ ((q.T @ v) * earlier)
        norm = jnp.linalg.norm(v)
        # a zero column (the padding of `orthogonal_stack`) stays zero instead of NaN
        return q.at[:, j].set(v / jnp.where(norm > 0, norm, 1.0))

    return jax.lax.fori_loop(0, n, column, jnp.zeros_like(a))


NETWORK_INITS = ("orthogonal", "lecun_uniform")


class MLP(nn.Module):
    """Dense layers with orthogonal init; last layer linear with gain `out_scale`
    (`weight_init="lecun_uniform"`: brax.training's LeCun-uniform kernels on every layer, where
    `out_scale` does not apply).

    Hidden layers are Dense -> Dropout (if `dropout` > 0) -> LayerNorm (if `layer_norm`) ->
    activation, DroQ's order. Dropout is active only when `deterministic=False` (the caller
    then passes a `dropout` rng to `apply`).

    Input [..., D] -> output [..., out_dim].
    """

    hidden: Sequence[int]
    out_dim: int
    activation: str = "tanh"
    out_scale: float = 1.0
    layer_norm: bool = False
    dropout: float = 0.0
    weight_init: str = "orthogonal"

    @nn.compact
    def __call__(self, x: Array, deterministic: bool = True) -> Array:
        act = ACTIVATIONS[self.activation]
        inits = self._kernel_inits(x.shape[-1])
        for width, kernel_init in zip(self.hidden, inits):
            x = nn.Dense(width, kernel_init=kernel_init)(x)
            if self.dropout > 0:
                x = nn.Dropout(self.dropout, deterministic=deterministic)(x)
            if self.layer_norm:
                x = nn.LayerNorm()(x)
            x = act(x)
        return nn.Dense(self.out_dim, kernel_init=inits[-1])(x)

    def _kernel_inits(self, in_dim: int) -> list:
        """One initializer per Dense layer: brax's LeCun-uniform, or orthogonal ones all made by
        one `orthogonal_stack`.

        flax gives every parameter its own key (a `fold_in`), and each layer would draw its
        own normal and run its own Gram-Schmidt loop; on CPU each of those is separately
        compiled code (threefry is a loop there), and they made up most of the compile time
        of `init` (PPO CartPole: init 2.4 s of a 6.7 s compile). The per-layer keys flax
        still derives are unused, hence dead code. Outside `init` the initializers are unused.
        """
        if self.weight_init == "lecun_uniform":
            return [nn.initializers.lecun_uniform()] * (len(self.hidden) + 1)
        dims = (in_dim, *self.hidden, self.out_dim)
        scales = [np.sqrt(2.0)] * len(self.hidden) + [self.out_scale]
        if not self.is_initializing():
            return [orthogonal(s) for s in scales]
        kernels = orthogonal_stack(self.make_rng("params"), list(zip(dims[:-1], dims[1:])), scales)
        return [lambda _key, shape, dtype=jnp.float32, k=k: k.reshape(shape).astype(dtype) for k in kernels]


def orthogonal_stack(key: PRNGKey, shapes: Sequence[Tuple[int, int]], scales: Sequence[float]) -> list:
    """Orthogonal matrices of `shapes` (each times its scale) from one normal draw and one
    batched Gram-Schmidt.

    Each matrix is orthogonalised from its own i.i.d. normal block, so its distribution is
    that of flax's `orthogonal` initializer. The blocks are padded with zeros to a common tall
    [M, N] shape: zero rows keep the columns in the block's own subspace, and the padded
    columns come after the real ones, which Gram-Schmidt never revisits.
    """
    talls = [_tall(*s) for s in shapes]
    m, n = max(t[0] for t in talls), max(t[1] for t in talls)
    mask = np.zeros((len(talls), m, n), np.float32)
    for i, (rows, cols) in enumerate(talls):
        mask[i, :rows, :cols] = 1.0
    q = jax.vmap(_gram_schmidt)(jax.random.normal(key, mask.shape, jnp.float32) * mask)
    out = []
    for i, ((rows, cols), shape, scale) in enumerate(zip(talls, shapes, scales)):
        block = q[i, :rows, :cols]
        out.append(scale * (block if shape[0] >= shape[1] else block.T))
    return out


class PolicyNet(nn.Module):
    """The MLP policy network: logits [..., n] (`continuous=False`: discrete actions, or raw
    outputs such as TD3's pre-tanh action) or (mean, log_std) each [..., A] (continuous).

    Every policy network is called `net.apply(params, obs, carry) -> (out, carry)` and gives
    `net.initial_carry(batch_shape)`, the carry an episode starts with: the rollout, the
    losses and evaluation all act through that pair. This one is feed-forward: its carry is
    () and passes through. `state_dependent_std`: log-std from the torso (SAC) or one free
    parameter per action dimension (PPO, as in PureJaxRL and CleanRL).
    """

    hidden: Sequence[int]
    out_dim: int
    continuous: bool
    activation: str = "tanh"
    state_dependent_std: bool = False
    init_log_std: float = C.leaf(0.0, 'initial free log-std')
    weight_init: str = "orthogonal"  # see MLP

    def initial_carry(self, batch_shape: Tuple[int, ...]) -> Any:
        """The carry an episode starts with, leaves [*batch_shape, ...]: none here."""
        return ()

    @nn.compact
    def __call__(self, obs: Array, carry: Any = ()):
        n_out = 2 * self.out_dim if (self.continuous and self.state_dependent_std) else self.out_dim
        out = MLP(self.hidden, n_out, self.activation, out_scale=0.01, weight_init=self.weight_init)(obs)
        if not self.continuous:
            return out, carry
        if self.state_dependent_std:
            mean, log_std = jnp.split(out, 2, axis=-1)
            return (mean, log_std + self.init_log_std), carry
        log_std = self.param(
            "log_std", nn.initializers.constant(self.init_log_std), (self.out_dim,)
        )
        return (out, jnp.broadcast_to(log_std, out.shape)), carry


# name -> policy network class: a flax module with PolicyNet's fields, called
# `(obs, carry) -> (out, carry)`, with `initial_carry(batch_shape)` (see PolicyNet)
NETWORKS: Dict[str, type] = {"mlp": PolicyNet}


def register_network(name: str, network: type) -> None:
    """Makes `network` (a flax module class with `PolicyNet`'s fields, `__call__(obs, carry)
    -> (out, carry)` and `initial_carry(batch_shape)`) the policy network of configs with
    `policy.network=name`, in every algorithm; a class lacking part of that is refused."""
    fields = set(getattr(network, "__dataclass_fields__", {}))
    missing = [n for n in PolicyNet.__dataclass_fields__ if n not in fields and n not in ("parent", "name")]
    missing += [m for m in ("initial_carry", "__call__") if not callable(getattr(network, m, None))]
    if missing:
        raise TypeError(f"policy network {name!r} lacks {', '.join(missing)} (see jaxac.networks.PolicyNet)")
    NETWORKS[name] = network


def init_policy(net: nn.Module, key: PRNGKey, obs: Array) -> Any:
    """`net`'s parameters, initialised on a batch `obs` [B, ...] with its starting carry."""
    return net.init(key, obs, net.initial_carry(obs.shape[:-1]))


@dataclasses.dataclass(frozen=True)
class ActionDist:
    """How network outputs become actions. `kind`: categorical | multi_categorical |
    gaussian | tanh_gaussian | tanh_deterministic (TD3's actor: the output's tanh, no
    sampling; only `mode` and `to_env` apply). `multi_categorical` (MultiDiscrete actions): one independent
    categorical per dimension d over `nvec[d]` choices, from [..., D * K] logits (K = max
    nvec; a dimension's choices beyond its own size are masked out); log-probs and entropies
    sum over the dimensions.

    For continuous kinds the environment action lies in [-1, 1] (see `RescaleAction`).
    `std`: how the network's second output becomes a standard deviation --
    "exp": `exp(clip(raw, log_std_min, log_std_max))` (CleanRL, jaxrl, PureJaxRL);
    "softplus": `softplus(raw) + min_std` (brax.training's NormalTanhDistribution), which has
    no flat clipped region where the gradient to the std vanishes.
    """

    kind: str
    log_std_min: float = -20.0
    log_std_max: float = 2.0
    size: int = 0  # number of actions (categorical) or action dimensions: the noise's last axis
    std: str = "exp"
    min_std: float = 1e-3
    nvec: Tuple[int, ...] = ()  # multi_categorical: choices per dimension

    def _logits(self, out) -> Array:
        """multi_categorical: [..., D * K] -> [..., D, K] with the missing choices masked."""
        width = max(self.nvec)
        logits = out.reshape(out.shape[:-1] + (len(self.nvec), width))
        valid = jnp.arange(width)[None, :] < jnp.asarray(self.nvec)[:, None]  # [D, K]
        return jnp.where(valid, logits, -1e9)  # finite: 0 * log 0 terms stay 0, not NaN

    def _mean_log_std(self, out) -> Tuple[Array, Array]:
        mean, raw = out
        if self.std == "softplus":
            return mean, jnp.log(jax.nn.softplus(raw) + self.min_std)
        return mean, jnp.clip(raw, self.log_std_min, self.log_std_max)

    def _base(self, out):
        if self.kind == "categorical":
            return distrax.Categorical(logits=out)
        if self.kind == "multi_categorical":
            return distrax.Independent(distrax.Categorical(logits=self._logits(out)), 1)
        mean, log_std = self._mean_log_std(out)
        return distrax.MultivariateNormalDiag(mean, jnp.exp(log_std))

    def _tanh_log_det(self, u: Array) -> Array:
        return distrax.Tanh().forward_log_det_jacobian(u).sum(-1)

    def sample_and_log_prob(self, out, key: PRNGKey) -> Tuple[Array, Array]:
        """A reparameterised (continuous) sample and its log-prob."""
        u, log_prob = self._base(out).sample_and_log_prob(seed=key)
        if self.kind == "tanh_gaussian":
            log_prob = log_prob - self._tanh_log_det(u)
        return u, log_prob

    def noise(self, key: PRNGKey, shape: Tuple[int, ...]) -> Array:
        """Standard noise for `sample_with_noise`, [*shape, size]: Gumbel (categorical) or
        N(0, 1) (Gaussian kinds)."""
        if self.kind == "multi_categorical":
            return jax.random.gumbel(key, tuple(shape) + (len(self.nvec), max(self.nvec)))
        draw = jax.random.gumbel if self.kind == "categorical" else jax.random.normal
        return draw(key, tuple(shape) + (self.size,))

    def sample_with_noise(self, out, noise: Array) -> Tuple[Array, Array]:
        """A sample and its log-prob from pre-drawn `noise` [..., size]: the Gumbel-max trick
        (categorical) or `mean + std * noise` (Gaussian kinds, before any tanh)."""
        if self.kind in ("categorical", "multi_categorical"):
            logits = self._logits(out) if self.kind == "multi_categorical" else out
            action = jnp.argmax(logits + noise, axis=-1)
            log_p = jnp.take_along_axis(jax.nn.log_softmax(logits), action[..., None], -1)[..., 0]
            return action, log_p.sum(-1) if self.kind == "multi_categorical" else log_p
        mean, log_std = self._mean_log_std(out)
        u = mean + jnp.exp(log_std) * noise
        log_prob = (-0.5 * noise**2 - log_std - 0.5 * np.log(2 * np.pi)).sum(-1)
        if self.kind == "tanh_gaussian":
            log_prob = log_prob - self._tanh_log_det(u)
        return u, log_prob

    def log_prob(self, out, action: Array) -> Array:
        log_prob = self._base(out).log_prob(action)
        if self.kind == "tanh_gaussian":
            log_prob = log_prob - self._tanh_log_det(action)
        return log_prob

    def entropy(self, out, key: PRNGKey) -> Array:
        """Exact for categorical and Gaussian; a one-sample estimate for tanh-Gaussian."""
        if self.kind == "tanh_gaussian":
            return -self.sample_and_log_prob(out, key)[1]
        return self._base(out).entropy()

    def mode(self, out) -> Array:
        return out if self.kind == "tanh_deterministic" else self._base(out).mode()

    def to_env(self, action: Array) -> Array:
        """The environment action for a distribution sample."""
        return jnp.tanh(action) if self.kind in ("tanh_gaussian", "tanh_deterministic") else action


STD_TRANSFORMS = ("exp", "softplus")


def policy_for(action_space, hidden: Sequence[int], activation: str, continuous_kind: str,
               state_dependent_std: bool = False, init_log_std: float = 0.0, std: str = "exp",
               weight_init: str = "orthogonal", network: str = "mlp") -> Tuple[PolicyNet, ActionDist]:
    """The policy network (`NETWORKS[network]`) and distribution that fit an action space
    (`std`: see ActionDist; `weight_init`: see MLP)."""
    PolicyNet = NETWORKS[network]  # noqa: N806 - the registered class in PolicyNet's place
    if isinstance(action_space, Discrete):
        n = int(action_space.n)
        return PolicyNet(tuple(hidden), n, False, activation, weight_init=weight_init), ActionDist("categorical", size=n)
    if isinstance(action_space, MultiDiscrete):
        nvec = tuple(int(n) for n in action_space.nvec)
        net = PolicyNet(tuple(hidden), len(nvec) * max(nvec), False, activation, weight_init=weight_init)
        return net, ActionDist("multi_categorical", size=len(nvec), nvec=nvec)
    if isinstance(action_space, Box):
        dim = int(action_space.shape[0])
        net = PolicyNet(tuple(hidden), dim, True, activation, state_dependent_std, init_log_std, weight_init)
        return net, ActionDist("gaussian" if continuous_kind == "auto" else continuous_kind, size=dim, std=std)
    raise TypeError(f"unsupported action space {action_space!r}")


def sampling_policy(net: nn.Module, dist: ActionDist) -> Policy:
    """A `jaxac.rollout.Policy` that samples from the distribution with pre-drawn noise."""

    def act(params, obs, carry, noise):
        out, carry = net.apply(params, obs, carry)
        action, log_prob = dist.sample_with_noise(out, noise)
        return action, dist.to_env(action), log_prob, carry

    return Policy(dist.noise, act, lambda num_envs: net.initial_carry((num_envs,)))


DISTRIBUTIONS = ("auto", "gaussian", "tanh_gaussian")  # auto: gaussian (discrete actions: categorical)


@C.group
class PolicyConfig(C.Group):
    """The policy network and its action distribution (all static).

    `network` names a registered policy network (`NETWORKS`: "mlp", or one added with
    `register_network`). `hidden`/`activation`/`init` also shape the critic unless its own
    `hidden` is set.
    `distribution`: auto (the default) records that the action space decides it: categorical
    for discrete actions (whatever it says), gaussian for continuous ones, unless set to
    gaussian | tanh_gaussian; `state_dependent_std`
    False gives one free log-std per action dimension (PureJaxRL, CleanRL), True makes the
    std a second output of the network (brax.training); `std` is how the raw output becomes
    the std (see `ActionDist`); `init_log_std` the free log-std's start.
    """

    network: str = C.static("mlp", "registered policy network (jaxac.networks.NETWORKS)")
    hidden: Tuple[int, ...] = C.static((64, 64), "hidden widths (also the critic's by default)")
    activation: str = C.static("tanh", 'hidden activation', choices=tuple(ACTIVATIONS))
    distribution: str = C.static("auto", 'continuous-action distribution (auto: gaussian)',
                                 choices=DISTRIBUTIONS)
    state_dependent_std: bool = C.static(False, 'std is a network output')
    init_log_std: float = C.static(0.0, 'initial free log-std')
    std: str = C.static("exp", "raw output to std (softplus: brax's)", choices=STD_TRANSFORMS)
    init: str = C.static("orthogonal", "weight init (lecun_uniform: brax's)", choices=NETWORK_INITS)

    def validate(self, prefix: str = "policy.") -> None:
        C.check_choice(f"{prefix}network", self.network, tuple(NETWORKS))
        check_hidden(f"{prefix}hidden", self.hidden)
        C.check_choice(f"{prefix}activation", self.activation, tuple(ACTIVATIONS))
        C.check_choice(f"{prefix}distribution", self.distribution, DISTRIBUTIONS)
        C.check_choice(f"{prefix}std", self.std, STD_TRANSFORMS)
        C.check_choice(f"{prefix}init", self.init, NETWORK_INITS)
        C.check_number(f"{prefix}init_log_std", self.init_log_std, lambda x: abs(x) < 10, "in (-10, 10)")

    def build(self, action_space) -> Tuple["PolicyNet", "ActionDist"]:
        """The policy network and distribution for `action_space`."""
        return policy_for(action_space, self.hidden, self.activation, self.distribution,
                          self.state_dependent_std, self.init_log_std, std=self.std, weight_init=self.init,
                          network=self.network)


def check_hidden(name: str, hidden) -> None:
    """`ConfigError` unless `hidden` is a tuple of positive layer widths."""
    if not isinstance(hidden, tuple) or any(not isinstance(h, int) or h < 1 for h in hidden):
        raise C.ConfigError(f"{name}={hidden!r} is invalid: use a tuple of positive layer widths.")
