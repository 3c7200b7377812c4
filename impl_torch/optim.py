"""RMSProp as TensorFlow/Keras and optax compute it, as a ``torch.optim.Optimizer``.

The spec's recipe (decay 0.9, momentum 0.9, epsilon 1e-3) comes from the automl trainer, whose
``tf.keras.optimizers.RMSprop`` puts epsilon *inside* the square root:
``v = rho*v + (1-rho)*g^2;  m = momentum*m + lr*g/sqrt(v + eps);  p -= m``
(Keras 3 ``RMSprop`` and ``optax.rmsprop(eps_in_sqrt=True)`` are the same). ``torch.optim.RMSprop``
divides by ``sqrt(v) + eps`` instead: with eps 1e-3 and a zero-initialised ``v`` its first steps move
every weight by about ``3.2 * lr / (1 - momentum)`` whatever the gradient, and a short run does not
learn. Weight decay here is coupled L2 (added to the gradient), as the automl loss's L2 term.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


class RMSpropTF(torch.optim.Optimizer):
    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.0,
        rho: float = 0.9,
        momentum: float = 0.0,
        eps: float = 1e-3,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(
            params, {"lr": lr, "rho": rho, "momentum": momentum, "eps": eps, "weight_decay": weight_decay}
        )

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            for p in params:
                if not self.state[p]:
                    self.state[p] = {"velocity": torch.zeros_like(p), "momentum": torch.zeros_like(p)}
            grads = [p.grad for p in params]
            if group["weight_decay"]:
                grads = torch._foreach_add(grads, params, alpha=group["weight_decay"])
            velocity = [self.state[p]["velocity"] for p in params]
            torch._foreach_mul_(velocity, group["rho"])
            torch._foreach_addcmul_(velocity, grads, grads, value=1.0 - group["rho"])
            denominator = torch._foreach_sqrt(torch._foreach_add(velocity, group["eps"]))
            increment = torch._foreach_div(grads, denominator)
            momentum = [self.state[p]["momentum"] for p in params]
            torch._foreach_mul_(momentum, group["momentum"])
            torch._foreach_add_(momentum, increment, alpha=group["lr"])
            torch._foreach_sub_(params, momentum)
