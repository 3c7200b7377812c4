"""``impl_torch.batch_norm.SpecBatchNorm2d``: torch's batch norm with the spec's running-variance
update (the biased batch variance, as TF/Keras/Flax and ``spec/reference.py``)."""

import torch
from torch import nn

from effnet.impl_torch.batch_norm import SpecBatchNorm2d, use_spec_batch_norm


def test_running_variance_takes_the_biased_batch_variance_and_nothing_else_changes():
    x = torch.randn(2, 3, 2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 3 + 1
    plain, spec = nn.BatchNorm2d(3, momentum=0.1).double(), SpecBatchNorm2d(3, momentum=0.1).double()
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = plain(xa), spec(xb)
    (ya * x).sum().backward()
    (yb * x).sum().backward()
    assert torch.equal(ya, yb) and torch.equal(xa.grad, xb.grad)  # the same kernel, forward and backward
    assert torch.allclose(plain.weight.grad, spec.weight.grad) and torch.equal(
        plain.running_mean, spec.running_mean
    )
    biased = x.var(dim=(0, 2, 3), unbiased=False)
    torch.testing.assert_close(spec.running_var, 0.9 + 0.1 * biased, rtol=1e-14, atol=0)
    torch.testing.assert_close(plain.running_var, 0.9 + 0.1 * biased * 8 / 7, rtol=1e-14, atol=0)  # torch's
    assert int(spec.num_batches_tracked) == 1
    with torch.no_grad():
        plain.running_var.copy_(spec.running_var)
    assert torch.equal(spec.eval()(x), plain.eval()(x))  # eval mode: torch's, from the same buffers


def test_swapped_in_place_with_the_same_tensors_and_keys():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
    before = model.state_dict(keep_vars=True)
    use_spec_batch_norm(model)
    assert type(model[1]) is SpecBatchNorm2d
    after = model.state_dict(keep_vars=True)
    assert list(before) == list(after) and all(before[k] is after[k] for k in before)
