"""Writes that cannot become root (issue 9, part): a rule that allows POST /containers/create
lets `docker run --rm` through and refuses what would be root on the host, naming the field;
the body the daemon gets is the body that was checked; a body too large to check is never
forwarded. Against the real engine, which is also asked afterwards what it created."""

from __future__ import annotations

import json
import socket

import pytest

from proxytest import (TEST_IMAGE, HttpConnection, assert_json_error, docker, http,
                       random_suffix, write_policy)

WRITE_POLICY = """
rules:
  - {name: ping, methods: [GET, HEAD], path: /_ping, action: allow}
  - {name: reads, methods: [GET, HEAD], action: allow}
  - name: run-containers
    methods: [POST, DELETE]
    path: /containers/**
    action: allow
  - {name: volumes, methods: [POST, DELETE], path: /volumes/**, action: allow}
  - {name: exec-start, methods: POST, path: /exec/**, action: allow}
  - name: builds-and-pulls
    methods: POST
    path: /build
    action: allow
  - name: data-mounts
    methods: POST
    path: /images/create
    body: {images: [docker.io/library/busybox]}
    action: allow
"""

LIMITED_POLICY = """
rules:
  - {name: reads, methods: [GET, HEAD], action: allow}
  - name: app-runner
    methods: [POST, DELETE]
    path: /containers/**
    body:
      bind_sources: [{data}]
      capabilities: [NET_ADMIN]
      images: [socket-proxy-test/busybox]
    action: allow
"""


@pytest.fixture
def writer(proxy_factory, policy_dir):
    return proxy_factory("--policy", write_policy(policy_dir, WRITE_POLICY))


def engine_has_container(name: str) -> bool:
    return docker("inspect", "--type", "container", name).returncode == 0


def create(proxy, body, name: str):
    return http(proxy.unix_path, "POST", f"/v1.41/containers/create?name={name}",
                headers={"Content-Type": "application/json"},
                body=body if isinstance(body, bytes) else json.dumps(body).encode())


@pytest.mark.parametrize("flags, field", [
    (["--privileged"], "HostConfig.Privileged is true"),
    (["-v", "/:/host"], "HostConfig.Binds mounts the host path /,"),
    (["--pid", "host"], "HostConfig.PidMode is host"),
    (["--cap-add", "SYS_ADMIN"], "HostConfig.CapAdd adds the capability CAP_SYS_ADMIN"),
    (["--device", "/dev/sda"], "HostConfig.Devices gives the container host devices"),
    (["--network", "host"], "HostConfig.NetworkMode is host"),
    (["--security-opt", "seccomp=unconfined"], "HostConfig.SecurityOpt has \"seccomp=unconfined\""),
    (["--mount", "type=bind,src=/etc,dst=/x"], "HostConfig.Mounts[0].Source mounts the host path"),
])
def test_docker_run_is_refused_what_is_root_on_the_host(writer, flags, field):
    name = f"spt-refused-{random_suffix()}"
    result = docker("run", "--rm", "--name", name, *flags, TEST_IMAGE, "true",
                    host=writer.docker_host())
    assert result.returncode != 0
    assert f"socket-proxy refused the body of POST /containers/create: {field}" in result.stderr
    assert "rule run-containers does not allow it" in result.stderr, result.stderr
    assert not engine_has_container(name)


