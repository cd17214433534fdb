"""Podman's Docker-compatible API as the upstream (issue 6): Debian's podman runs
`podman system service` on a socket of the test's own (own storage root, vfs), and the docker
CLI reads it through the proxy as it reads Docker. Each test is a row of the compatibility
table."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
import time
import types
from pathlib import Path

import pytest

from proxytest import (TEST_IMAGE, LineReader, answers_ping, docker, docker_popen,
                       docker_socket_gid, is_root, random_suffix, stop_process, tick_number)

# Podman sets the OCI runtime's rlimits to its own defaults (nofile 1048576), above the hard
# limits here: containers get explicit ones.
ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
SECRET = f"hunter2-{random_suffix()}"


@pytest.fixture(scope="module")
def podman(engine):
    if shutil.which("podman") is None:
        pytest.fail("podman is missing: run scripts/test-deps", pytrace=False)
    root = Path(tempfile.mkdtemp(prefix="spt-podman-", dir="/tmp"))
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
            # As for Docker's socket: the proxy, dropped to 1000, reaches it by group.
            os.chown(socket_path, 0, docker_socket_gid())
            os.chmod(socket_path, 0o660)
        subprocess.run(f"docker save {TEST_IMAGE} | {shlex.join(base)} load", shell=True,
                       check=True, capture_output=True, timeout=120)
        greeting = f"hello-{random_suffix()}"
        ticker = f"spt-podman-{random_suffix()}"
        run("run", "-d", "--name", ticker, "--network", "none", *ULIMITS, "-e",
            f"DB_PASSWORD={SECRET}", TEST_IMAGE, "sh", "-c",
            f"echo {greeting}; i=0; while [ $i -lt 3600 ]; do echo tick $i; i=$((i+1)); "
            f"sleep 0.5; done")
        yield types.SimpleNamespace(socket_path=socket_path, host=f"unix://{socket_path}",
                                    run=run, ticker=ticker, greeting=greeting)
    finally:
        run("rm", "-f", "-a", "-t", "0", check=False)
        os.killpg(service.pid, 15)
        try:
            service.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(service.pid, 9)
            service.wait()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def podman_proxy(podman, proxy_factory):
    return proxy_factory(docker_socket=podman.socket_path)


CLI_READS = {
    "version": ["version", "--format", "{{.Server.Version}}"],
    "info": ["info", "--format", "{{.ServerVersion}} {{.OperatingSystem}}"],
    "ps -a": ["ps", "-a", "--format", "{{.ID}} {{.Names}}"],
    "images": ["images", "--format", "{{.ID}}"],
    "network ls": ["network", "ls", "--format", "{{.ID}} {{.Name}}"],
    "volume ls": ["volume", "ls", "--format", "{{.Name}}"],
    "system df": ["system", "df", "--format", "{{.Type}}"],
}


@pytest.mark.parametrize("operation", [
    pytest.param(name, marks=pytest.mark.compat("docker CLI → podman 4.3", name))
    for name in CLI_READS])
def test_reads_match_podman(podman, podman_proxy, transport, operation):
    args = CLI_READS[operation]
    through = docker(*args, host=podman_proxy.docker_host(transport))
    assert through.returncode == 0, through.stderr
    direct = docker(*args, host=podman.host, check=True)
    assert sorted(through.stdout.splitlines()) == sorted(direct.stdout.splitlines())
    assert through.stdout.strip() or operation == "volume ls"


@pytest.mark.compat("docker CLI → podman 4.3", "inspect (Env values redacted)")
def test_inspect_is_redacted(podman, podman_proxy, transport):
    result = docker("inspect", "--format", "{{json .Config.Env}}", podman.ticker,
                    host=podman_proxy.docker_host(transport))
    assert result.returncode == 0, result.stderr
    assert "DB_PASSWORD=<redacted>" in result.stdout and SECRET not in result.stdout
    assert SECRET in docker("inspect", "--format", "{{json .Config.Env}}", podman.ticker,
                            host=podman.host, check=True).stdout


@pytest.mark.compat("docker CLI → podman 4.3", "logs, logs -f --tail (live)")
def test_logs_and_follow(podman, podman_proxy, transport):
    host = podman_proxy.docker_host(transport)
    logs = docker("logs", podman.ticker, host=host)
    assert logs.returncode == 0 and podman.greeting in logs.stdout, logs
    follower = docker_popen("logs", "-f", "--tail", "1", podman.ticker, host=host)
    try:
        reader = LineReader(follower.stdout)
        first = reader.wait_for(lambda line: tick_number(line) is not None, timeout=10)
        assert first is not None, "no tick through the proxy"
        later = reader.wait_for(lambda line: (tick_number(line) or -1) >= tick_number(first) + 2,
                                timeout=10)
        assert later is not None, "the followed log did not flow"
    finally:
        stop_process(follower)


@pytest.mark.compat("docker CLI → podman 4.3", "events (live), stats --no-stream")
def test_events_and_stats(podman, podman_proxy, transport):
    host = podman_proxy.docker_host(transport)
    watcher = docker_popen("events", "--format", "{{.Action}} {{.Actor.Attributes.name}}",
                           host=host)
    try:
        reader = LineReader(watcher.stdout)
        time.sleep(1)
        podman.run("pause", podman.ticker)
        podman.run("unpause", podman.ticker)
        assert reader.wait_for(lambda line: line.strip() == f"unpause {podman.ticker}",
                               timeout=15) is not None, "no event through the proxy"
    finally:
        stop_process(watcher)
    stats = docker("stats", "--no-stream", "--format", "{{.Name}}", podman.ticker, host=host)
    assert stats.returncode == 0 and stats.stdout.strip(), stats


@pytest.mark.compat("docker CLI → podman 4.3", "refused, printing the proxy's message: run, "
                    "exec, export, rm")
@pytest.mark.parametrize("args", [["run", "--rm", TEST_IMAGE, "true"], ["exec", "{t}", "true"],
                                  ["export", "{t}"], ["rm", "-f", "{t}"]],
                         ids=["run", "exec", "export", "rm"])
def test_writes_are_refused(podman, podman_proxy, transport, args):
    result = docker(*[arg.format(t=podman.ticker) for arg in args],
                    host=podman_proxy.docker_host(transport))
    assert result.returncode != 0 and "socket-proxy denied" in result.stderr, result
    assert podman.run("ps", "--format", "{{.Names}}").stdout.split().count(podman.ticker) == 1
