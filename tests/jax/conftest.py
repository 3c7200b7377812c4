import pytest

pytest.importorskip(
    "torch", reason="the reference libraries (torchvision, timm) need torch"
)  # import torch first
pytest.importorskip("flax", reason="the JAX backend needs jax and flax (nox -s jax installs them)")
