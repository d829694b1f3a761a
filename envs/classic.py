"""Classic control in pure JAX, step-for-step faithful to gymnasium 1.x.

Each environment includes gymnasium's registered time limit (reported as `truncated`), so the
episode semantics match `gymnasium.make(name)`. Dynamics are copied term by term from
gymnasium's classic_control modules; `tests/test_classic.py` checks parity against them.
States are float32 (gymnasium integrates CartPole, Pendulum and Acrobot in float64; the parity
test compares one step at a time from the same state to keep that difference at ~1e-6).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from flax import struct

from jaxac.env import Box, Discrete, make_timestep
from jaxac.types import Array


# --------------------------------------------------------------------------------------------
# CartPole-v1
# --------------------------------------------------------------------------------------------
@struct.dataclass
class CartPoleParams:
    """CartPole-v1's physics and limits (gymnasium's values)."""

    gravity: float = 9.8
    masscart: float = 1.0
    masspole: float = 0.1
    length: float = 0.5  # half the pole's length
    force_mag: float = 10.0
    tau: float = 0.02
    theta_threshold: float = 12 * 2 * math.pi / 360
    x_threshold: float = 2.4
    max_steps: int = struct.field(pytree_node=False, default=500)


@struct.dataclass
class CartPoleState:
    """Cart position and velocity, pole angle and angular velocity, and the step count."""

    x: Array
    x_dot: Array
    theta: Array
    theta_dot: Array
    time: Array


@dataclasses.dataclass(frozen=True)
class CartPole:
    """CartPole-v1: push left (0) or right (1); +1 per step; 500-step limit."""

    def default_params(self) -> CartPoleParams:
        return CartPoleParams()

    def reset(self, key, params):
        x, x_dot, theta, theta_dot = jax.random.uniform(key, (4,), minval=-0.05, maxval=0.05)
        state = CartPoleState(x, x_dot, theta, theta_dot, jnp.zeros((), jnp.int32))
        return state, make_timestep(self._obs(state), 0.0, False, False)

    def step(self, key, state, action, params):
        force = jnp.where(action == 1, params.force_mag, -params.force_mag)
        total_mass = params.masspole + params.masscart
        polemass_length = params.masspole * params.length
        cos, sin = jnp.cos(state.theta), jnp.sin(state.theta)
        temp = (force + polemass_length * state.theta_dot**2 * sin) / total_mass
        thetaacc = (params.gravity * sin - cos * temp) / (
            params.length * (4.0 / 3.0 - params.masspole * cos**2 / total_mass)
        )
        xacc = temp - polemass_length * thetaacc * cos / total_mass
        state = CartPoleState(
            x=state.x + params.tau * state.x_dot,
            x_dot=state.x_dot + params.tau * xacc,
            theta=state.theta + params.tau * state.theta_dot,
            theta_dot=state.theta_dot + params.tau * thetaacc,
            time=state.time + 1,
        )
        terminated = (
            (state.x < -params.x_threshold)
            | (state.x > params.x_threshold)
            | (state.theta < -params.theta_threshold)
            | (state.theta > params.theta_threshold)
        )
        truncated = state.time >= params.max_steps
        return state, make_timestep(self._obs(state), 1.0, terminated, truncated)

    @staticmethod
    def _obs(state: CartPoleState) -> Array:
        return jnp.stack([state.x, state.x_dot, state.theta, state.theta_dot]).astype(jnp.float32)

    def observation_space(self, params):
        inf = jnp.finfo(jnp.float32).max
        high = jnp.array([params.x_threshold * 2, inf, params.theta_threshold * 2, inf])
        return Box(-high, high, (4,))

    def reward_range(self, params):
        return 1.0, 1.0

    def action_space(self, params):
        return Discrete(2)


# --------------------------------------------------------------------------------------------
# Pendulum-v1
# --------------------------------------------------------------------------------------------
@struct.dataclass
class PendulumParams:
    """Pendulum-v1's physics and limits (gymnasium's values)."""

    max_speed: float = 8.0
    max_torque: float = 2.0
    dt: float = 0.05
    g: float = 10.0
    m: float = 1.0
    l: float = 1.0
    max_steps: int = struct.field(pytree_node=False, default=200)


@struct.dataclass
class PendulumState:
    """The pendulum's angle and angular velocity, and the step count."""

    theta: Array
    theta_dot: Array
    time: Array


