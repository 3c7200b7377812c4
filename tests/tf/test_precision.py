"""Mixed precision in the tf training engine (see tests/training/precision_checks.py)."""

from tests.training import precision_checks


def test_bf16_run_tracks_fp32(tiny):
    errors = precision_checks.check_bf16_tracks_fp32("tf", tiny)
    print(f"tf bf16 vs fp32 after {precision_checks.STEPS} steps: {errors}")


def test_bf16_eval_matches_the_oracle(tiny):
    error = precision_checks.check_bf16_eval_matches_oracle("tf", tiny)
    print(f"tf bf16 eval vs float64 oracle: {error:.3e}")


def test_fp16_always_scales_the_loss(tiny):
    precision_checks.check_fp16_scales_the_loss("tf", tiny)
