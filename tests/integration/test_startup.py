"""Start-up, configuration, privileges, logging, health: the binary as an operator runs it."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import tempfile
import time

import pytest

from proxytest import (DOCKER_SOCKET, assert_json_error, clean_environment, docker,
                       docker_socket_gid, free_tcp_port, http, is_root, make_workdir,
                       proxy_binary, random_suffix, run_healthcheck)

needs_root = pytest.mark.skipif(not is_root(), reason="needs root (privilege drop, chown)")


@pytest.fixture
def scratch():
    """(workdir, volume) for a proxy the test runs itself; removed afterwards."""
    workdir, volume = make_workdir()
    yield workdir, volume
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def missing_socket() -> str:
    """A docker socket path that does not exist, in a directory anyone may look into (so the
    proxy sees ENOENT, not EACCES, whoever it runs as)."""
    return f"/nonexistent-{random_suffix()}/docker.sock"


def _proc_ids(pid: int) -> dict:
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid", "Groups"):
                fields[key] = [int(x) for x in value.split()]
    return fields


@needs_root
def test_listening_socket_owner_and_mode(proxy):
    info = os.stat(proxy.unix_path)
    assert stat.S_ISSOCK(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o660, oct(info.st_mode)
    assert (info.st_uid, info.st_gid) == (1000, 1000)


@needs_root
def test_drops_to_uid_gid_keeping_the_docker_group(proxy):
    ids = _proc_ids(proxy.proc.pid)
    assert ids["Uid"] == [1000] * 4, ids
    assert ids["Gid"] == [1000] * 4, ids
    assert docker_socket_gid() in ids["Groups"], ids
    assert 0 not in ids["Groups"], ids
    assert http(proxy.unix_path, "GET", "/_ping").status == 200


@needs_root
def test_configuration_from_environment(proxy_factory):
    proxy = proxy_factory(use_env=True, env={"SOCKET_PROXY_UID": "4321", "SOCKET_PROXY_GID": "4322"})
    info = os.stat(proxy.unix_path)
    assert (info.st_uid, info.st_gid) == (4321, 4322)
    assert stat.S_IMODE(info.st_mode) == 0o660
    ids = _proc_ids(proxy.proc.pid)
    assert ids["Uid"] == [4321] * 4 and ids["Gid"] == [4322] * 4, ids
    assert docker_socket_gid() in ids["Groups"], ids
    for address in (proxy.unix_path, proxy.tcp_address):
        response = http(address, "GET", "/_ping")
        assert response.status == 200, response


def test_flags_override_environment(proxy_factory, tmp_path):
    """start_proxy passes --volume, --docker-socket and --tcp as flags: they must win."""
    env_volume = tmp_path / "env-volume"
    env_volume.mkdir()
    proxy = proxy_factory(env={"SOCKET_PROXY_DOCKER_SOCKET": str(tmp_path / "nothing.sock"),
                               "SOCKET_PROXY_VOLUME": str(env_volume),
                               "SOCKET_PROXY_TCP": f"127.0.0.1:{free_tcp_port()}"})
    response = http(proxy.unix_path, "GET", "/_ping")
    assert response.status == 200, f"--docker-socket did not override the environment: {response!r}"
    assert http(proxy.tcp_address, "GET", "/_ping").status == 200
    assert not os.path.lexists(env_volume / "docker.sock"), "listened in SOCKET_PROXY_VOLUME too"


def test_stale_socket_file_is_replaced(proxy_factory):
    """After a crash (or docker kill) the volume still holds the old socket file."""
    workdir, volume = make_workdir()  # removed by proxy_factory's teardown
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(volume / "docker.sock"))
    stale.close()
    proxy = proxy_factory(workdir=workdir, volume=volume)
    assert http(proxy.unix_path, "GET", "/_ping").status == 200


def _listening_tcp_inodes() -> set:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as lines:
                next(lines)
                for line in lines:
                    fields = line.split()
                    if fields[3] == "0A":  # TCP_LISTEN
                        inodes.add(fields[9])
        except FileNotFoundError:
            pass
    return inodes


def _socket_inodes(pid: int) -> set:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def test_tcp_off_listens_on_no_port(proxy_factory):
    proxy = proxy_factory(tcp=False)
    assert http(proxy.unix_path, "GET", "/_ping").status == 200
    assert not (_socket_inodes(proxy.proc.pid) & _listening_tcp_inodes()), \
        "--tcp off still listens on a TCP port"


@pytest.mark.skipif(not socket.has_ipv6 or not os.path.exists("/proc/net/if_inet6"),
                    reason="no IPv6 on this machine")
def test_tcp_on_ipv6_loopback(proxy_factory):
    port = free_tcp_port()
    proxy = proxy_factory(tcp=f"[::1]:{port}")
    deadline = time.monotonic() + 10
    while True:  # the fixture only polled the unix socket
        try:
            connection = socket.create_connection(("::1", port), timeout=10)
            break
        except OSError:
            assert time.monotonic() < deadline, f"nothing listens on [::1]:{port}\n{proxy.log}"
            time.sleep(0.05)
    with connection:
        connection.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert proxy.proc.poll() is None


def test_help_prints_usage():
    result = subprocess.run([proxy_binary(), "--help"], capture_output=True, text=True, timeout=10,
                            env=clean_environment())
    assert result.returncode == 0, result.stderr
    for word in ("--volume", "--docker-socket", "--tcp", "--timeout", "SOCKET_PROXY_TIMEOUT"):
        assert word in result.stdout, f"{word} missing from --help:\n{result.stdout}"


@pytest.mark.parametrize("flag,value", [("--timeout", "30x"), ("--tcp", "127.0.0.1:notaport"),
                                        ("--uid", "-5"), ("--threads", "0"),
                                        ("--threads", "many")])
def test_invalid_configuration_fails_before_listening(scratch, flag, value):
    workdir, volume = scratch
    result = subprocess.run(
        [proxy_binary(), "--volume", str(volume), "--docker-socket", DOCKER_SOCKET, "--tcp", "off",
         flag, value], capture_output=True, text=True, timeout=10, env=clean_environment())
    assert result.returncode != 0, f"accepted {flag} {value}"
    assert value in result.stderr, f"the error does not quote {value!r}: {result.stderr!r}"
    assert not os.path.lexists(volume / "docker.sock")


@pytest.mark.parametrize("how", ["env", "flag"])
def test_debug_logs_every_request(proxy_factory, how):
    proxy = proxy_factory(*(["--debug"] if how == "flag" else []),
                          env={"DEBUG": "1"} if how == "env" else None)
    assert http(proxy.unix_path, "GET", "/v1.41/containers/json?all=1").status == 200
    line = proxy.wait_for_log(
        lambda l: "GET" in l and "/containers/json" in l and "200" in l, stream="stdout")
    assert line, f"no debug line for GET /containers/json with its status on stdout:\n{proxy.log}"


def test_denials_are_logged_without_debug(proxy):
    response = http(proxy.unix_path, "POST", "/v1.41/containers/create", body=b"{}",
                    headers={"Content-Type": "application/json"})
    assert response.status == 403, response
    line = proxy.wait_for_log(lambda l: "POST" in l and "/containers/create" in l, stream="stdout")
    assert line, f"the denial was not logged on stdout:\n{proxy.log}"
    assert len(line) < 2000 and "\n" not in line


def test_engine_unreachable_gives_502(proxy_factory, missing_socket, transport):
    missing = missing_socket
    proxy = proxy_factory(docker_socket=missing)
    assert proxy.wait_for_log(lambda l: missing in l, timeout=5), \
        f"no start-up warning naming {missing}:\n{proxy.log}"
    response = http(proxy.address(transport), "GET", "/_ping")
    assert_json_error(response, 502, missing)
    response = http(proxy.address(transport), "GET", "/v1.41/containers/json")
    assert_json_error(response, 502, missing)


def test_docker_cli_shows_the_502_message(proxy_factory, missing_socket):
    missing = missing_socket
    proxy = proxy_factory(docker_socket=missing)
    result = docker("ps", host=proxy.docker_host("unix"), timeout=60)
    assert result.returncode != 0
    assert missing in result.stderr, result.stderr


def test_healthcheck_with_engine(proxy):
    result = run_healthcheck("--volume", str(proxy.volume), "--docker-socket", DOCKER_SOCKET)
    assert result.returncode == 0, result.stderr


def test_healthcheck_from_environment(proxy):
    result = run_healthcheck(env={"SOCKET_PROXY_VOLUME": str(proxy.volume)})
    assert result.returncode == 0, result.stderr


def test_healthcheck_without_engine(proxy_factory, missing_socket):
    missing = missing_socket
    proxy = proxy_factory(docker_socket=missing)
    result = run_healthcheck("--volume", str(proxy.volume), "--docker-socket", missing)
    assert result.returncode != 0, "healthcheck passed although the engine is unreachable"


def test_healthcheck_without_proxy(scratch):
    workdir, volume = scratch
    started = time.monotonic()
    result = run_healthcheck("--volume", str(volume))
    assert result.returncode != 0, "healthcheck passed with no proxy listening"
    assert time.monotonic() - started < 15


@needs_root
def test_cannot_open_docker_socket_names_the_compose_fix(scratch):
    """Started as uid 1000 without the docker group: one clear error line, no listening socket."""
    workdir, volume = scratch
    os.chown(volume, 1000, 1000)
    gid = docker_socket_gid()
    result = subprocess.run(
        ["setpriv", "--reuid", "1000", "--regid", "1000", "--clear-groups", "--",
         proxy_binary(), "--volume", str(volume), "--docker-socket", DOCKER_SOCKET, "--tcp", "off"],
        capture_output=True, text=True, timeout=15, env=clean_environment())
    assert result.returncode != 0, f"started without access to {DOCKER_SOCKET}:\n{result.stdout}"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one error line on stderr, got {lines}"
    assert DOCKER_SOCKET in lines[0], lines[0]
    assert f'user: "0:{gid}"' in lines[0], lines[0]
    assert not os.path.lexists(volume / "docker.sock"), "it listened before failing"


@needs_root
def test_runs_unprivileged_with_the_docker_group(proxy_factory):
    """Started as uid 1000 with the docker group (compose `user: "1000:<docker gid>"`)."""
    workdir, volume = make_workdir()  # removed by proxy_factory's teardown
    os.chown(volume, 1000, 1000)
    gid = docker_socket_gid()
    proxy = proxy_factory(command_prefix=["setpriv", "--reuid", "1000", "--regid", "1000",
                                          "--groups", str(gid), "--"],
                          workdir=workdir, volume=volume)
    assert http(proxy.unix_path, "GET", "/_ping").status == 200
    info = os.stat(proxy.unix_path)
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (1000, 0o660)


@needs_root
def test_an_engine_that_appears_after_the_proxy_gets_a_502_naming_the_fix(proxy_factory):
    """Started as root before the engine existed, the proxy dropped to 1000:1000 without the
    socket's group: each request's 502, and its log line, say who the proxy runs as, who owns
    the socket, and the compose line that fixes it."""
    directory = tempfile.mkdtemp(prefix="spt-late-engine-", dir="/tmp")
    os.chmod(directory, 0o755)
    path = os.path.join(directory, "docker.sock")
    proxy = proxy_factory(docker_socket=path, tcp=False)
    engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        engine.bind(path)
        os.chown(path, 0, docker_socket_gid())
        os.chmod(path, 0o660)
        engine.listen(4)
        response = http(proxy.unix_path, "GET", "/v1.41/containers/json")
        message = assert_json_error(response, 502, path)
        assert "as uid 1000 gid 1000" in message, message
        assert f"owner 0:{docker_socket_gid()}" in message, message
        assert f'user: "0:{docker_socket_gid()}"' in message, message
        assert proxy.wait_for_log(lambda line: f'user: \\"0:{docker_socket_gid()}\\"' in line
                                  or f'user: "0:{docker_socket_gid()}"' in line, timeout=5)
    finally:
        engine.close()
        shutil.rmtree(directory, ignore_errors=True)
