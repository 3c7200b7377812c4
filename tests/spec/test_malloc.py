"""effnet.malloc: the glibc huge-page tunable reaches the process and its children exactly once."""

import platform
import subprocess
import sys

import pytest

from effnet import malloc

glibc_only = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="GLIBC_TUNABLES exists only where the C library is glibc (Linux)",
)


@glibc_only
def test_environment_adds_the_tunable_once_and_keeps_others():
    env = malloc.environment({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})
    assert env["GLIBC_TUNABLES"] == f"glibc.malloc.arena_max=2:{malloc.TUNABLE}"
    assert malloc.environment(env) == env
    assert malloc.environment({})["GLIBC_TUNABLES"] == malloc.TUNABLE


def test_opt_out_leaves_the_environment_alone():
    assert malloc.environment({"EFFNET_MALLOC": "default"}) == {"EFFNET_MALLOC": "default"}


@glibc_only
def test_reexec_runs_the_same_command_with_the_tunable():
    code = (
        "import os; from effnet import malloc; malloc.reexec_with_huge_pages(); "
        "print(os.environ['GLIBC_TUNABLES'])"
    )
    env = {k: v for k, v in malloc.environment({}).items() if k != "GLIBC_TUNABLES"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == malloc.TUNABLE