def angle_normalize(x: Array) -> Array:
    """An angle wrapped into [-pi, pi)."""

    return ((x + jnp.pi) % (2 * jnp.pi)) - jnp.pi


@dataclasses.dataclass(frozen=True)
class Pendulum:
    """Pendulum-v1: torque in [-2, 2]; never terminates; 200-step limit."""

    def default_params(self) -> PendulumParams:
        return PendulumParams()

    def reset(self, key, params):
        high = jnp.array([jnp.pi, 1.0])
        theta, theta_dot = jax.random.uniform(key, (2,), minval=-high, maxval=high)
        state = PendulumState(theta, theta_dot, jnp.zeros((), jnp.int32))
        return state, make_timestep(self._obs(state), 0.0, False, False)

    def step(self, key, state, action, params):
        u = jnp.clip(jnp.reshape(action, (-1,))[0], -params.max_torque, params.max_torque)
        th, thdot = state.theta, state.theta_dot
        cost = angle_normalize(th) ** 2 + 0.1 * thdot**2 + 0.001 * u**2
        newthdot = thdot + (
            3 * params.g / (2 * params.l) * jnp.sin(th) + 3.0 / (params.m * params.l**2) * u
        ) * params.dt
        newthdot = jnp.clip(newthdot, -params.max_speed, params.max_speed)
        newth = th + newthdot * params.dt
        state = PendulumState(newth, newthdot, state.time + 1)
        truncated = state.time >= params.max_steps
        return state, make_timestep(self._obs(state), -cost, False, truncated)

    @staticmethod
    def _obs(state: PendulumState) -> Array:
        return jnp.stack(
            [jnp.cos(state.theta), jnp.sin(state.theta), state.theta_dot]
        ).astype(jnp.float32)

    def observation_space(self, params):
        high = jnp.array([1.0, 1.0, params.max_speed])
        return Box(-high, high, (3,))

    def reward_range(self, params):
        """-(theta^2 + 0.1 theta_dot^2 + 0.001 u^2) at its extremes."""
        worst = math.pi**2 + 0.1 * params.max_speed**2 + 0.001 * params.max_torque**2
        return -worst, 0.0

    def action_space(self, params):
        return Box(-params.max_torque, params.max_torque, (1,))


# --------------------------------------------------------------------------------------------
# Acrobot-v1
# --------------------------------------------------------------------------------------------
@struct.dataclass
class AcrobotParams:
    """Acrobot-v1's physics and limits (gymnasium's values, "book" dynamics)."""

    dt: float = 0.2
    link_length_1: float = 1.0
    link_mass_1: float = 1.0
    link_mass_2: float = 1.0
    link_com_pos_1: float = 0.5
    link_com_pos_2: float = 0.5
    link_moi: float = 1.0
    max_vel_1: float = 4 * math.pi
    max_vel_2: float = 9 * math.pi
    max_steps: int = struct.field(pytree_node=False, default=500)


@struct.dataclass
class AcrobotState:
    """The two joint angles and angular velocities, and the step count."""

    s: Array  # [theta1, theta2, dtheta1, dtheta2]
    time: Array


