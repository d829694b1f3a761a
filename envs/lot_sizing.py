"""LotSizing-v0: a single-stage, multi-item, multi-machine production plant with stochastic
demand, in pure JAX (the lot-sizing problem of Felizardo et al. 2025, "Post-Decision
Proximal Policy Optimization with Dual Critic Networks", as their released simulator runs it).

    env, params = jaxac.make("LotSizing-v0")                              # 15 items, 5 machines
    env, params = jaxac.make("LotSizing-v0", setting="20items_10machines", horizon=50)

Each period every machine m chooses a_m in {0 idle, 1..items}: producing item i = a_m - 1.
A machine that switches to another item (its setup is not a_m; an idle machine has setup 0,
so restarting pays too) pays `setup_costs[m, i]` and loses `setup_loss[m, i]` units of the
period's output; it adds `production[m, i]` minus that loss to item i's inventory. This is
the post-decision state: production decided, demand not yet drawn. Then each item's demand
is drawn (binomial(`demand_n`, `demand_p`), independent per item and period) and served from
inventory: unserved demand costs `lost_sales_costs[i]` per unit, the inventory left is capped
at `max_inventory[i]` and pays `holding_costs[i]` per unit. reward = -(setup + lost sales +
holding costs). The episode ends after `horizon` periods (terminated: the plan's end).
`reset` draws each item's inventory uniformly in [0, max_inventory) and each machine's setup
among the items it can make, as the released simulator does. As there, a machine may be set
to an item it cannot make (production 0): it pays the setup and its setup loss comes out of
that item's inventory.

Observation ([items + machines + 1] float32): inventory / max_inventory, setup / items and
periods elapsed / horizon (the released simulator's observation has no clock; a finite
horizon's values depend on it). `post_decision(state, action, params)` is the same vector
for the post-decision state. Actions: `jaxac.env.MultiDiscrete` with items + 1 choices per
machine.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxac.env import Box, MultiDiscrete, make_timestep
from jaxac.envs.lot_sizing_settings import SETTINGS
from jaxac.types import Array

DEFAULT_SETTING = "15items_5machines"


@struct.dataclass
class LotSizingParams:
    """A plant: production, setup costs and losses per machine and item, holding and lost-sales
    costs, inventory caps, binomial demand and the horizon (`lot_sizing_settings` has the published ones)."""

    production: Array  # [machines, items] units made per period when set up for the item
    setup_costs: Array  # [machines, items] paid when a machine switches to the item
    setup_loss: Array  # [machines, items] units lost from the output of a switching period
    holding_costs: Array  # [items] per unit held at the end of a period
    lost_sales_costs: Array  # [items] per unit of demand not served
    max_inventory: Array  # [items] inventory cap
    demand_n: float = 20.0  # binomial demand per item and period: trials
    demand_p: float = 0.4  # and success probability
    horizon: int = struct.field(pytree_node=False, default=100)


@struct.dataclass
class LotSizingState:
    """Inventory per item, each machine's setup, and the period."""

    inventory: Array  # [items] float32, whole units
    setup: Array  # [machines] int32, 0 idle or item + 1
    time: Array  # int32 periods elapsed


@struct.dataclass
class Decided:
    """The post-decision state and what the decision cost."""

    inventory: Array  # [items] after production, before demand
    setup: Array  # [machines]
    setup_cost: Array  # scalar


def params_of(setting: Dict[str, Any]) -> LotSizingParams:
    """Params of a setting record (the released simulator's JSON fields)."""
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    demand = setting["demand_distribution"]
    return LotSizingParams(f32(setting["machine_production"]), f32(setting["setup_costs"]),
                           f32(setting["setup_loss"]), f32(setting["holding_costs"]),
                           f32(setting["lost_sales_costs"]), f32(setting["max_inventory_level"]),
                           float(demand["n"]), float(demand["p"]), int(setting["time_horizon"]))


