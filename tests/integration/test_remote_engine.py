"""A remote engine as the upstream: SOCKET_PROXY_DOCKER_SOCKET=tcp://HOST:PORT, with
SOCKET_PROXY_DOCKER_CERT_PATH for TLS. The engine is a real spare dockerd with --tlsverify on
127.0.0.1 and 127.0.0.2 of its own network namespace; the proxy runs in that namespace too
(nsenter) and is reached through its unix socket in /tmp, which crosses namespaces. The
certificates come from the binary's own `certs` command: the engine's for 127.0.0.1 and
localhost, so 127.0.0.2 is a name the certificate does not carry."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from proxytest import (TEST_IMAGE, HttpConnection, docker, docker_popen, proxy_binary,
                       random_suffix, run_healthcheck, stop_process, tick_number, write_policy)
from spare_engine import SpareEngine

TLS_PORT = 2376
PLAIN_PORT = 2375
ALLOW_ALL = "default: deny\nrules:\n  - name: all\n    action: allow\n"


def certs(directory: Path, host: str, client: str) -> Path:
    result = subprocess.run([proxy_binary(), "certs", str(directory), "--host", host,
                             "--client", client], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return directory


def readable(directory: Path) -> None:
    """The proxy drops to uid 1000 and SIGHUP rereads the files as that user."""
    for path in [directory, *directory.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def bundle(directory: Path, ca: Path, client: Path) -> Path:
    """A DOCKER_CERT_PATH made of the CA that is trusted and the certificate presented."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(ca, directory / "ca.pem")
    shutil.copy(client / "cert.pem", directory / "cert.pem")
    shutil.copy(client / "key.pem", directory / "key.pem")
    readable(directory)
    return directory


@pytest.fixture(scope="module")
def remote(binary):
    """(engine, pki, container): the TLS engine, the certificate directories, and a running
    container on it that prints `tick N` every half second."""
    pki = Path(tempfile.mkdtemp(prefix="spt-remote-", dir="/tmp"))
    certs(pki / "good", "127.0.0.1,localhost", "proxy")
    certs(pki / "other", "127.0.0.1,localhost", "proxy")
    readable(pki)
    server = pki / "good/server"
    engine = SpareEngine(["--tlsverify", "--tlscacert", str(server / "ca.pem"),
                          "--tlscert", str(server / "cert.pem"),
                          "--tlskey", str(server / "key.pem"),
                          "--host", f"tcp://127.0.0.1:{TLS_PORT}",
                          "--host", f"tcp://127.0.0.2:{TLS_PORT}"])
    bridge_before = SpareEngine.host_bridge_exists()
    direct = f"unix://{engine.socket_path}"
    try:
        engine.start()
        loaded = subprocess.run(f"docker save {TEST_IMAGE} | docker -H {direct} load",
                                shell=True, capture_output=True, timeout=120)
        assert loaded.returncode == 0, loaded.stderr
        container = f"spt-remote-{random_suffix()}"
        docker("run", "-d", "--network", "none", "--name", container, TEST_IMAGE, "sh", "-c",
               "i=0; while [ $i -lt 3600 ]; do echo tick $i; i=$((i+1)); sleep 0.5; done",
               host=direct, check=True)
        yield engine, pki, container
    finally:
        if engine.proc is not None and engine.proc.poll() is None:
            docker("rm", "-f", *docker("ps", "-aq", host=direct).stdout.split(), host=direct)
        print(f"--- spare dockerd log ---\n{engine.log_tail()}")
        engine.remove()
        shutil.rmtree(pki, ignore_errors=True)
    assert not bridge_before or SpareEngine.host_bridge_exists(), \
        "the spare engine deleted the host's docker0 bridge"


def start_remote_proxy(proxy_factory, engine, address: str, cert_path=None, *extra, **options):
    args = [*extra]
    if cert_path is not None:
        args += ["--docker-cert-path", str(cert_path)]
    return proxy_factory(*args, docker_socket=address, tcp=False,
                         command_prefix=engine.in_network(), env={"DEBUG": "1"}, **options)


def handshakes(proxy) -> int:
    return len([line for line in proxy.log.splitlines()
                if "daemon-connected" in line and re.search(r"tls\W+on", line)])


def request_lines(proxy) -> list:
    return [line for line in proxy.log.splitlines() if re.search(r" request client=|\"request\"",
                                                                  line)]


