"""The TensorFlow backend's tests. torch is imported before TensorFlow when both are installed
(keras' own conftest notes a segfault otherwise); impl_tf selects KERAS_BACKEND=tensorflow and loads
triton before TensorFlow."""

import importlib.util

import pytest

if importlib.util.find_spec("torch") is not None:
    import torch  # noqa: F401

# impl_tf imports TensorFlow (after triton, see impl_tf/__init__.py), so it must come first
pytest.importorskip("impl_tf", reason="the tf backend needs tensorflow and keras (nox -s tf installs them)")

import keras  # noqa: E402


@pytest.fixture(autouse=True)
def _deterministic():
    keras.utils.set_random_seed(0)
