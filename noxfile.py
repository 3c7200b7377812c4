"""nox sessions, driven by one table of backends. `nox --list` shows each session's purpose.

Default sessions (the README's test command, `python3 -m nox`): lint, spec, one per backend whose
tests exist, conformance. Slow or special sessions (conformance-full, bench) run only when named.

Every session that needs a framework shares one virtualenv, ``.nox/frameworks``, holding all three:
PyTorch's CUDA build alone is 5.5 GB, and one copy per session filled the CI machine's disk. What a
backend may import is checked by ``tests/conformance/test_isolation.py`` (each backend builds and runs
with the other two frameworks blocked), not by leaving them uninstalled.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import nox

nox.options.error_on_missing_interpreters = False
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent


def _registry():  # noqa: ANN202  (effnet/backends.py, by path: nothing is installed yet)
    loader = importlib.util.spec_from_file_location("effnet_backends", ROOT / "effnet" / "backends.py")
    module = importlib.util.module_from_spec(loader)
    sys.modules[loader.name] = module  # dataclasses look their module up
    loader.loader.exec_module(module)
    return module


REGISTRY = _registry()
# the built-in backends (effnet.backends), also the values of EFFNET_BACKEND that select them
BACKENDS = tuple(b.name for b in REGISTRY.BUILTIN)
FRAMEWORKS_VENV = ROOT / ".nox" / "frameworks"
BACKEND_ENV = REGISTRY.SELECT_ENV
# every test run: the ci hypothesis profile, and huge pages for malloc (effnet/malloc.py: JAX's
# CPU training steps run ~30% faster; the `effnet` command sets the same for itself)
TEST_ENV = {"HYPOTHESIS_PROFILE": "ci", "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}
# keras-hub (conformance/adapters/library_keras_hub.py), installed with --no-deps: its requirement
# tensorflow-text would pull the full `tensorflow` wheel in beside tensorflow-cpu, and the EfficientNet
# backbones need none of its text stack (regex and tokenizers come with transformers)
KERAS_HUB = ("keras-hub==0.32.0", "kagglehub==1.0.2", "kagglesdk==0.1.28", "sentencepiece>=0.2")


def _ready(backend: str) -> bool:
    """A backend's session joins the default run once its tests exist."""
    return (ROOT / "tests" / backend).is_dir()


def _install(session: nox.Session) -> None:
    session.install("-e", ".[test]")


def _frameworks(session: nox.Session) -> Callable[..., None]:
    """Create (once) and update the shared virtualenv holding every framework; return a runner for
    its programs (its bin first on PATH, so the tests' `python3` subprocesses use it too)."""
    bin_dir = FRAMEWORKS_VENV / "bin"
    if not (bin_dir / "python").exists():
        session.run(sys.executable, "-m", "venv", str(FRAMEWORKS_VENV))
    session.run(str(bin_dir / "python"), "-m", "pip", "install", "-q", "-e", ".[test,torch,jax,tf,export]")
    session.run(str(bin_dir / "python"), "-m", "pip", "install", "-q", "--no-deps", *KERAS_HUB)
    venv_env = {"VIRTUAL_ENV": str(FRAMEWORKS_VENV), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}

    def run(program: str, *args: str, env: dict[str, str] | None = None) -> None:
        session.run(str(bin_dir / program), *args, env={**venv_env, **(env or {})})

    return run


@nox.session
def lint(session: nox.Session) -> None:
    """ruff lint and format check; the import-linter contracts (one-way layers, no cycles)."""
    session.install("ruff>=0.6", "import-linter>=2.1")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    # import-linter reads an installed copy: effnet's subpackages live in other folders than effnet/
    with tempfile.TemporaryDirectory() as site:
        session.run(
            "python", "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", site, "."
        )
        config = str(ROOT / "pyproject.toml")
        with session.chdir(site):
            session.run("lint-imports", config, env={"PYTHONPATH": site})
    shutil.rmtree(ROOT / "build", ignore_errors=True)  # setuptools' in-tree build folder


