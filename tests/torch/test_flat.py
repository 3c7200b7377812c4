"""impl_torch.flat: the engine's weights, BN statistics, optimizer state and EMA laid end to end in
buffers change no value: the packed engine and the same engine with every tensor in its own storage
(the per-tensor path) agree bit for bit, in both memory formats, through a save and a load."""

import numpy as np
import pytest
import torch

from effnet.execution import Execution
from effnet.impl_torch.flat import gather, in_memory_order, pack, packed
from effnet.impl_torch.train import TorchEngine
from effnet.spec.recipe import recipe


def _unpacked(engine: TorchEngine) -> TorchEngine:
    """The same engine with every weight and buffer in a storage of its own."""
    with torch.no_grad():
        for module in (engine.model, engine.ema):
            for t in module.state_dict(keep_vars=True).values():
                t.set_(t.detach().clone(memory_format=torch.preserve_format))
    return engine


def _engine(tiny, memory_format: str) -> TorchEngine:
    return TorchEngine(
        tiny,
        recipe("efficientnetv2-b0", batch_size=4),
        seed=3,
        execution=Execution(memory_format=memory_format),
    )


def _batches(tiny, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    eye = np.eye(tiny.num_classes, dtype=np.float32)
    return [
        (rng.standard_normal((4, 32, 32, 3), dtype=np.float32), eye[rng.integers(0, tiny.num_classes, 4)])
        for _ in range(n)
    ]


def _state(engine: TorchEngine) -> dict[str, np.ndarray]:
    out = {f"model.{k}": v.detach().numpy().copy() for k, v in engine.model.state_dict().items()}
    out |= {f"ema.{k}": v.detach().numpy().copy() for k, v in engine.ema.state_dict().items()}
    for i, state in engine.opt.state_dict()["state"].items():
        out |= {f"opt.{i}.{k}": v.numpy().copy() for k, v in state.items()}
    return out


@pytest.mark.parametrize("memory_format", ["contiguous", "channels_last"])
def test_packed_engine_equals_per_tensor_engine(tiny, tmp_path, memory_format):
    fast, slow = _engine(tiny, memory_format), _unpacked(_engine(tiny, memory_format))
    params = [p for g in fast.opt.param_groups for p in g["params"]]
    assert (
        packed(params) is not None and packed([p for g in slow.opt.param_groups for p in g["params"]]) is None
    )
    batches = _batches(tiny, 4)
    for x, y in batches[:2]:
        assert fast.train_step(x, y, 0.05) == slow.train_step(x, y, 0.05)
    fast.save(tmp_path / "fast")
    resumed = _engine(tiny, memory_format)
    resumed.load(tmp_path / "fast")  # the loaded optimizer state is packed again on the next step
    for x, y in batches[2:]:
        assert fast.train_step(x, y, 0.05) == slow.train_step(x, y, 0.05) == resumed.train_step(x, y, 0.05)
    a, b, c = _state(fast), _state(slow), _state(resumed)
    assert a.keys() == b.keys() == c.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        np.testing.assert_array_equal(a[k], c[k], err_msg=k)
    assert any(not np.array_equal(a[k], _state(_engine(tiny, memory_format))[k]) for k in a)  # it trained


def test_pack_keeps_identity_shape_layout_and_values():
    a = torch.randn(2, 3, 4, 5).contiguous(memory_format=torch.channels_last)
    b, c = torch.randn(7), torch.randn(3, 2)
    before = [t.clone() for t in (a, b, c)]
    ids = [id(t) for t in (a, b, c)]
    flat = pack([a, b, c])
    assert flat.numel() == 120 + 7 + 6 and [id(t) for t in (a, b, c)] == ids
    assert a.is_contiguous(memory_format=torch.channels_last)
    for t, old in zip((a, b, c), before, strict=True):
        assert torch.equal(t, old)
    assert packed([a, b, c]) is not None and torch.equal(packed([a, b, c]), flat)
    assert packed([b, a]) is None  # not in order
    flat.add_(1.0)  # one op on the buffer changes every tensor
    assert torch.equal(a, before[0] + 1) and torch.equal(c, before[2] + 1)
    b.set_(b.clone())  # replaced: no longer packed
    assert packed([a, b, c]) is None


def test_gather_puts_each_gradient_in_its_parameters_memory_order():
    p = torch.randn(2, 3, 2, 2).contiguous(memory_format=torch.channels_last)
    g_same = torch.randn(2, 3, 2, 2).contiguous(memory_format=torch.channels_last)
    g_other = g_same.contiguous()  # the same values, the other layout
    out1, out2 = torch.empty(24), torch.empty(24)
    gather([g_same], [p], out=out1)
    gather([g_other], [p], out=out2)
    assert torch.equal(out1, out2) and torch.equal(out1, in_memory_order(g_same))