def test_docker_run_rm_passes_within_the_limits(writer):
    result = docker("run", "--rm", "--network", "none", "--cap-drop", "ALL", TEST_IMAGE,
                    "echo", "ran-through-the-proxy", host=writer.docker_host(), timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ran-through-the-proxy"


@pytest.mark.parametrize("body", [
    {"Image": TEST_IMAGE, "HostConfig": {"privileged": True}},
    {"Image": TEST_IMAGE, "hostconfig": {"PRIVILEGED": True}},
    {"Image": TEST_IMAGE, "Privileged": True},  # 20.10 reads HostConfig fields at the top
    {"Image": TEST_IMAGE, "Binds": ["/:/host"]},
    '{"Image": "%s", "HostConfig": {"Privileged": false, "Privileged": true}}' % TEST_IMAGE,
    '{"Image": "%s", "HostConfig": {"Bind\u017f": ["/:/host"]}}' % TEST_IMAGE,
], ids=["lowercase", "uppercase", "top-level", "top-level-binds", "duplicate", "long-s"])
def test_the_daemons_ways_of_reading_keys_are_refused(writer, body):
    name = f"spt-bypass-{random_suffix()}"
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    response = create(writer, raw, name)
    assert_json_error(response, 403, "socket-proxy refused the body of POST /containers/create")
    assert not engine_has_container(name)


def test_the_daemon_gets_the_body_that_was_checked_even_when_chunked(writer):
    name = f"spt-chunked-{random_suffix()}"
    body = json.dumps({"Image": TEST_IMAGE, "Cmd": ["true"], "Labels": {"checked": "yes"}})
    half = len(body) // 2
    with HttpConnection(writer.unix_path) as connection:
        connection.send(
            f"POST /v1.41/containers/create?name={name} HTTP/1.1\r\nHost: docker\r\n"
            f"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            f"{half:x}\r\n{body[:half]}\r\n{len(body) - half:x}\r\n{body[half:]}\r\n0\r\n\r\n"
            .encode())
        response = connection.read_response()
    try:
        assert response.status == 201, response
        labels = json.loads(docker("inspect", name, check=True).stdout)[0]["Config"]["Labels"]
        assert labels["checked"] == "yes"
    finally:
        docker("rm", "-f", name)


def test_a_body_too_large_to_check_is_never_forwarded(writer):
    padding = "x" * (10 * 1024 * 1024)
    for framing in ("length", "chunked"):
        name = f"spt-large-{random_suffix()}"
        body = json.dumps({"Image": TEST_IMAGE, "Labels": {"pad": padding}}).encode()
        head = (f"POST /v1.41/containers/create?name={name} HTTP/1.1\r\nHost: docker\r\n"
                "Content-Type: application/json\r\n")
        with HttpConnection(writer.unix_path, timeout=30) as connection:
            if framing == "length":
                connection.send(f"{head}Content-Length: {len(body)}\r\n\r\n".encode())
            else:
                connection.send(f"{head}Transfer-Encoding: chunked\r\n\r\n".encode())
                try:
                    for start in range(0, len(body), 65536):
                        piece = body[start:start + 65536]
                        connection.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # refused once the limit was passed
            response = connection.read_response()
        assert_json_error(response, 413, "larger than 1MiB (body.max_size)",
                          "rule run-containers")
        assert not engine_has_container(name), framing


def test_exec_as_root_is_refused_and_as_a_user_passes(writer, containers):
    target = containers.run("spt-exec", ["sleep", "600"])
    result = docker("exec", "-u", "root", target, "id", host=writer.docker_host())
    assert result.returncode != 0 and "User is root, the root user (body.exec_root)" in \
        result.stderr, result.stderr
    result = docker("exec", "--privileged", target, "id", host=writer.docker_host())
    assert result.returncode != 0 and "Privileged is true" in result.stderr, result.stderr
    result = docker("exec", "-u", "1000", target, "id", "-u", host=writer.docker_host())
    assert result.returncode == 0 and result.stdout.strip() == "1000", result.stderr


def test_volumes_builds_and_pulls_within_their_limits(writer):
    name = f"spt-vol-{random_suffix()}"
    result = docker("volume", "create", "--opt", "type=none", "--opt", "o=bind", "--opt",
                    "device=/", name, host=writer.docker_host())
    assert result.returncode != 0 and "DriverOpts.device mounts the host path /" in \
        result.stderr, result.stderr
    assert docker("volume", "inspect", name).returncode != 0
    response = http(writer.unix_path, "POST", "/v1.41/build?remote=https://example.com/x.tar")
    assert_json_error(response, 403, "builds from https://example.com/x.tar, a remote context",
                      "(rule builds-and-pulls)")
    response = http(writer.unix_path, "POST", "/v1.41/images/create?fromImage=evil%2Fminer")
    assert_json_error(response, 403, "fromImage is evil/miner, not an allowed image (body.images)")
    response = http(writer.unix_path, "POST", "/v1.41/images/create?fromSrc=-")
    assert_json_error(response, 403, "imports a file system as an image")


def test_limits_let_through_what_the_rule_names(proxy_factory, policy_dir, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "greeting").write_text("from-the-host\n")
    proxy = proxy_factory("--policy", write_policy(policy_dir,
                                                   LIMITED_POLICY.replace("{data}", str(data))))
    result = docker("run", "--rm", "--network", "none", "--cap-add", "NET_ADMIN", "-v",
                    f"{data}:/data:ro", TEST_IMAGE, "cat", "/data/greeting",
                    host=proxy.docker_host(), timeout=120)
    assert result.returncode == 0 and result.stdout == "from-the-host\n", result.stderr
    result = docker("run", "--rm", "-v", f"{data}/../:/up", TEST_IMAGE, "true",
                    host=proxy.docker_host())
    assert result.returncode != 0 and "outside the allowed host paths" in result.stderr
    result = docker("run", "--rm", "--cap-add", "SYS_PTRACE", TEST_IMAGE, "true",
                    host=proxy.docker_host())
    assert result.returncode != 0 and "CAP_SYS_PTRACE" in result.stderr
    result = docker("create", "busybox:latest", host=proxy.docker_host())
    assert result.returncode != 0 and "not an allowed image (body.images)" in result.stderr


def test_check_names_a_bad_body_limit(policy_dir):
    from test_policy import run_binary
    bad = write_policy(policy_dir, "rules:\n  - name: w\n    methods: POST\n    action: allow\n"
                       "    body: {privileged: maybe}\n", "bad.yaml")
    result = run_binary("check", "--policy", bad)
    assert result.returncode == 2 and "body.privileged" in result.stderr and \
        "neither true nor false" in result.stderr, result.stderr
    bad = write_policy(policy_dir, "rules:\n  - name: w\n    action: allow\n"
                       "    body: {bind_sources: [relative/path]}\n", "bad2.yaml")
    result = run_binary("check", "--policy", bad)
    assert result.returncode == 2 and "not an absolute host path" in result.stderr
