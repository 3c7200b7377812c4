"""``effnet conformance certify`` on the torch-side implementations: our backend to L4, timm's TF port
to L4, torchvision to L2 and transformers to L4 through its declared deviations (one small model each;
the full matrix is ``nox -s certify``), and proof
that the certifier catches a bad implementation: a real library model with one subtle fault each is
failed at the right level, naming the right first diverging tensor."""

from __future__ import annotations

import json
import math
import types

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from effnet import spec
from effnet.cli.main import main
from effnet.conformance.adapters.library_timm import TimmAdapter
from effnet.conformance.certify import certify_model
from effnet.conformance.certify_report import SCHEMA


def _certify(impl: str, model: str, level: str, out) -> list[str]:
    return [
        "conformance",
        "certify",
        "--impl",
        impl,
        "--models",
        model,
        "--level",
        level,
        "--out",
        str(out),
        "--no-progress",
    ]


@pytest.mark.parametrize(
    "impl, model, level",
    [
        ("torch", "efficientnetv2-b0", "L4"),
        ("timm", "tf_efficientnetv2_b0", "L4"),
        ("torchvision", "efficientnet_b0", "L2"),
    ],
)
def test_certify_writes_the_result_and_passes(tmp_path, capsys, impl, model, level):
    out = tmp_path / "c"
    code = main(_certify(impl, model, level, out))
    printed = capsys.readouterr().out
    assert code == 0, printed
    doc = json.loads((out / "result.json").read_text())
    assert doc["schema"] == SCHEMA and doc["passed"] and doc["requested_level"] == level
    assert doc["implementation"]["adapter"] == impl and doc["implementation"]["adapter_api"] == 1
    (m,) = doc["models"]
    assert m["reached"] == level and len(m["spec_hash"]) == 64
    ran = {c["level"] for c in doc["checks"]}
    assert ran == {f"L{i}" for i in range(int(level[1]) + 1)}
    assert all(c["status"] == "pass" and c["max_rel"] <= c["tolerance"] for c in doc["checks"])
    assert (out / "result.md").read_text().startswith(f"# Conformance: {impl}")


