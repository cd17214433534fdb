"""A `podman system service` of a test's own: its own storage root, the test image loaded, the
socket reachable by the group of Docker's socket (as the proxy, dropped to uid 1000, reaches
Docker's), everything removed at the end."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import tempfile
import time
import types
from pathlib import Path

import pytest

from proxytest import TEST_IMAGE, answers_ping, docker_socket_gid, is_root

# Podman sets the OCI runtime's rlimits to its own defaults (nofile 1048576), above the hard
# limits here: containers get explicit ones.
ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


@contextlib.contextmanager
def podman_service(prefix: str):
    """Yields socket_path, host (a DOCKER_HOST for it), base (the podman command line of this
    root) and run(*args, check=True, **subprocess options)."""
    if shutil.which("podman") is None:
        pytest.fail("podman is missing: run scripts/test-deps", pytrace=False)
    root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chmod(root, 0o755)
    socket_path = str(root / "podman.sock")
    base = ["podman", "--root", str(root / "storage"), "--runroot", str(root / "run"),
            "--storage-driver", "vfs", "--events-backend", "file"]

    def run(*args: str, check: bool = True, **options) -> subprocess.CompletedProcess:
        result = subprocess.run([*base, *args], capture_output=True, text=True, timeout=120,
                                **options)
        if check and result.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} failed: {result.stderr}")
        return result

    service = subprocess.Popen([*base, "system", "service", "--time=0", f"unix://{socket_path}"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=open(root / "service.log", "wb"), start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not answers_ping(socket_path):
            assert service.poll() is None, (root / "service.log").read_text()
            assert time.monotonic() < deadline, "podman system service did not answer in 30 s"
            time.sleep(0.1)
        if is_root():
            os.chown(socket_path, 0, docker_socket_gid())
            os.chmod(socket_path, 0o660)
        subprocess.run(f"docker save {TEST_IMAGE} | {shlex.join(base)} load", shell=True,
                       check=True, capture_output=True, timeout=120)
        yield types.SimpleNamespace(socket_path=socket_path, host=f"unix://{socket_path}",
                                    base=base, run=run)
    finally:
        run("rm", "-f", "-a", "-t", "0", check=False)
        os.killpg(service.pid, 15)
        try:
            service.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(service.pid, 9)
            service.wait()
        shutil.rmtree(root, ignore_errors=True)