def test_docker_cli_through_the_proxy_to_a_tls_engine(proxy_factory, remote, policy_dir):
    engine, pki, container = remote
    policy = write_policy(policy_dir, ALLOW_ALL)
    proxy = start_remote_proxy(proxy_factory, engine, f"tcp://127.0.0.1:{TLS_PORT}",
                               pki / "good/clients/proxy", "--policy", policy)
    host = proxy.docker_host()
    version = docker("version", "--format", "{{.Server.Version}}", host=host)
    assert version.returncode == 0, version.stderr + proxy.log
    assert version.stdout.strip()
    listed = docker("ps", "--format", "{{.Names}}", host=host)
    assert listed.returncode == 0, listed.stderr
    assert container in listed.stdout.split()
    # A hijacked exec: stdin through TLS to the engine, the output back, and the end of the
    # input (a close_notify to the engine) ends the process.
    executed = docker("exec", "-i", container, "sh", "-c", "cat; echo done", host=host,
                      input="through-two-tunnels\n", timeout=45)
    assert executed.returncode == 0, executed.stderr + proxy.log
    assert executed.stdout == "through-two-tunnels\ndone\n"
    # A stream of unknown length flows as it comes.
    follower = docker_popen("logs", "-f", "--tail", "0", container, host=host)
    try:
        deadline = time.monotonic() + 10
        ticks = []
        while len(ticks) < 2 and time.monotonic() < deadline:
            line = follower.stdout.readline().decode()
            if tick_number(line.strip()) is not None:
                ticks.append(tick_number(line.strip()))
        assert len(ticks) == 2 and ticks[1] == ticks[0] + 1, ticks
    finally:
        stop_process(follower)
    # A long answer (over the splice threshold) is decrypted and copied whole.
    saved = subprocess.run(f"docker -H {host} save {TEST_IMAGE} | wc -c", shell=True,
                           capture_output=True, text=True, timeout=60)
    direct = subprocess.run(f"docker -H unix://{engine.socket_path} save {TEST_IMAGE} | wc -c",
                            shell=True, capture_output=True, text=True, timeout=60)
    assert int(saved.stdout) == int(direct.stdout) > 256 * 1024
    # The built-in health check goes through the proxy's socket to the remote engine.
    health = run_healthcheck(env={"SOCKET_PROXY_VOLUME": str(proxy.volume)})
    assert health.returncode == 0, health.stderr


def test_the_default_policy_still_denies_over_a_remote_engine(proxy_factory, remote):
    engine, pki, container = remote
    proxy = start_remote_proxy(proxy_factory, engine, f"tcp://localhost:{TLS_PORT}",
                               pki / "good/clients/proxy")
    with HttpConnection(proxy.unix_path) as connection:
        allowed = connection.request("GET", f"/containers/{container}/json")
        assert allowed.status == 200, proxy.log
        denied = connection.request("GET", f"/containers/{container}/export")
        assert denied.status == 403
    # The start-up check runs on the main thread, the requests may be served on another.
    assert proxy.wait_for_log(lambda line: "daemon-reachable" in line), proxy.log


def test_sequential_requests_reuse_one_tls_connection(proxy_factory, remote):
    engine, pki, _ = remote
    # One serving thread: each thread keeps daemon connections of its own, and the start-up
    # check's connection is the main thread's.
    proxy = start_remote_proxy(proxy_factory, engine, f"tcp://127.0.0.1:{TLS_PORT}",
                               pki / "good/clients/proxy", "--threads", "1")
    proxy.wait_for_log(lambda line: "daemon-reachable" in line)
    with HttpConnection(proxy.unix_path) as connection:
        for _ in range(10):
            assert connection.request("GET", "/version").status == 200
    # Each start checks the engine once (one handshake, then pooled); the ten requests
    # after it reuse that connection.
    assert handshakes(proxy) == 1, proxy.log


def assert_refused_with(proxy, *fragments: str) -> None:
    with HttpConnection(proxy.unix_path) as connection:
        response = connection.request("GET", "/version")
    assert response.status == 502, response
    message = response.json()["message"]
    for fragment in fragments:
        assert fragment in message, message
    assert handshakes(proxy) == 0


def test_an_engine_certificate_from_another_ca_is_refused(proxy_factory, remote):
    engine, pki, _ = remote
    proxy = start_remote_proxy(proxy_factory, engine, f"tcp://127.0.0.1:{TLS_PORT}",
                               pki / "other/clients/proxy")
    assert_refused_with(proxy, f"tcp://127.0.0.1:{TLS_PORT}", "not signed by a CA",
                        "ca.pem")
    assert proxy.wait_for_log(lambda line: "daemon-unreachable" in line
                              and "not signed by a CA" in line)