def _acrobot_dsdt(s: Array, torque: Array, p: AcrobotParams) -> Array:
    """gymnasium's `_dsdt` with book_or_nips='book'."""
    m1, m2, l1 = p.link_mass_1, p.link_mass_2, p.link_length_1
    lc1, lc2, i1, i2 = p.link_com_pos_1, p.link_com_pos_2, p.link_moi, p.link_moi
    g = 9.8
    theta1, theta2, dtheta1, dtheta2 = s[0], s[1], s[2], s[3]
    d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * jnp.cos(theta2)) + i1 + i2
    d2 = m2 * (lc2**2 + l1 * lc2 * jnp.cos(theta2)) + i2
    phi2 = m2 * lc2 * g * jnp.cos(theta1 + theta2 - jnp.pi / 2.0)
    phi1 = (
        -m2 * l1 * lc2 * dtheta2**2 * jnp.sin(theta2)
        - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * jnp.sin(theta2)
        + (m1 * lc1 + m2 * l1) * g * jnp.cos(theta1 - jnp.pi / 2)
        + phi2
    )
    ddtheta2 = (
        torque + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1**2 * jnp.sin(theta2) - phi2
    ) / (m2 * lc2**2 + i2 - d2**2 / d1)
    ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
    return jnp.stack([dtheta1, dtheta2, ddtheta1, ddtheta2])


def _wrap(x: Array, low: float, high: float) -> Array:
    """gymnasium's `wrap` (x - diff while x > high; x + diff while x < low), two rounds."""
    diff = high - low
    for _ in range(2):
        x = jnp.where(x > high, x - diff, x)
        x = jnp.where(x < low, x + diff, x)
    return x


@dataclasses.dataclass(frozen=True)
class Acrobot:
    """Acrobot-v1: torque -1/0/+1 on the second joint; -1 per step until the tip is high."""

    def default_params(self) -> AcrobotParams:
        return AcrobotParams()

    def reset(self, key, params):
        s = jax.random.uniform(key, (4,), minval=-0.1, maxval=0.1)
        state = AcrobotState(s, jnp.zeros((), jnp.int32))
        return state, make_timestep(self._obs(state), 0.0, False, False)

    def step(self, key, state, action, params):
        torque = jnp.array([-1.0, 0.0, 1.0])[action]
        dt = params.dt
        f = lambda y: _acrobot_dsdt(y, torque, params)  # noqa: E731
        y0 = state.s
        k1 = f(y0)
        k2 = f(y0 + dt / 2.0 * k1)
        k3 = f(y0 + dt / 2.0 * k2)
        k4 = f(y0 + dt * k3)
        ns = y0 + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        ns = jnp.stack(
            [
                _wrap(ns[0], -jnp.pi, jnp.pi),
                _wrap(ns[1], -jnp.pi, jnp.pi),
                jnp.clip(ns[2], -params.max_vel_1, params.max_vel_1),
                jnp.clip(ns[3], -params.max_vel_2, params.max_vel_2),
            ]
        )
        state = AcrobotState(ns, state.time + 1)
        terminated = -jnp.cos(ns[0]) - jnp.cos(ns[1] + ns[0]) > 1.0
        reward = jnp.where(terminated, 0.0, -1.0)
        truncated = state.time >= params.max_steps
        return state, make_timestep(self._obs(state), reward, terminated, truncated)

    @staticmethod
    def _obs(state: AcrobotState) -> Array:
        s = state.s
        return jnp.stack(
            [jnp.cos(s[0]), jnp.sin(s[0]), jnp.cos(s[1]), jnp.sin(s[1]), s[2], s[3]]
        ).astype(jnp.float32)

    def observation_space(self, params):
        high = jnp.array([1.0, 1.0, 1.0, 1.0, params.max_vel_1, params.max_vel_2])
        return Box(-high, high, (6,))

    def reward_range(self, params):
        return -1.0, 0.0

    def action_space(self, params):
        return Discrete(3)


# --------------------------------------------------------------------------------------------
# MountainCar-v0 and MountainCarContinuous-v0
# --------------------------------------------------------------------------------------------
@struct.dataclass
class MountainCarParams:
    """MountainCar-v0's physics and limits (gymnasium's values)."""

    min_position: float = -1.2
    max_position: float = 0.6
    max_speed: float = 0.07
    goal_position: float = 0.5
    goal_velocity: float = 0.0
    force: float = 0.001
    gravity: float = 0.0025
    max_steps: int = struct.field(pytree_node=False, default=200)


