"""``python -m tests.training.jax_processes N PYTHON_ARGS...``: run ``python PYTHON_ARGS`` as N
``jax.distributed`` processes on this host (coordinator on a free local port), as a cluster
launcher would; exits non-zero if any process does."""

from __future__ import annotations

import os
import socket
import subprocess
import sys


def main() -> int:
    count, args = int(sys.argv[1]), sys.argv[2:]
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "JAX_COORDINATOR_ADDRESS": f"localhost:{port}", "JAX_NUM_PROCESSES": str(count)}
    procs = [
        subprocess.Popen([sys.executable, *args], env={**env, "JAX_PROCESS_ID": str(i)}) for i in range(count)
    ]
    codes = [p.wait(timeout=600) for p in procs]
    return max(abs(c) for c in codes)


if __name__ == "__main__":
    sys.exit(main())
