"""Eval-mode equivalence with torchvision and timm, random weights and randomised BN statistics."""

import pytest
import torch

from effnet import impl_torch, spec

from .helpers import CI_REFERENCES, FP32_EVAL, all_references, foreign_model, max_rel, profile_of, randomised

SIZES = [(64, 64), (71, 53), (97, 97)]  # square, non-square, odd


def _check(name, library, foreign_name, sizes):
    ms = spec.resolve(name, profile=profile_of(library, foreign_name))
    weights, state = randomised(ms, library)
    theirs = foreign_model(library, foreign_name)
    theirs.load_state_dict(state, strict=True)
    ours = impl_torch.from_spec(ms)
    impl_torch.load_canonical_state(ours, weights)
    theirs.eval(), ours.eval()
    errors = []
    for h, w in sizes:
        x = torch.randn(2, 3, h, w)
        with torch.no_grad():
            errors.append(max_rel(ours(x), theirs(x)))
    return max(errors)


@pytest.mark.parametrize("name, library, foreign_name", CI_REFERENCES, ids=lambda v: str(v))
def test_matches_reference_library(name, library, foreign_name):
    assert _check(name, library, foreign_name, SIZES) <= FP32_EVAL


@pytest.mark.slow
@pytest.mark.parametrize("name, library, foreign_name", all_references(), ids=lambda v: str(v))
def test_matches_reference_library_all_models(name, library, foreign_name, record_property):
    err = _check(name, library, foreign_name, SIZES[1:2])
    record_property("max_rel", err)
    print(f"\nMAXREL {library} {foreign_name} {err:.3g}")
    assert err <= FP32_EVAL


def test_symmetric_and_tf_same_padding_really_differ():
    # The comparison above could not catch a padding bug if both modes gave the same output.
    ms_tf = spec.resolve("efficientnetv2-b0", profile="timm_tf")
    ms_sym = spec.resolve("efficientnetv2-b0", profile="timm_tf", padding="symmetric")
    weights, _ = randomised(ms_tf, "timm")
    a, b = impl_torch.from_spec(ms_tf).eval(), impl_torch.from_spec(ms_sym).eval()
    impl_torch.load_canonical_state(a, weights)
    impl_torch.load_canonical_state(b, weights)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert max_rel(a(x), b(x)) > 1e-2
