"""What PPO and A2C share: config fields, state, rollout-and-GAE batch, and the loss.

Both collect `rollout_length` x `num_envs` transitions with the one rollout primitive, compute
values through the critic protocol and GAE with separate bootstrap values, and minimise

    policy_loss + vf_coef * value_loss - ent_coef * entropy

PPO's policy term is the clipped ratio objective over epochs of minibatches; A2C's is the
plain policy gradient `-A log pi` in one step over the whole batch.

A config with a `post_critic` (PDPPO, `jaxac.algos.pdppo`) adds a second critic V_x of the
post-decision observation s^x_t: the rollout records s^x_t, the advantage is the larger of the
two, max(A_t, R_t - V_x(s^x_t)), and the value loss gains V_x's term (see `dual_value_loss`).
"""

from __future__ import annotations

from typing import Any, Dict, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxac import config as C
from jaxac.algos import common
from jaxac.critics import Particles
from jaxac.networks import init_policy, sampling_policy
from jaxac.normalize import ObsNorm, RunningStats, normalized_policy
from jaxac.optim import Optim
from jaxac.returns import gae, vtrace_advantage
from jaxac.rollout import EnvCarry, episode_metrics, unroll
from jaxac.types import Array, Metrics, PRNGKey


ADVANTAGES = ("gae", "vtrace")


@C.group
class AdvantageConfig(C.Group):
    """How the policy's advantages are estimated: `estimator` "gae", or "vtrace"
    (r + gamma * G' - V with G' the next step's lambda-return, brax.training's; see
    `jaxac.returns.vtrace_advantage`); value targets are the lambda-returns either way.
    `gae_lambda` is a leaf; `normalize` standardises them per (mini)batch."""

    estimator: str = C.static("gae", "GAE, or brax's r + gamma G' - V", choices=ADVANTAGES)
    normalize: bool = C.static(True, 'standardise advantages per (mini)batch')
    gae_lambda: float = C.leaf(0.95, 'GAE lambda (also of the value targets)')
    def validate(self, prefix: str = "advantage.") -> None:
        C.check_choice(f"{prefix}estimator", self.estimator, ADVANTAGES)
        C.check_number(f"{prefix}gae_lambda", self.gae_lambda, C.unit_interval, "in [0, 1]")


@C.group
class Config(common.Config):
    """Fields every on-policy actor-critic has, besides `common.Config`'s. Subclasses
    override defaults and add fields.

    Static: rollout_length (steps per environment and update). Leaves: ent_coef, vf_coef. Group:
    advantage (`AdvantageConfig`). The default optimiser is Adam with PureJaxRL's settings
    (lr 2.5e-4 decayed linearly, eps 1e-5, gradient clip 0.5).
    """

    optim: Optim = Optim(name="adam", schedule="linear", learning_rate=2.5e-4, eps=1e-5, max_grad_norm=0.5)
    rollout_length: int = C.static(128, 'steps per environment and update')
    advantage: AdvantageConfig = AdvantageConfig()
    ent_coef: float = C.leaf(0.01, 'entropy bonus coefficient')
    vf_coef: float = C.leaf(0.5, 'value loss coefficient')
    def validate(self, prefix: str = "") -> None:
        super().validate(prefix)
        if self.total_steps < self.steps_per_update:
            raise C.ConfigError(
                f"total_steps={self.total_steps} is invalid: it must be at least one rollout "
                f"(num_envs * rollout_length = {self.steps_per_update})."
            )
        C.check_number("ent_coef", self.ent_coef, C.non_negative, ">= 0")
        C.check_number("vf_coef", self.vf_coef, C.non_negative, ">= 0")

    def size_fields(self):
        return super().size_fields() + ("rollout_length",)

    @property
    def steps_per_update(self) -> int:
        """Env steps per seed and update: one rollout, num_envs * rollout_length."""
        return self.num_envs * self.rollout_length

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.steps_per_update

    @property
    def warmup_steps(self) -> int:
        """Env steps taken by `init` before the first update (none on-policy)."""
        return 0


