import pathlib

import pytest

from effnet.spec.registry import MODELS_DIR

V2_FILE = MODELS_DIR / "efficientnet_v2.yaml"


@pytest.fixture
def v2_text() -> str:
    return V2_FILE.read_text(encoding="utf-8")


@pytest.fixture
def write_yaml(tmp_path: pathlib.Path):
    def write(text: str, name: str = "my.yaml") -> pathlib.Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