@struct.dataclass
class MountainCarContinuousParams:
    """MountainCarContinuous-v0's physics and limits (gymnasium's values)."""

    min_position: float = -1.2
    max_position: float = 0.6
    max_speed: float = 0.07
    goal_position: float = 0.45
    goal_velocity: float = 0.0
    power: float = 0.0015
    max_steps: int = struct.field(pytree_node=False, default=999)


@struct.dataclass
class MountainCarState:
    """The car's position and velocity, and the step count."""

    position: Array
    velocity: Array
    time: Array


def _mountain_car_move(state, velocity, params):
    """Shared position update: clip speed, move, clip position, stop at the left wall."""
    velocity = jnp.clip(velocity, -params.max_speed, params.max_speed)
    position = jnp.clip(state.position + velocity, params.min_position, params.max_position)
    velocity = jnp.where((position == params.min_position) & (velocity < 0), 0.0, velocity)
    terminated = (position >= params.goal_position) & (velocity >= params.goal_velocity)
    return MountainCarState(position, velocity, state.time + 1), terminated


def _mountain_car_reset(key):
    position = jax.random.uniform(key, (), minval=-0.6, maxval=-0.4)
    state = MountainCarState(position, jnp.zeros(()), jnp.zeros((), jnp.int32))
    return state, make_timestep(_mountain_car_obs(state), 0.0, False, False)


def _mountain_car_obs(state: MountainCarState) -> Array:
    return jnp.stack([state.position, state.velocity]).astype(jnp.float32)


def _mountain_car_obs_space(params) -> Box:
    low = jnp.array([params.min_position, -params.max_speed])
    high = jnp.array([params.max_position, params.max_speed])
    return Box(low, high, (2,))


@dataclasses.dataclass(frozen=True)
class MountainCar:
    """MountainCar-v0: accelerate left/none/right; -1 per step; 200-step limit."""

    def default_params(self) -> MountainCarParams:
        return MountainCarParams()

    def reset(self, key, params):
        return _mountain_car_reset(key)

    def step(self, key, state, action, params):
        velocity = (
            state.velocity
            + (action - 1) * params.force
            + jnp.cos(3 * state.position) * (-params.gravity)
        )
        state, terminated = _mountain_car_move(state, velocity, params)
        truncated = state.time >= params.max_steps
        return state, make_timestep(_mountain_car_obs(state), -1.0, terminated, truncated)

    def observation_space(self, params):
        return _mountain_car_obs_space(params)

    def reward_range(self, params):
        return -1.0, 0.0

    def action_space(self, params):
        return Discrete(3)


@dataclasses.dataclass(frozen=True)
class MountainCarContinuous:
    """MountainCarContinuous-v0: force in [-1, 1]; +100 at the goal minus 0.1 a^2; 999 steps."""

    def default_params(self) -> MountainCarContinuousParams:
        return MountainCarContinuousParams()

    def reset(self, key, params):
        return _mountain_car_reset(key)

    def step(self, key, state, action, params):
        a = jnp.reshape(action, (-1,))[0]
        force = jnp.clip(a, -1.0, 1.0)
        velocity = state.velocity + force * params.power - 0.0025 * jnp.cos(3 * state.position)
        state, terminated = _mountain_car_move(state, velocity, params)
        reward = jnp.where(terminated, 100.0, 0.0) - a**2 * 0.1
        truncated = state.time >= params.max_steps
        return state, make_timestep(_mountain_car_obs(state), reward, terminated, truncated)

    def observation_space(self, params):
        return _mountain_car_obs_space(params)

    def reward_range(self, params):
        return -0.1, 100.0

    def action_space(self, params):
        return Box(-1.0, 1.0, (1,))