@struct.dataclass
class State:
    """Everything a PPO, A2C or PDPPO run carries between updates (one seed; vmapped, every
    leaf gains a leading member axis). A checkpoint saves it whole."""

    params: Dict[str, Any]  # {"actor": ..., "critic": ...}
    opt_state: optax.OptState
    env: EnvCarry
    key: PRNGKey
    update_step: Array  # int32 count of completed updates
    obs_stats: RunningStats  # observation normaliser's statistics (unused when it is off)


@struct.dataclass
class Segment:
    """What GAE reads of step sequences to re-estimate advantages, time-major [T, S, ...]:
    normalised observations, the observation after each sequence's last step [S, ...] (its
    next observation, pre-reset), scaled rewards, end flags, and the rollout critic's values
    of every step's next observation. `collect` gives one sequence per environment (the whole
    rollout); `split_segments` cuts it into shorter ones."""

    obs: Array
    last_next_obs: Array
    reward: Array
    terminated: Array
    truncated: Array
    next_value: Array


@struct.dataclass
class Batch:
    """Flattened rollout data for the loss, leaves [N, ...]."""

    obs: Array
    action: Array
    log_prob: Array
    value: Array
    advantage: Array
    target: Array
    post_obs: Optional[Array] = None  # dual critics: post-decision observations
    post_value: Optional[Array] = None  # and the rollout post critic's values of them
    policy_carry: Any = ()  # the policy's carry each action was taken with (() feed-forward)


class Components(NamedTuple):
    """What a config builds: wrapped env and its params, policy net and distribution, critic,
    optimiser. Rebuilt (cheaply, at trace time) by `init` and `update`; tests and evaluation
    use it to read values and actions out of a trained state."""

    env: Any
    env_params: Any
    net: Any
    dist: Any
    critic: Any
    tx: optax.GradientTransformation
    obs_norm: ObsNorm
    post_critic: Any = None  # the post-decision critic V_x (configs with `post_critic`)


def components(cfg: Config, optimizer_steps_per_update: int) -> Components:
    """Environment, policy network, action distribution, critic and optimiser for `cfg`."""
    env, env_params = common.training_env(cfg.env, cfg.env_kwargs)
    net, dist = cfg.policy.build(env.action_space(env_params))
    context = common.critic_context(cfg, env, env_params)
    critic = cfg.critic.build(context)
    post = getattr(cfg, "post_critic", None)
    tx = cfg.optim.transform(cfg.num_updates, optimizer_steps_per_update)
    return Components(env, env_params, net, dist, critic, tx, cfg.obs.norm(),
                      None if post is None else post.build(context))


def init(cfg: Config, comps: Components, key: PRNGKey) -> State:
    """The state before the first update: reset environments, initial networks and optimiser."""
    key, k_env, k_actor, k_critic = jax.random.split(key, 4)
    carry, obs = common.start(comps.env, comps.env_params, cfg.num_envs, k_env, comps.net)
    params = {"actor": init_policy(comps.net, k_actor, obs), "critic": comps.critic.init(k_critic, obs, None)}
    if comps.post_critic is not None:  # folded in: a single critic's draws stay as they were
        params["post_critic"] = comps.post_critic.init(jax.random.fold_in(k_critic, 1), obs, None)
    return State(params, comps.tx.init(params), carry, key, jnp.zeros((), jnp.int32),
                 comps.obs_norm.init(obs.shape))


