"""nox sessions, driven by one table of backends. `nox --list` shows each session's purpose.

Default sessions (the README's test command, `python3 -m nox`): lint, spec, one per backend whose
tests exist, conformance. Slow or special sessions (conformance-full, bench) run only when named.
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.error_on_missing_interpreters = False
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent
# backend name (also the value of EFFNET_BACKEND that selects it) -> pip extras its session needs
# (torch beside jax/tf: their tests load torchvision/timm checkpoints)
BACKENDS = {
    "torch": ("torch",),
    "jax": ("jax", "torch"),
    "tf": ("tf", "torch"),
}
ALL_EXTRAS = ("torch", "jax", "tf")
BACKEND_ENV = "EFFNET_BACKEND"
# every test run: the ci hypothesis profile, and huge pages for malloc (effnet_cli/malloc.py: JAX's
# CPU training steps run ~30% faster; the `effnet` command sets the same for itself)
TEST_ENV = {"HYPOTHESIS_PROFILE": "ci", "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}


def _ready(backend: str) -> bool:
    """A backend's session joins the default run once its tests exist."""
    return (ROOT / "tests" / backend).is_dir()


def _install(session: nox.Session, *extras: str) -> None:
    spec = ".[" + ",".join(("test", *extras)) + "]"
    session.install("-e", spec)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff lint and format check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def spec(session: nox.Session) -> None:
    """The spec and the input pipeline, no framework installed: loader, resolve, counts, reference."""
    _install(session)
    session.run("pytest", "tests/spec", "tests/training", *session.posargs, env=TEST_ENV)


for _backend, _extras in BACKENDS.items():

    @nox.session(name=_backend, default=_ready(_backend))
    def _backend_session(
        session: nox.Session, backend: str = _backend, extras: tuple[str, ...] = _extras
    ) -> None:
        _install(session, *extras)
        env = {BACKEND_ENV: backend, **TEST_ENV}
        session.run("pytest", f"tests/{backend}", "tests/conformance", *session.posargs, env=env)

    _backend_session.__doc__ = f"The {_backend} backend and its converters ({BACKEND_ENV}={_backend})."


@nox.session(default=(ROOT / "tests" / "conformance").is_dir())
def conformance(session: nox.Session) -> None:
    """Every installed backend against the numpy reference and against each other."""
    _install(session, *ALL_EXTRAS)
    session.run("pytest", "tests/conformance", *session.posargs, env={BACKEND_ENV: "all", **TEST_ENV})


@nox.session(name="conformance-full", default=False)
def conformance_full(session: nox.Session) -> None:
    """Slow: every torchvision/timm/keras model against ours (pytest -m slow)."""
    _install(session, *ALL_EXTRAS)
    session.run(
        "pytest",
        "tests",
        "-m",
        "slow",
        *session.posargs,
        env={BACKEND_ENV: "all", **TEST_ENV},
    )


@nox.session(default=False)
def report(session: nox.Session) -> None:
    """The conformance report (Markdown, JSON, heatmap PNG) for every installed backend -> out/conformance."""
    _install(session, *ALL_EXTRAS)
    session.run("effnet", "conformance", "report", "--out", "out/conformance")


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Speed: every implementation (ours and the references) side by side on CPU -> out/bench."""
    _install(session, *ALL_EXTRAS)
    for kind in ("train", "infer"):
        session.run("effnet", "bench", kind, *(session.posargs or ["--sizes", "128,192"]))


@nox.session(default=False)
def demo(session: nox.Session) -> None:
    """The README's main job: a short progressive-learning run of EfficientNetV2-B0 on the built-in data
    (torch, 4 epochs of the automl code's schedule, about 4 minutes on 2 cores), writing
    out/demo/{metrics.jsonl,progress.png,summary.json}."""
    _install(session, "torch")
    session.run("effnet", "spec", "schedule", "efficientnetv2-b0", "--rule", "code", "--epochs", "4")
    session.run(
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
