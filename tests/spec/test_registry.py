"""The backend registry is the one table of backends: a toy fourth backend registered through the
``effnet.backends`` entry-point group (the numpy reference, inference-only) is picked up by the CLI,
the conformance suite, the benchmark's implementation list and ``convert``'s format table."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

import numpy as np
import pytest

from effnet import backends, spec
from effnet.cli.main import build_parser, main
from effnet.conformance import backends as suite_backends
from effnet.conformance import checks, golden
from effnet.conformance.tolerances import tolerance
from effnet.weights_convert.formats import FORMATS

ROOT = Path(__file__).resolve().parents[2]
TOY = backends.Backend(
    name="numpy",
    package="effnet.spec.reference",
    framework="numpy",
    extra=None,
    builder="effnet.conformance.adapters.reference_numpy:ADAPTER.build",
    adapter="effnet.conformance.adapters.reference_numpy:ADAPTER",
    weights="canonical",
)


@pytest.fixture
def toy_registered(monkeypatch):
    """Register TOY as another distribution would: an entry point in the ``effnet.backends`` group."""
    entry = importlib.metadata.EntryPoint("numpy", "tests.spec.test_registry:TOY", backends.ENTRY_POINT_GROUP)

    def entry_points(**select):
        return [entry] if select.get("group") == backends.ENTRY_POINT_GROUP else []

    monkeypatch.setattr(backends.metadata, "entry_points", entry_points)
    backends.registry.cache_clear()
    yield TOY
    monkeypatch.undo()
    backends.registry.cache_clear()


def test_builtin_rows_provide_what_each_reader_needs():
    assert backends.names() == ("torch", "jax", "tf")
    for row in backends.registry().values():
        assert FORMATS[row.weights].runner == row.name, row  # convert --check runs its files through it
        assert row.trains and row.bench and row.bench_modes, row
        for reference in (row.builder, row.adapter, row.engine, row.bench):
            module, _, obj = reference.partition(":")
            assert module.startswith("effnet.") and obj, reference


def _source_of(module: str) -> Path:
    """The file a module of the effnet namespace lives in (pyproject's package-dir mapping), found
    without importing it (this session has no framework installed)."""
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    package = max((p for p in mapping if module == p or module.startswith(p + ".")), key=len)
    rest = module[len(package) :].lstrip(".").split(".") if module != package else []
    base = ROOT / mapping[package] / Path(*rest) if rest else ROOT / mapping[package]
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def test_builtin_references_name_existing_objects():
    for row in backends.registry().values():
        for reference in (row.builder, row.adapter, row.engine, row.bench):
            module, _, obj = reference.partition(":")
            source = _source_of(module)
            assert source.is_file(), f"{row.name}: {reference} -> {source}"
            first = obj.split(".")[0]
            assert (
                f"def {first}(" in source.read_text()
                or f"{first} =" in source.read_text()
                or (f"import {first}" in source.read_text() or f", {first}" in source.read_text())
            ), f"{row.name}: {reference}: no {first} in {source}"


def test_toy_backend_is_listed_by_the_cli(toy_registered, capsys):
    assert main(["backends"]) == 0
    lines = capsys.readouterr().out.splitlines()
    toy = next(line for line in lines if line.startswith("numpy "))
    assert "canonical" in toy and " no " in toy and "yes" in toy  # weights, trains, installed


def test_inference_only_backend_is_not_offered_to_train(toy_registered, capsys):
    assert "numpy" in backends.names() and "numpy" not in backends.names(trains=True)
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["train", "--backend", "numpy", "--model", "efficientnetv2-b0"])
    assert exit_.value.code == 2 and "invalid choice: 'numpy'" in capsys.readouterr().err


def test_toy_backend_is_selected_and_checked_by_the_suite(toy_registered, monkeypatch):
    monkeypatch.setenv(suite_backends.BACKEND_ENV, "numpy")
    (adapter,) = suite_backends.selected().values()
    assert adapter.name == "numpy" and not checks.trains(adapter)
    case = golden.load_cases()[0]
    ms = case.model_spec()
    model = adapter.build(ms)
    adapter.set_state(model, case.weights())
    result = checks.compare(
        ms,
        adapter.forward(model, case.input()),
        case.expected(),
        tolerance("float32", "eval"),
        "golden",
        "toy",
    )
    assert result.ok, str(result)
    ms = spec.resolve("efficientnetv2-b0", num_classes=10, dropout=0.0, drop_path={"rate": 0.0})
    weights = spec.reference.random_weights(ms, 3)
    x = np.random.default_rng(3).standard_normal((2, 33, 47, 3)).astype(np.float32)
    assert checks.train_vs_reference(adapter, ms, weights, x).ok
    assert checks.roundtrip(adapter, ms, weights).ok


def test_a_name_registered_twice_is_refused(monkeypatch):
    twin = backends.Backend("torch", "elsewhere", "PyTorch", None, "m:b", "m:a", "torch")
    monkeypatch.setattr(backends, "_from_entry_points", lambda: [twin])
    backends.registry.cache_clear()
    try:
        with pytest.raises(ValueError, match="'torch' is registered twice"):
            backends.registry()
    finally:
        monkeypatch.undo()
        backends.registry.cache_clear()


def test_unknown_backend_names_the_known_ones():
    with pytest.raises(backends.UnknownBackend, match="unknown backend 'mxnet'; known: torch, jax, tf"):
        backends.get("mxnet")