def collect(
    cfg: Config, comps: Components, state: State, key: PRNGKey
) -> Tuple[State, Batch, Segment, Metrics]:
    """One rollout, its values and GAE: (`state` with the env carry and observation statistics
    after it, flattened batch, the rollout's `Segment` for re-estimating advantages, rollout
    metrics).

    By default the whole update sees observations normalised with the statistics from before
    the rollout (the policy acted on those, so the loss's probability ratios start at exactly
    1) and the rollout is folded into the statistics for the next update; with
    `obs.stats_before_update` it is folded in first, as brax.training does.
    """
    stats, norm = state.obs_stats, comps.obs_norm
    policy = normalized_policy(sampling_policy(comps.net, comps.dist), norm, stats)
    dual = comps.post_critic is not None
    carry, traj = unroll(
        comps.env, comps.env_params, policy, state.params["actor"], state.env, key, cfg.rollout_length, post_decision=dual
    )
    new_stats = norm.update(stats, traj.obs.reshape((-1,) + traj.obs.shape[2:]))
    seen = new_stats if cfg.obs.stats_before_update else stats
    obs, reward = norm(seen, traj.obs), traj.reward * cfg.reward_scale
    # one critic pass over [obs; next_obs] (next_obs is pre-reset: truncation bootstraps);
    # no key: values for GAE are the deterministic estimate (no dropout)
    both = comps.critic.value(
        state.params["critic"], jnp.concatenate([obs, norm(seen, traj.next_obs)]), None, None
    )
    value, next_value = jnp.split(both, 2)
    advantage, target = estimates(cfg, reward, value, next_value, traj.terminated, traj.truncated)
    seg = Segment(obs, norm(seen, traj.next_obs[-1]), reward, traj.terminated, traj.truncated,
                  next_value)
    batch = Batch(obs, traj.action, traj.log_prob, value, advantage, target, policy_carry=traj.policy_carry)
    metrics = dict(episode_metrics(traj))
    if dual:  # s^x_t shares the observation's statistics: it is the same kind of vector
        post_obs = norm(seen, traj.post_obs)
        post_value = comps.post_critic.value(state.params["post_critic"], post_obs, None, None)
        batch = batch.replace(advantage=jnp.maximum(advantage, target - post_value), post_obs=post_obs,
                              post_value=post_value)
        metrics["post_explained_variance"] = common.explained_variance(post_value, target)
    batch = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), batch)
    metrics["explained_variance"] = common.explained_variance(value, target)
    return state.replace(env=carry, obs_stats=new_stats), batch, seg, metrics


def estimates(cfg: Config, reward: Array, value: Array, next_value: Array, terminated: Array,
              truncated: Array) -> Tuple[Array, Array]:
    """(advantages, value targets) [T, ...] of `cfg.advantage`'s kind; arguments as `gae`'s."""
    advantage, target = gae(reward, value, next_value, terminated, truncated, cfg.gamma,
                            cfg.advantage.gae_lambda)
    if cfg.advantage.estimator == "vtrace":
        advantage = vtrace_advantage(reward, value, next_value, target, terminated, truncated, cfg.gamma)
    return advantage, target


def segment_estimates(cfg: Config, comps: Components, critic_params, seg: Segment) -> Tuple[Array, Array]:
    """(advantages, value targets) [T, S] of `seg` under `critic_params`.

    One critic pass over [obs; last next_obs], T + 1 rows where the rollout's estimate took
    2T: a step that did not end bootstraps from the next step's observation, which is its
    next observation; a terminated one bootstraps from nothing. Only a truncated step's final
    observation is elsewhere, and it keeps the rollout critic's value (about one step in an
    episode's length; evaluating them all would double the pass).
    """
    values = comps.critic.value(
        critic_params, jnp.concatenate([seg.obs, seg.last_next_obs[None]]), None, None
    )
    return _estimates_given(cfg, seg, values)


def _estimates_given(cfg: Config, seg: Segment, values: Array) -> Tuple[Array, Array]:
    """`segment_estimates` from the critic's values [T + 1, S] of [obs; last next_obs]."""
    next_value = jnp.where(seg.truncated, seg.next_value, values[1:])
    return estimates(cfg, seg.reward, values[:-1], next_value, seg.terminated, seg.truncated)


def reestimate(cfg: Config, comps: Components, critic_params, batch: Batch, seg: Segment) -> Batch:
    """`batch` (collected as `seg`) with advantages and value targets re-estimated under
    `critic_params` (`segment_estimates`). The batch's values stay the rollout's: they are
    the reference of the clipped value loss.
    """
    advantage, target = segment_estimates(cfg, comps, critic_params, seg)
    return batch.replace(advantage=advantage.reshape(-1), target=target.reshape(-1))


