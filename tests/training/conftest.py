"""Fixtures for the input-pipeline tests: a session cache dir (``EFFNET_CACHE``) and small
ImageFolder datasets drawn with the builtin generator's ``render`` (fast, no network)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import write_folder


@pytest.fixture(scope="session", autouse=True)
def effnet_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test of the session caches under a temporary ``EFFNET_CACHE``, never in ``~/.cache``."""
    path = tmp_path_factory.mktemp("effnet-cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("EFFNET_CACHE", str(path))
    yield path
    mp.undo()


@pytest.fixture(scope="session")
def small_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 classes, 7 train + 3 val images each, 96x96 PNG."""
    return write_folder(tmp_path_factory.mktemp("small"), {"a": (7, 3), "b": (7, 3), "c": (7, 3)})
