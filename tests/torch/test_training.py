"""Progressive-learning training on the torch backend (see tests/training/loop_checks.py)."""

from tests.training import loop_checks


def test_schedule_resume_and_determinism(tmp_path):
    loop_checks.check_schedule_resume_determinism("torch", tmp_path)


def test_resume_refuses_another_model(tmp_path):
    loop_checks.check_resume_refuses_another_model("torch", tmp_path)
