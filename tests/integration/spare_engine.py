"""A second, real Docker engine that tests may stop and restart at will.

Restarting the engine that the rest of the suite uses would kill its test containers, so the
tests that need an engine to go away run their own dockerd: same binary, own socket, data
root, exec root and containerd namespace, no bridge and no iptables rules, and a network
namespace of its own: a dockerd started with `--bridge none` deletes the interface `docker0`
wherever it runs, which in the host's namespace would leave the host's engine unable to run a
container on its default network until it restarts. It is a real engine, not a fake: the
proxy sees exactly what it would see when the host's dockerd restarts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

from proxytest import answers_ping, docker_socket_gid, is_root

START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


class SpareEngine:
    def __init__(self, extra_args: Sequence[str] = ()):
        # More dockerd flags, e.g. a TLS listener on tcp://127.0.0.1 (in_network() reaches it).
        self.extra_args = list(extra_args)
        self.root = Path(tempfile.mkdtemp(prefix="spt-engine-", dir="/tmp"))
        os.chmod(self.root, 0o755)
        self.socket_path = str(self.root / "docker.sock")
        self.log_path = self.root / "dockerd.log"
        self.proc: Optional[subprocess.Popen] = None
        self.starts = 0

    def start(self) -> None:
        assert self.proc is None, "already running"
        dockerd = shutil.which("dockerd")
        if dockerd is None:
            raise AssertionError("dockerd not found: run scripts/test-deps")
        argv = [
            # A new network namespace has its loopback down (swarm listens on 127.0.0.1);
            # sh execs dockerd, so the pid stays dockerd's.
            "unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$0" "$@"',
            dockerd,
            "--host", f"unix://{self.socket_path}",
            "--data-root", str(self.root / "data"),
            "--exec-root", str(self.root / "exec"),
            "--pidfile", str(self.root / "dockerd.pid"),
            "--bridge", "none", "--iptables=false", "--ip6tables=false",
            "--containerd-namespace", f"spt-spare-{os.getpid()}",
            "--containerd-plugins-namespace", f"spt-spare-plugins-{os.getpid()}",
            *self.extra_args,
        ]
        if is_root():
            # The same group as the main engine's socket, so a proxy that dropped to 1000 with
            # that group can reach this one too.
            argv += ["--group", str(docker_socket_gid())]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True)
        self.starts += 1
        deadline = time.monotonic() + START_TIMEOUT
        while not answers_ping(self.socket_path):
            if self.proc.poll() is not None:
                raise AssertionError(f"the spare dockerd exited with {self.proc.returncode}:\n"
                                     f"{self.log_tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the spare dockerd did not answer within {START_TIMEOUT} s:"
                                     f"\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        # dockerd removes its socket on a clean exit; make sure a killed one leaves none.
        try:
            os.unlink(self.socket_path)
        except FileNotFoundError:
            pass

    def in_network(self, *argv: str) -> list:
        """argv run in the engine's network namespace, whose 127.0.0.1 is the engine's own."""
        assert self.proc is not None and self.proc.poll() is None, "not running"
        return ["nsenter", f"--net=/proc/{self.proc.pid}/ns/net", "--", *argv]

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    @staticmethod
    def host_bridge_exists() -> bool:
        return Path("/sys/class/net/docker0").exists()

    def remove(self) -> None:
        self.stop()
        # Leftover overlay mounts under the data root would make rmtree fail; dockerd unmounts
        # on a clean stop, and the spare engine runs no containers.
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def spare_swarm():
    """A spare engine in swarm mode with the test image loaded, so the suite's main engine
    never joins a swarm. Yields (engine, host); its services are removed and the swarm left."""
    from proxytest import TEST_IMAGE, docker, free_tcp_port

    spare = SpareEngine()
    spare.start()
    host = f"unix://{spare.socket_path}"
    try:
        subprocess.run(f"docker save {TEST_IMAGE} | docker -H {host} load", shell=True,
                       check=True, capture_output=True, timeout=120)
        docker("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr",
               f"127.0.0.1:{free_tcp_port()}", host=host, check=True)
        yield spare, host
    finally:
        print(f"--- spare dockerd log ---\n{spare.log_tail()}")
        services = docker("service", "ls", "-q", host=host).stdout.split()
        if services:
            docker("service", "rm", *services, host=host)
        deadline = time.monotonic() + 30
        while docker("ps", "-aq", host=host).stdout.strip() and time.monotonic() < deadline:
            time.sleep(0.5)
        docker("swarm", "leave", "--force", host=host)
        spare.remove()
