import pytest

torch = pytest.importorskip("torch", reason="the torch backend needs torch (nox -s torch installs it)")


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    torch.set_num_threads(2)