def _cut(x: Array, length: int) -> Array:
    """[T, E, ...] -> [length, (T // length) * E, ...]: sequence s = k * E + e is env e's
    steps k * length ... (k + 1) * length - 1."""
    k, e = x.shape[0] // length, x.shape[1]
    x = x.reshape((k, length, e) + x.shape[2:]).swapaxes(0, 1)
    return x.reshape((length, k * e) + x.shape[3:])


def split_segments(batch: Batch, seg: Segment, length: int) -> Tuple[Batch, Segment]:
    """A rollout's flat `batch` [T * E, ...] and its `seg` [T, E, ...] cut into segments of
    `length` consecutive steps of one environment, both time-major [length, S, ...] with
    S = T * E / length (brax.training's unrolls). A segment bootstraps from the observation
    after its last step: the next segment's first one, or the rollout's last next_obs.
    The observations are kept once, in the segments (the batch's `obs` is None).
    """
    t, e = seg.reward.shape[:2]
    batch = jax.tree.map(lambda x: _cut(x.reshape((t, e) + x.shape[1:]), length), batch.replace(obs=None))
    after = jnp.concatenate([seg.obs[length::length], seg.last_next_obs[None]])  # [T / length, E, ...]
    cut = Segment(_cut(seg.obs, length), after.reshape((-1,) + after.shape[2:]),
                  *(_cut(x, length) for x in (seg.reward, seg.terminated, seg.truncated, seg.next_value)))
    return batch, cut


def with_estimates(cfg: Config, comps: Components, critic_params, batch: Batch, seg: Segment) -> Batch:
    """Segments `batch` / `seg` [L, S, ...] (`split_segments`) as a flat batch [L * S, ...]
    with advantages and value targets estimated under `critic_params` (which take no
    gradient).

    The critic reads the flat observations, the very array the value loss reads with the
    same parameters, so XLA computes that forward pass once for both (common-subexpression
    elimination); the bootstrap observations are a second pass of S rows.
    """
    critic_params = jax.lax.stop_gradient(critic_params)
    flat = lambda x: x.reshape((-1,) + x.shape[2:])
    obs = flat(seg.obs)
    values = comps.critic.value(critic_params, obs, None, None).reshape(seg.reward.shape)
    last = comps.critic.value(critic_params, seg.last_next_obs, None, None)
    advantage, target = _estimates_given(cfg, seg, jnp.concatenate([values, last[None]]))
    batch = jax.tree.map(flat, batch.replace(advantage=advantage, target=target))
    return batch.replace(obs=obs)


def policy_change(comps: Components, actor_params, batch: Batch, clip_eps: Optional[Array] = None) -> Metrics:
    """How far an update moved the policy on its own batch: the approximate KL
    E[(r - 1) - log r] of the new/old probability ratio r and, with `clip_eps`, the fraction
    of samples whose ratio left [1 - eps, 1 + eps].

    Measured once per update with the updated parameters, rather than averaged over the
    minibatch steps: it is the update's total move, and keeping these reductions out of
    the minibatch loop saves a dozen kernels per gradient step.
    """
    out, _ = comps.net.apply(actor_params, batch.obs, batch.policy_carry)
    log_ratio = comps.dist.log_prob(out, batch.action) - batch.log_prob
    ratio = jnp.exp(log_ratio)
    metrics = {"approx_kl": ((ratio - 1.0) - log_ratio).mean()}
    if clip_eps is not None:
        metrics["clip_fraction"] = (jnp.abs(ratio - 1.0) > clip_eps).mean()
    return metrics


# what `loss` and `gradient_step` report, in a fixed order (PPO stacks them over its loop)
STEP_METRICS = ("loss", "policy_loss", "value_loss", "entropy", "grad_norm")


