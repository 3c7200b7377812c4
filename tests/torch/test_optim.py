"""impl_torch.optim.RMSpropTF follows the automl/Keras RMSProp formula (eps inside the sqrt)."""

import numpy as np
import torch

from effnet.conformance.checks import rel_error
from effnet.conformance.tolerances import tolerance
from effnet.impl_torch.optim import RMSpropTF
from tests.training.loop_checks import optimizer_case, rmsprop_reference


def test_rmsprop_tf_matches_the_reference_formula():
    w, grads, h = optimizer_case()
    p = torch.nn.Parameter(torch.from_numpy(w.copy()))
    opt = RMSpropTF([p], lr=h["lr"], rho=h["rho"], momentum=h["momentum"], eps=h["eps"], weight_decay=h["wd"])
    for g in grads:
        p.grad = torch.from_numpy(g)
        opt.step()
    expected = rmsprop_reference(w, grads, **h)
    assert rel_error(p.detach().numpy(), expected)[1] <= tolerance("float32", "update")
    # torch's own RMSprop (eps outside the sqrt) differs: the test can tell them apart
    q = torch.nn.Parameter(torch.from_numpy(w.copy()))
    ref = torch.optim.RMSprop([q], lr=h["lr"], alpha=h["rho"], eps=h["eps"], momentum=h["momentum"])
    for g in grads:
        q.grad = torch.from_numpy(g + h["wd"] * q.detach().numpy())
        ref.step()
    assert rel_error(q.detach().numpy(), expected)[1] > 1e-2
    assert not np.allclose(w, p.detach().numpy())
