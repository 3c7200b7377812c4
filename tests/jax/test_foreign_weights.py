"""torchvision / timm random-weight checkpoints load straight into the JAX model and reproduce the
source outputs; the `flax` file format round-trips; `effnet convert` to and from flax."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx

from effnet import impl_jax, spec
from effnet.cli.main import main
from effnet.weights_convert import convert
from effnet.weights_convert.formats import FORMATS, from_canonical

from ..torch.helpers import FP32_EVAL, all_references, foreign_model, max_rel, profile_of, randomised

CI = [
    ("efficientnetv2-s", "torchvision", "efficientnet_v2_s"),
    ("efficientnetv2-b0", "timm", "tf_efficientnetv2_b0"),
]
SIZES = [(64, 64), (71, 53)]


def _check(tmp_path, name, library, foreign_name, sizes):
    ms = spec.resolve(name, profile=profile_of(library, foreign_name))
    _, state = randomised(ms, library, seed=1)
    theirs = foreign_model(library, foreign_name)
    theirs.load_state_dict(state, strict=True)
    theirs.eval()
    path = tmp_path / f"{foreign_name}.pth"
    torch.save(theirs.state_dict(), path)
    # the library's model name picks the profile (a timm file cannot tell TF-ported from native)
    model = impl_jax.build(foreign_name, weights=path, weights_format=library)
    assert model.spec.profile == ms.profile
    model.eval()
    run = nnx.jit(lambda m, v: m(v))
    errors = []
    for h, w in sizes:
        x = torch.randn(2, 3, h, w)
        with torch.no_grad():
            expected = theirs(x)
        errors.append(max_rel(np.asarray(run(model, jnp.asarray(x.numpy().transpose(0, 2, 3, 1)))), expected))
    return max(errors)


@pytest.mark.parametrize("name, library, foreign_name", CI, ids=lambda v: str(v))
def test_foreign_checkpoint_into_jax(tmp_path, name, library, foreign_name):
    assert _check(tmp_path, name, library, foreign_name, SIZES) <= FP32_EVAL


@pytest.mark.slow
@pytest.mark.parametrize("name, library, foreign_name", all_references(), ids=lambda v: str(v))
def test_foreign_checkpoint_into_jax_all_models(tmp_path, name, library, foreign_name):
    err = _check(tmp_path, name, library, foreign_name, SIZES[1:])
    print(f"\nMAXREL-JAX {library} {foreign_name} {err:.3g}")
    assert err <= FP32_EVAL


def test_flax_file_round_trip_and_detection(tmp_path):
    model = impl_jax.build("efficientnetv2-b0", seed=3)
    weights = impl_jax.canonical_state(model)
    path = tmp_path / "b0.flax.safetensors"
    convert.save(path, weights, model.spec, "flax")
    assert convert.detect_format(path) == "flax"
    again = impl_jax.build("efficientnetv2-b0", weights=path)
    back = impl_jax.canonical_state(again)
    assert set(back) == set(weights) and all(np.array_equal(back[k], weights[k]) for k in weights)
    state = from_canonical(weights, model.spec, FORMATS["flax"])
    assert set(state) == set(weights), "the flax state is keyed by canonical names"


def test_cli_torchvision_to_flax_with_check(tmp_path, capsys):
    src = tmp_path / "tv.pth"
    torch.save(foreign_model("torchvision", "efficientnet_b0").state_dict(), src)
    dst = tmp_path / "b0.safetensors"
    assert main(["convert", str(src), str(dst), "--model", "efficientnet-b0", "--to", "flax", "--check"]) == 0
    out = capsys.readouterr().out
    assert "(flax)" in out and "check:" in out
    rel = float(out.split("relative ")[-1].split()[0])
    assert rel <= FP32_EVAL