@nox.session
def package(session: nox.Session) -> None:
    """The built wheel (not editable) in a clean virtualenv beside a stand-in distribution owning the
    top-level modules `spec`, `bench` and `conformance` (as PyPI's packages of those names do): each
    import name must stay the right one, and `effnet` must work."""
    session.install("build>=1", "pytest>=8")
    with tempfile.TemporaryDirectory() as tmp:
        dist = Path(tmp) / "dist"
        session.run("python", "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT), silent=True)
        session.run(
            "python",
            "-m",
            "build",
            "--wheel",
            "--outdir",
            str(dist),
            str(ROOT / "tests" / "package" / "standin"),
            silent=True,
        )
        wheels = sorted(str(w) for w in dist.glob("*.whl"))
        session.run("python", "-m", "pip", "install", "-q", *wheels)
        session.run("python", "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", *wheels)
        with session.chdir(tmp):  # away from the source tree, so only installed code is found
            session.run(
                "python",
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "--import-mode=importlib",  # keeps the source tree off sys.path
                "--rootdir",
                tmp,
                "--confcutdir",
                str(ROOT / "tests" / "package"),
                str(ROOT / "tests" / "package"),
                env={"EFFNET_WHEELS": str(dist)},
            )


@nox.session
def spec(session: nox.Session) -> None:
    """The spec and the input pipeline, no framework installed: loader, resolve, counts, reference."""
    _install(session)
    session.run("pytest", "tests/spec", "tests/training", *session.posargs, env=TEST_ENV)


for _backend in BACKENDS:

    @nox.session(name=_backend, default=_ready(_backend), venv_backend="none")
    def _backend_session(session: nox.Session, backend: str = _backend) -> None:
        run = _frameworks(session)
        run(
            "pytest",
            f"tests/{backend}",
            "tests/conformance",
            *session.posargs,
            env={BACKEND_ENV: backend, **TEST_ENV},
        )

    _backend_session.__doc__ = f"The {_backend} backend and its converters ({BACKEND_ENV}={_backend})."


@nox.session(default=(ROOT / "tests" / "conformance").is_dir(), venv_backend="none")
def conformance(session: nox.Session) -> None:
    """Every pair of installed backends against each other (eval, train mode, gradients, training
    engines) and the conformance report. Each backend alone against the numpy reference is checked
    in that backend's session (`nox -s torch`, ...), not again here."""
    run = _frameworks(session)
    run("pytest", "tests/conformance", "--pairs-only", *session.posargs, env={BACKEND_ENV: "all", **TEST_ENV})


@nox.session(name="conformance-full", default=False, venv_backend="none")
def conformance_full(session: nox.Session) -> None:
    """Slow: every torchvision/timm/keras model against ours (pytest -m slow)."""
    run = _frameworks(session)
    run("pytest", "tests", "-m", "slow", *session.posargs, env={BACKEND_ENV: "all", **TEST_ENV})


@nox.session(default=False, venv_backend="none")
def report(session: nox.Session) -> None:
    """The conformance report (Markdown, JSON, heatmap PNG) for every installed backend -> out/conformance."""
    run = _frameworks(session)
    run("effnet", "conformance", "report", "--out", "out/conformance")


@nox.session(default=False, venv_backend="none")
def certify(session: nox.Session) -> None:
    """Slow: the field's conformance matrix (every built-in adapter x every model it claims, L0-L4) ->
    docs/conformance-matrix.{md,json}, the committed copy."""
    run = _frameworks(session)
    run("effnet", "conformance", "matrix", "--out", "docs", *session.posargs, env=TEST_ENV)


@nox.session(default=False, venv_backend="none")
def bench(session: nox.Session) -> None:
    """Speed: every implementation (ours and the references) side by side on CPU -> out/bench."""
    run = _frameworks(session)
    for kind in ("train", "infer"):
        run("effnet", "bench", kind, *(session.posargs or ["--sizes", "128,192"]))


@nox.session(default=False, venv_backend="none")
def demo(session: nox.Session) -> None:
    """The README's main job: a short progressive-learning run of EfficientNetV2-B0 on the built-in data
    (torch, 4 epochs of the automl code's schedule, 4 to 16 minutes on 2 cores, by CPU), writing
    out/demo/{metrics.jsonl,progress.png,summary.json}."""
    run = _frameworks(session)
    if (ROOT / "out" / "demo").exists():  # `effnet train` never overwrites a run: the demo replaces its own
        session.log("replacing the previous demo run in out/demo")
        shutil.rmtree(ROOT / "out" / "demo")
    run("effnet", "spec", "schedule", "efficientnetv2-b0", "--rule", "code", "--epochs", "4")
    run(
        "effnet",
        "train",
        *(
            session.posargs
            or ["--backend", "torch", "--model", "efficientnetv2-b0", "--data", "builtin", "--epochs", "4"]
        ),
        "--schedule",
        "code",
        "--lr-per-256",
        "0.008",
        "--out",
        "out/demo",
    )