def test_a_level_with_a_skipped_check_is_not_reached(tmp_path, capsys):
    """The numpy reference adapter has no gradient step: L4 is not reached, so L4 is not passed."""
    out = tmp_path / "c"
    code = main(
        [
            "conformance",
            "certify",
            "--impl",
            "numpy",
            "--models",
            "efficientnetv2-b0",
            "--level",
            "L4",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 1
    doc = json.loads((out / "result.json").read_text())
    assert doc["models"][0]["reached"] == "L3" and not doc["passed"]
    assert [c["status"] for c in doc["checks"] if c["level"] == "L4"] == ["skip"]


# ---- injected faults ---------------------------------------------------------------------------------


def _same_top_left(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """TF SAME padding with the odd extra pixel on the top/left (TF puts it bottom/right)."""
    pads = []
    for size, k, s in zip(x.shape[-2:], conv.kernel_size, conv.stride, strict=True):
        total = max((math.ceil(size / s) - 1) * s + k - size, 0)
        pads.append((total - total // 2, total // 2))  # (before, after): the extra pixel before
    (top, bottom), (left, right) = pads
    return F.conv2d(F.pad(x, (left, right, top, bottom)), conv.weight, conv.bias, conv.stride)


def _bn_eps(net: nn.Module) -> None:
    net.blocks[1][0].bn1.eps = 1e-5  # TF's 1e-3 elsewhere


def _extra_pixel_top_left(net: nn.Module) -> None:
    net.conv_stem.forward = types.MethodType(_same_top_left, net.conv_stem)


def _se_relu(net: nn.Module) -> None:
    net.blocks[3][0].se.act1 = nn.ReLU()


def _stride_shifted(net: nn.Module) -> None:
    """Stage 2's stride-2 moved from its first block to its second."""
    first, second = net.blocks[1][0], net.blocks[1][1]
    first.conv_exp.stride, second.conv_exp.stride, second.has_skip = (1, 1), (2, 2), False


class _FaultyTimm(TimmAdapter):
    name = "timm-with-a-fault"

    def __init__(self, fault) -> None:
        self.fault = fault

    def make(self, ms):
        net = super().make(ms)
        self.fault(net)
        return net


def _block(ms, stage: int, repeat: int) -> str:
    return next(b.name for b in ms.blocks if b.stage == stage and b.repeat == repeat)


@pytest.mark.parametrize(
    "fault, where",
    [
        (_bn_eps, lambda ms: _block(ms, 2, 0)),
        (_extra_pixel_top_left, lambda ms: "stem"),
        (_se_relu, lambda ms: _block(ms, 4, 0)),
        (_stride_shifted, lambda ms: _block(ms, 2, 0)),
    ],
    ids=["bn-eps", "same-pad-top-left", "se-relu", "stride-shifted"],
)
def test_injected_fault_fails_at_the_right_level_and_tensor(fault, where):
    ms = spec.resolve("efficientnetv2-b0", profile="timm_tf")
    result = certify_model(_FaultyTimm(fault), "efficientnetv2-b0", "timm_tf", "L1")
    by_level = {c.level: c for c in result.checks}
    assert by_level["L0"].status == "pass"  # same tensors, same names: the fault is in the computation
    failed = by_level["L1"]
    print(f"{fault.__name__}: L1 {failed.status} (max rel {failed.max_rel}): {failed.first_divergence}")
    assert failed.status == "fail" and result.reached() == "L0"
    tensor = failed.first_divergence.split(" ")[0].rstrip(":")  # "blocks.3 (mbconv ...)" / "blocks.1: shape"
    assert tensor == where(ms), failed.first_divergence


# ---- Hugging Face transformers -----------------------------------------------------------------------


def test_transformers_certifies_to_l4_through_its_declared_deviations(tmp_path, capsys):
    """transformers' EfficientNet-B0 (random weights, nothing downloaded): L0 and L1 pass; L2-L4 are
    its declared, cited deviations (fixed padding; BN momentum), never passes."""
    pytest.importorskip("transformers")
    out = tmp_path / "c"
    code = main(_certify("transformers", "efficientnet-b0", "L4", out))
    assert code == 0, capsys.readouterr().out
    doc = json.loads((out / "result.json").read_text())
    (m,) = doc["models"]
    assert (m["model"], m["profile"], m["reached"]) == ("efficientnet-b0", "keras", "L4")
    status = {c["level"]: c["status"] for c in doc["checks"]}
    assert status["L0"] == status["L1"] == "pass"
    deviations = [c for c in doc["checks"] if c["level"] in ("L2", "L3", "L4")]
    assert all(
        c["status"] == "deviation" and "huggingface/transformers@" in c["citation"] for c in deviations
    )
    assert deviations[0]["first_divergence"].startswith("stem: shape")


def test_transformers_deviations_are_only_what_they_declare():
    """At 64x64 (every stride-2 input even) the train-mode forward agrees with the spec and only the
    running statistics differ (the momentum); the gradients pass: the L3/L4 deviations hide nothing else."""
    pytest.importorskip("transformers")
    from effnet.conformance import checks
    from effnet.conformance.adapters.library_transformers import ADAPTER
    from effnet.conformance.certify import BATCH, _against_reference, _batch, calibrated_weights

    ms = spec.resolve("efficientnet-b0", profile="keras", dropout=0.0, drop_path={"rate": 0.0})
    x = _batch(64, 64, 2, batch=BATCH)
    weights = calibrated_weights(ms, x, seed=1)
    train = _against_reference(ADAPTER, ms, weights, x, training=True)
    assert not train.ok and "running statistics" in train.first_divergence
    assert train.first_divergence.startswith("stem.bn.var")
    grads = checks.grads_vs_reference(
        ADAPTER, ms, weights, x, np.arange(BATCH) % ms.num_classes, per_tensor=False
    )
    assert grads.ok, grads.first_divergence