def test_an_engine_certificate_for_another_address_is_refused(proxy_factory, remote):
    engine, pki, _ = remote
    proxy = start_remote_proxy(proxy_factory, engine, f"tcp://127.0.0.2:{TLS_PORT}",
                               pki / "good/clients/proxy")
    assert_refused_with(proxy, "is not for 127.0.0.2")


def test_a_client_certificate_the_engine_does_not_trust(proxy_factory, remote):
    engine, pki, _ = remote
    cert_path = bundle(pki / f"mixed-{random_suffix()}", pki / "good/clients/proxy/ca.pem",
                       pki / "other/clients/proxy")
    proxy = start_remote_proxy(proxy_factory, engine, f"tcp://127.0.0.1:{TLS_PORT}", cert_path)
    with HttpConnection(proxy.unix_path) as connection:
        response = connection.request("GET", "/version")
    assert response.status == 502, response
    assert f"tcp://127.0.0.1:{TLS_PORT}" in response.json()["message"]


def test_plain_http_to_a_tls_engine_is_told_at_start(proxy_factory, remote):
    engine, _, _ = remote
    proxy = start_remote_proxy(proxy_factory, engine, f"tcp://127.0.0.1:{TLS_PORT}")
    line = proxy.wait_for_log(lambda line: "daemon-unreachable" in line)
    assert line and "SOCKET_PROXY_DOCKER_CERT_PATH" in line, proxy.log
    # Loopback: no warning that the engine is reached in the clear.
    assert "plaintext-daemon" not in proxy.log


def test_sighup_loads_new_client_certificates(proxy_factory, remote):
    engine, pki, container = remote
    # In the module's /tmp directory, which the proxy's dropped user can read for SIGHUP.
    cert_path = bundle(pki / f"bundle-{random_suffix()}", pki / "good/clients/proxy/ca.pem",
                       pki / "other/clients/proxy")
    proxy = start_remote_proxy(proxy_factory, engine, f"tcp://127.0.0.1:{TLS_PORT}", cert_path)
    with HttpConnection(proxy.unix_path) as connection:
        assert connection.request("GET", "/version").status == 502
    bundle(cert_path, pki / "good/clients/proxy/ca.pem", pki / "good/clients/proxy")
    os.kill(proxy.proc.pid, signal.SIGHUP)
    assert proxy.wait_for_log(lambda line: "reload" in line and "docker_cert_path" in line)
    with HttpConnection(proxy.unix_path) as connection:
        assert connection.request("GET", "/version").status == 200, proxy.log
    # A stream that began before a reload keeps its connection.
    follower = docker_popen("logs", "-f", "--tail", "0", container, host=proxy.docker_host())
    try:
        assert tick_number(follower.stdout.readline().decode().strip()) is not None
        os.kill(proxy.proc.pid, signal.SIGHUP)
        time.sleep(0.5)
        assert tick_number(follower.stdout.readline().decode().strip()) is not None
    finally:
        stop_process(follower)


def test_a_name_that_does_not_resolve_is_a_502(proxy_factory, remote):
    engine, pki, _ = remote
    proxy = start_remote_proxy(proxy_factory, engine, f"tcp://no-such-engine.invalid:{TLS_PORT}",
                               pki / "good/clients/proxy")
    assert_refused_with(proxy, "no-such-engine.invalid", "does not resolve")


def test_a_cert_path_with_a_unix_socket_stops_the_proxy(tmp_path):
    result = subprocess.run([proxy_binary(), "--docker-cert-path", str(tmp_path),
                             "--volume", str(tmp_path)], capture_output=True, text=True,
                            timeout=20)
    assert result.returncode != 0
    assert "is a unix socket" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_plain_tcp_to_an_engine_without_tls(proxy_factory, spare_engine):
    spare_engine.extra_args = ["--host", f"tcp://127.0.0.1:{PLAIN_PORT}"]
    spare_engine.start()
    proxy = start_remote_proxy(proxy_factory, spare_engine, f"tcp://127.0.0.1:{PLAIN_PORT}")
    version = docker("version", "--format", "{{.Server.Version}}", host=proxy.docker_host())
    assert version.returncode == 0, version.stderr + proxy.log
    assert proxy.wait_for_log(lambda line: "daemon-reachable" in line)
    assert "plaintext-daemon" not in proxy.log