@dataclasses.dataclass(frozen=True)
class LotSizing:
    """The plant (static: nothing; its numbers are params, so they can be swept)."""

    def default_params(self) -> LotSizingParams:
        return params_of(SETTINGS[DEFAULT_SETTING])

    @staticmethod
    def sizes(params: LotSizingParams) -> Tuple[int, int]:
        """(machines, items)."""
        return params.production.shape

    def reset(self, key, params):
        machines, items = self.sizes(params)
        k_inv, k_setup = jax.random.split(key)
        inventory = jnp.floor(jax.random.uniform(k_inv, (items,)) * params.max_inventory)
        can_make = jnp.where(params.production > 0, 0.0, -jnp.inf)  # [machines, items]
        setup = jax.random.categorical(k_setup, can_make, axis=-1).astype(jnp.int32) + 1
        state = LotSizingState(inventory, setup, jnp.zeros((), jnp.int32))
        return state, make_timestep(self._obs(inventory, setup, state.time, params), 0.0, False, False)

    def decide(self, state: LotSizingState, action: Array, params: LotSizingParams) -> Decided:
        """The deterministic part of a period: setups and production of `action` [machines]."""
        machines, items = self.sizes(params)
        action = jnp.asarray(action, jnp.int32)
        producing = action > 0
        item = jnp.clip(action - 1, 0, items - 1)
        rows = jnp.arange(machines)
        switch = producing & (state.setup != action)
        loss = jnp.where(switch, params.setup_loss[rows, item], 0.0)
        made = jnp.where(producing, params.production[rows, item] - loss, 0.0)  # [machines]
        inventory = state.inventory + (jax.nn.one_hot(item, items) * made[:, None]).sum(0)
        setup_cost = jnp.where(switch, params.setup_costs[rows, item], 0.0).sum()
        return Decided(inventory, jnp.where(producing, action, 0), setup_cost)

    def demand(self, key, params: LotSizingParams) -> Array:
        """[items] float32 demand of one period (what `step` draws from its key)."""
        items = self.sizes(params)[1]
        return jax.random.binomial(key, params.demand_n, params.demand_p, (items,)).astype(jnp.float32)

    def serve(self, decided: Decided, demand: Array, params: LotSizingParams) -> Tuple[Array, Array]:
        """(inventory after demand and the cap, the period's cost)."""
        left = decided.inventory - demand
        lost = jnp.maximum(-left, 0.0) * params.lost_sales_costs
        inventory = jnp.clip(left, 0.0, params.max_inventory)
        cost = decided.setup_cost + lost.sum() + (inventory * params.holding_costs).sum()
        return inventory, cost

    def step(self, key, state, action, params):
        decided = self.decide(state, action, params)
        inventory, cost = self.serve(decided, self.demand(key, params), params)
        state = LotSizingState(inventory, decided.setup, state.time + 1)
        obs = self._obs(inventory, decided.setup, state.time, params)
        return state, make_timestep(obs, -cost, state.time >= params.horizon, False)

    def post_decision(self, state, action, params) -> Array:
        """The observation of the post-decision state (production done, demand not drawn)."""
        decided = self.decide(state, action, params)
        return self._obs(decided.inventory, decided.setup, state.time, params)

    @staticmethod
    def _obs(inventory, setup, time, params) -> Array:
        items = params.production.shape[1]
        clock = jnp.asarray(time, jnp.float32)[None] / params.horizon
        return jnp.concatenate([inventory / params.max_inventory, setup.astype(jnp.float32) / items,
                                clock]).astype(jnp.float32)

    def observation_space(self, params):
        machines, items = self.sizes(params)
        return Box(0.0, 1.0, (items + machines + 1,))

    def action_space(self, params):
        machines, items = self.sizes(params)
        return MultiDiscrete((items + 1,) * machines)


def state_of(obs: Array, params: LotSizingParams) -> LotSizingState:
    """The state an observation shows ([items + machines + 1] -> inventory, setups, period):
    what a heuristic reads, so that it sees what a learned policy sees."""
    machines, items = params.production.shape
    inventory = jnp.round(obs[:items] * params.max_inventory)
    setup = jnp.round(obs[items:items + machines] * items).astype(jnp.int32)
    return LotSizingState(inventory, setup, jnp.round(obs[-1] * params.horizon).astype(jnp.int32))


def reorder_policy(params: LotSizingParams, reorder: float, up_to: float):
    """An (s, S) heuristic, the practitioner's baseline: item i's reorder point is `reorder`
    and its order-up-to level `up_to` periods of mean demand. Machine by machine (in order,
    counting what earlier machines make this period), a machine keeps its setup while that
    item is below its order-up-to level (no setup paid); otherwise it switches to the item it
    can make that is furthest below its reorder point, or idles if none is. Returns
    `act(state) -> action` [machines]."""
    machines, _ = params.production.shape
    mean = params.demand_n * params.demand_p  # per item and period (i.i.d. demand)
    low, high = reorder * mean, up_to * mean

    def act(state: LotSizingState) -> Array:
        def choose(stock, m):
            current = state.setup[m] - 1  # -1: idle
            can = params.production[m] > 0
            keep = (current >= 0) & (stock[jnp.maximum(current, 0)] < high)
            urgency = jnp.where(can & (stock < low), low - stock, -jnp.inf)
            best = jnp.argmax(urgency)
            produce = keep | jnp.isfinite(urgency[best])
            item = jnp.where(keep, current, best)
            made = jnp.where(produce, params.production[m, item], 0.0)
            return stock.at[item].add(made), jnp.where(produce, item + 1, 0).astype(jnp.int32)

        _, action = jax.lax.scan(choose, state.inventory, jnp.arange(machines))
        return action

    return act


def make(setting: str = DEFAULT_SETTING, **kwargs):
    """(LotSizing, the named setting's params with `kwargs` applied, e.g. horizon=50)."""
    from jaxac.envs.registry import override_params

    if setting not in SETTINGS:
        raise ValueError(f"setting={setting!r} is invalid: use one of {', '.join(sorted(SETTINGS))}")
    env = LotSizing()
    params = override_params("LotSizing-v0", params_of(SETTINGS[setting]), kwargs)
    if not 0.0 <= float(params.demand_p) <= 1.0 or float(params.demand_n) < 0:
        raise ValueError(f"demand_n={params.demand_n}, demand_p={params.demand_p} are invalid: use n >= 0 and "
                         f"a probability p")
    if np.ndim(params.production) != 2:
        raise ValueError("production is invalid: use a [machines, items] array")
    return env, params
