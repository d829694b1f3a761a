"""The optimiser group of a config and the optax chain it builds.

    optim = Optim(name="adam", learning_rate=3e-4, eps=1e-5, max_grad_norm=0.5, schedule="linear")
    tx = optim.transform(num_periods=100, steps_per_period=16)

Float fields are pytree leaves, so `jax.vmap` sweeps `optim.learning_rate`; the rate is a
closure over them rather than a Python float baked into the chain.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

import optax

from jaxac import config as C


def _adam(rate: Any, eps: Any) -> optax.GradientTransformation:
    return optax.adam(rate, eps=eps)


def _rmsprop(rate: Any, eps: Any) -> optax.GradientTransformation:
    # TensorFlow's RMSprop (SB3's RMSpropTFLike): eps inside the sqrt, average starts at 1
    return optax.rmsprop(rate, decay=0.99, eps=eps, initial_scale=1.0, eps_in_sqrt=True)


# name -> (learning rate or schedule, eps) -> the optimiser
OPTIMIZERS: Dict[str, Callable[[Any, Any], optax.GradientTransformation]] = {
    "adam": _adam,
    "rmsprop": _rmsprop,
}
SCHEDULES = ("constant", "linear")


@C.group
class Optim(C.Group):
    """Optimiser: `name` (adam | rmsprop), `schedule` of the learning rate (constant, or
    linear decay to 0 over the run), and the leaves `learning_rate`, `eps`, `max_grad_norm`
    (global-norm clipping of the gradient; None: no clipping)."""

    name: str = C.static("adam", 'optimiser', choices=tuple(OPTIMIZERS))
    schedule: str = C.static("constant", 'rate schedule (linear: to 0 at the end)', choices=SCHEDULES)
    learning_rate: float = C.leaf(3e-4, 'learning rate')
    eps: float = C.leaf(1e-8, "the optimiser's epsilon")
    max_grad_norm: Optional[float] = C.leaf(None, 'global gradient-norm clip (unset: none)')
    def validate(self, prefix: str = "optim.") -> None:
        C.check_choice(f"{prefix}name", self.name, tuple(OPTIMIZERS))
        C.check_choice(f"{prefix}schedule", self.schedule, SCHEDULES)
        C.check_number(f"{prefix}learning_rate", self.learning_rate, C.positive, "> 0")
        C.check_number(f"{prefix}eps", self.eps, C.positive, "> 0")
        if self.max_grad_norm is not None:
            C.check_number(f"{prefix}max_grad_norm", self.max_grad_norm, C.positive, "> 0 (or None: no clipping)")

    def transform(self, num_periods: int = 1, steps_per_period: int = 1,
                  learning_rate: Any = None) -> optax.GradientTransformation:
        """Clipping (if any) then the optimiser at `learning_rate` (default: the field's);
        the linear schedule decays over `num_periods` periods of `steps_per_period` steps."""
        rate = self.learning_rate if learning_rate is None else learning_rate
        if self.schedule == "linear":
            scale = linear_decay(num_periods, steps_per_period)
            schedule: Any = lambda count: rate * scale(count)
        else:
            schedule = rate
        inner = OPTIMIZERS[self.name](schedule, self.eps)
        if self.max_grad_norm is None:
            return inner
        return optax.chain(optax.clip_by_global_norm(self.max_grad_norm), inner)


def linear_decay(total: int, per_step: int = 1) -> Callable[[Any], Any]:
    """1 -> 0 over `total` periods of `per_step` optimiser steps each."""
    return lambda count: 1.0 - (count // per_step) / total