def loss(
    cfg: Config,
    comps: Components,
    params: Dict[str, Any],
    batch: Batch,
    key: PRNGKey,
    clip_eps: Optional[Array] = None,
    clip_value: bool = False,
) -> Tuple[Array, Metrics]:
    """Actor-critic loss on `batch`.

    `clip_eps=None`: policy gradient `-A log pi` (A2C). Otherwise PPO's clipped ratio
    objective, and with `clip_value` its clipped value loss (for critics whose loss is a
    squared error; the others have no clipped form and train unclipped).
    """
    net, dist, critic = comps.net, comps.dist, comps.critic
    out, _ = net.apply(params["actor"], batch.obs, batch.policy_carry)  # replayed from the rollout's carries
    log_prob = dist.log_prob(out, batch.action)
    adv = batch.advantage
    if cfg.advantage.normalize:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    if clip_eps is None:
        policy_term = -(log_prob * adv)
    else:
        ratio = jnp.exp(log_prob - batch.log_prob)
        clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
        policy_term = -jnp.minimum(ratio * adv, clipped * adv)
    key_entropy, key_value = jax.random.split(key)
    value_term, value_metrics = critic.loss(params["critic"], batch.obs, None, Particles.point(batch.target),
                                            key_value)
    if clip_value and cfg.critic.regression:
        value_term = clipped_value_loss(value_term, value_metrics["value"], batch.value, batch.target, clip_eps)
    if comps.post_critic is not None:
        value_term = dual_value_loss(cfg, comps, params, batch, jax.random.fold_in(key_value, 1), value_term,
                                     value_metrics.get("value"), clip_eps if clip_value else None)
    # the three per-sample terms averaged in one reduction: on CPU each reduction is its own
    # kernel, and this runs in every gradient step
    terms = jnp.stack([policy_term, value_term.reshape(policy_term.shape[0], -1).mean(-1),
                       dist.entropy(out, key_entropy)])
    policy_loss, value_loss, entropy = terms.mean(-1)
    total = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy
    return total, dict(loss=total, policy_loss=policy_loss, value_loss=value_loss, entropy=entropy)


def clipped_value_loss(loss: Array, pred: Array, old: Array, target: Array, clip: Array) -> Array:
    """PPO's clipped value loss max(loss, 0.5 (V_old + clip(V - V_old, -c, c) - y)^2) [N]
    from a squared-error critic's `loss` 0.5 (V - y)^2 [N], the prediction V [N] it was
    computed from (its `value` metric: no second forward pass), the rollout's V_old and y."""
    clipped = old + jnp.clip(pred - old, -clip, clip)
    return jnp.maximum(loss, 0.5 * (clipped - target) ** 2)


DUAL_LOSSES = ("paper", "code")


def dual_value_loss(cfg: Config, comps: Components, params, batch: Batch, key: PRNGKey, value_term: Array,
                    value: Optional[Array], clip: Optional[Array]) -> Array:
    """The value loss [N] of a config with a post-decision critic V_x, by `cfg.dual_loss`:

    `value_term` is V's loss [N] and `value` its prediction V(s_t) (a squared-error critic's).
    "paper": each critic regresses the same targets R_t, V(s_t) with `value_term` and
    V_x(s^x_t) with its own loss (clipped like V's when `clip` is set), summed.
    "code" (the released PDPPO code): 0.5 (min(V(s_t), V_x(s^x_t)) - R_t)^2, so only the
    smaller estimate of each sample learns (squared-error critics only).
    """
    target = Particles.point(batch.target)
    if cfg.dual_loss == "code":
        v_x = comps.post_critic.value(params["post_critic"], batch.post_obs, None, key)
        return 0.5 * (jnp.minimum(value, v_x) - batch.target) ** 2
    post_term, post_metrics = comps.post_critic.loss(params["post_critic"], batch.post_obs, None, target, key)
    if clip is not None and cfg.post_critic.regression:
        post_term = clipped_value_loss(post_term, post_metrics["value"], batch.post_value, batch.target, clip)
    return value_term.reshape(post_term.shape[0], -1).mean(-1) + post_term.reshape(post_term.shape[0], -1).mean(-1)


def gradient_step(comps: Components, loss_fn, params, opt_state, *args) -> Tuple[Any, Any, Metrics]:
    """One optimiser step on `loss_fn(params, *args) -> (loss, metrics)`."""
    grads, metrics = jax.grad(loss_fn, has_aux=True)(params, *args)
    updates, opt_state = comps.tx.update(grads, opt_state, params)
    metrics["grad_norm"] = optax.global_norm(grads)
    return optax.apply_updates(params, updates), opt_state, metrics
