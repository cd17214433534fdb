"""Writes that cannot become root (issue 9, part): a rule that allows POST /containers/create
lets `docker run --rm` through and refuses what would be root on the host, naming the field;
the body the daemon gets is the body that was checked; a body too large to check is never
forwarded. Against the real engine, which is also asked afterwards what it created."""

from __future__ import annotations

import json

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
    assert result.returncode != 0 and "which is not one of the allowed host paths" in \
        result.stderr, result.stderr
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


def engine_request(method: str, target: str, body: bytes = b""):
    """A request to the real engine, without the proxy: the control rows."""
    from proxytest import DOCKER_SOCKET
    return http(DOCKER_SOCKET, method, target,
                headers={"Content-Type": "application/json"}, body=body)


def host_config(name: str) -> dict:
    return json.loads(docker("inspect", name, check=True).stdout)[0]["HostConfig"]


def test_a_legacy_start_body_is_checked_as_a_host_config(writer, containers, tmp_path):
    # Control: the engine applies a HostConfig sent at start before API 1.24 (a harmless bind
    # here; a privileged start needs capabilities the test engine may lack, but inspect shows
    # Privileged applied all the same).
    control = containers.run("spt-start-control", ["sleep", "600"], start=False)
    response = engine_request("POST", f"/v1.23/containers/{control}/start",
                              json.dumps({"Binds": [f"{tmp_path}:/host"]}).encode())
    assert response.status == 204, response
    assert host_config(control)["Binds"] == [f"{tmp_path}:/host"]
    docker("rm", "-f", control)

    target = containers.run("spt-start", ["sleep", "600"], start=False)
    response = http(writer.unix_path, "POST", f"/v1.23/containers/{target}/start",
                    headers={"Content-Type": "application/json"},
                    body=json.dumps({"Privileged": True, "Binds": ["/:/host"]}).encode())
    assert_json_error(response, 403,
                      f"socket-proxy refused the body of POST /containers/{target}/start: "
                      "Privileged is true (body.privileged)", "rule run-containers")
    config = host_config(target)
    assert config["Privileged"] is False and not config["Binds"], config
    assert not containers.running(target)
    # An ordinary start, without a body (Content-Length: 0) and from the CLI, goes through.
    response = http(writer.unix_path, "POST", f"/v1.23/containers/{target}/start",
                    headers={"Content-Length": "0"})
    assert response.status == 204, response
    assert containers.running(target)
    other = containers.run("spt-start-cli", ["sleep", "600"], start=False)
    result = docker("start", other, host=writer.docker_host())
    assert result.returncode == 0, result.stderr
    assert containers.running(other)
    assert host_config(other)["Privileged"] is False


# Each runs as uid 0 on the engine (the control below measures it for every run).
ROOT_USERS = ["+0", ":0", ":", "+0:+0", "-0", "00", "0:0", "::"]


def test_exec_users_the_engine_runs_as_root_are_refused(writer, containers):
    target = containers.run("spt-exec-users", ["sleep", "600"])
    for user in ROOT_USERS:
        control = docker("exec", "-u", user, target, "id", "-u")
        assert control.returncode == 0 and control.stdout.strip() == "0", (user, control)
        result = docker("exec", "-u", user, target, "id", "-u", host=writer.docker_host())
        assert result.returncode != 0, (user, result.stdout)
        assert f"User is {user}, the root user (body.exec_root)" in result.stderr, \
            (user, result.stderr)
    result = docker("exec", "-u", "+1000", target, "id", "-u", host=writer.docker_host())
    assert result.returncode == 0 and result.stdout.strip() == "1000", result.stderr


def test_borrowed_namespaces_are_refused(writer, containers):
    """A container may join another's namespaces only when the engine says that one's own are
    not the host's: by name, id prefix or full id, as the engine resolves them."""
    # Control: a container on the host's network lends it to any container that joins it.
    lender = f"spt-hostns-{random_suffix()}"
    containers.names.append(lender)
    docker("run", "-d", "--name", lender, "--network", "host", "--pid", "host", "--ipc", "host",
           TEST_IMAGE, "sleep", "600", check=True)
    borrowed = docker("run", "--rm", "--network", f"container:{lender}", TEST_IMAGE,
                      "cat", "/sys/class/net/docker0/address")
    assert borrowed.returncode == 0 and borrowed.stdout.strip(), borrowed
    lender_id = docker("inspect", "-f", "{{.Id}}", lender, check=True).stdout.strip()
    for flag, field in [("--network", "NetworkMode"), ("--pid", "PidMode"),
                        ("--ipc", "IpcMode")]:
        for reference in (lender, lender_id[:12], lender_id):
            name = f"spt-borrow-{random_suffix()}"
            result = docker("run", "--rm", "--name", name, flag, f"container:{reference}",
                            TEST_IMAGE, "true", host=writer.docker_host())
            assert result.returncode != 0
            assert (f"HostConfig.{field} names container {reference}, whose {field} is the "
                    "host's") in result.stderr, result.stderr
            assert not engine_has_container(name)

    # A sidecar of its own namespaces lends them; a chain through it is not followed.
    sidecar = f"spt-sidecar-{random_suffix()}"
    containers.names.append(sidecar)
    docker("run", "-d", "--name", sidecar, "--network", "none", "--ipc", "shareable",
           TEST_IMAGE, "sleep", "600", check=True)
    joined = docker("run", "--rm", "--network", f"container:{sidecar}", "--pid",
                    f"container:{sidecar}", "--ipc", f"container:{sidecar}", TEST_IMAGE,
                    "cat", "/proc/1/cmdline", host=writer.docker_host())
    assert joined.returncode == 0 and "sleep" in joined.stdout, joined
    rider = f"spt-rider-{random_suffix()}"
    containers.names.append(rider)
    docker("run", "-d", "--name", rider, "--network", f"container:{sidecar}", TEST_IMAGE,
           "sleep", "600", check=True)
    chained = docker("run", "--rm", "--network", f"container:{rider}", TEST_IMAGE, "true",
                     host=writer.docker_host())
    assert chained.returncode != 0 and "follows no chain" in chained.stderr, chained.stderr
    missing = docker("run", "--rm", "--network", "container:spt-no-such-container", TEST_IMAGE,
                     "true", host=writer.docker_host())
    assert missing.returncode != 0 and "which the engine does not know" in missing.stderr, \
        missing.stderr


SYMLINK_POLICY = """
rules:
  - {name: reads, methods: [GET, HEAD], action: allow}
  - name: app-containers
    methods: [POST, DELETE]
    path: /containers/**
    body: {bind_sources: ["{app}", "{shared}/**"]}
    action: allow
"""


def test_a_planted_symlink_cannot_widen_a_bind(proxy_factory, policy_dir, tmp_path):
    """One container with a writable bind plants `ln -s /etc link`; a second one's bind of
    that link would mount the host's /etc (shown on the engine directly). Through the proxy an
    entry admits exactly itself, and DIR/** only read-only mounts, which plant nothing."""
    app, shared = tmp_path / "app", tmp_path / "shared"
    app.mkdir()
    shared.mkdir()
    (shared / "note").write_text("shared\n")
    policy = SYMLINK_POLICY.replace("{app}", str(app)).replace("{shared}", str(shared))
    proxy = proxy_factory("--policy", write_policy(policy_dir, policy))
    planted = docker("run", "--rm", "-v", f"{app}:/app", TEST_IMAGE, "ln", "-s", "/etc",
                     "/app/link", host=proxy.docker_host())
    assert planted.returncode == 0, planted.stderr
    direct = docker("run", "--rm", "-v", f"{app}/link:/host:ro", TEST_IMAGE, "cat",
                    "/host/hostname")
    assert direct.returncode == 0 and direct.stdout.strip(), direct
    for volume in (f"{app}/link:/host:ro", f"{app}/link:/host"):
        through = docker("run", "--rm", "-v", volume, TEST_IMAGE, "cat", "/host/hostname",
                         host=proxy.docker_host())
        assert through.returncode != 0 and "not one of the allowed host paths" in \
            through.stderr, through.stderr
    read_only = docker("run", "--rm", "-v", f"{shared}:/s:ro", TEST_IMAGE, "cat", "/s/note",
                       host=proxy.docker_host())
    assert read_only.returncode == 0 and read_only.stdout == "shared\n", read_only.stderr
    writable = docker("run", "--rm", "-v", f"{shared}:/s", TEST_IMAGE, "ln", "-s", "/etc",
                      "/s/link", host=proxy.docker_host())
    assert writable.returncode != 0 and "admits read-only mounts only" in writable.stderr, \
        writable.stderr
    assert not (shared / "link").exists()
    nested = write_policy(policy_dir, SYMLINK_POLICY.replace("{app}", str(app)).replace(
        "{shared}", str(app / "sub")), "nested.yaml")
    from test_policy import run_binary
    checked = run_binary("check", "--policy", nested)
    assert checked.returncode == 2 and "lies within" in checked.stderr, checked.stderr


MOUNT_POLICY = """
rules:
  - {name: reads, methods: [GET, HEAD], action: allow}
  - name: app-volumes
    methods: [POST, DELETE]
    path: /volumes/**
    body: {bind_sources: ["{data}/lower/**", "{data}/upper", "{data}/work"]}
    action: allow
  - name: app-containers
    methods: [POST, DELETE]
    path: /containers/**
    body: {bind_sources: ["{data}/lower/**", "{data}/upper", "{data}/work"]}
    action: allow
"""


def test_mount_options_that_name_host_paths_are_refused(proxy_factory, policy_dir, tmp_path):
    data = tmp_path / "data"
    for layer in ("lower", "upper", "work"):
        (data / layer).mkdir(parents=True)
    proxy = proxy_factory("--policy", write_policy(policy_dir,
                                                   MOUNT_POLICY.replace("{data}", str(data))))
    overlay = {"type": "overlay", "device": "overlay",
               "o": f"lowerdir=/etc:{data}/lower,upperdir={data}/upper,workdir={data}/work"}
    name = f"spt-overlay-{random_suffix()}"
    response = http(proxy.unix_path, "POST", "/v1.41/volumes/create",
                    headers={"Content-Type": "application/json"},
                    body=json.dumps({"Name": name, "DriverOpts": overlay}).encode())
    assert_json_error(response, 403, "DriverOpts.o lowerdir mounts the host path /etc, which is "
                      "not one of the allowed host paths", "(body.bind_sources)", "rule app-volumes")
    assert docker("volume", "inspect", name).returncode != 0
    container = f"spt-overlay-{random_suffix()}"
    result = docker("run", "--rm", "--name", container, "--mount",
                    "type=volume,dst=/x,volume-driver=local,volume-opt=type=overlay,"
                    "volume-opt=device=overlay,volume-opt=o=lowerdir=/etc",
                    TEST_IMAGE, "cat", "/x/shadow", host=proxy.docker_host())
    assert result.returncode != 0
    assert "HostConfig.Mounts[0].VolumeOptions.DriverConfig.Options.o lowerdir mounts the host " \
        "path /etc" in result.stderr, result.stderr
    assert not engine_has_container(container)
    result = docker("volume", "create", "--opt", "type=nfs", "--opt", "device=:/export",
                    "--opt", "o=addr=127.0.0.1", name, host=proxy.docker_host())
    assert result.returncode != 0 and "DriverOpts.type is nfs, a network file system" in \
        result.stderr and "(body.remote_mounts)" in result.stderr, result.stderr
    assert docker("volume", "inspect", name).returncode != 0
    # Within bind_sources, the same volume is created.
    overlay["o"] = f"lowerdir={data}/lower,upperdir={data}/upper,workdir={data}/work"
    response = http(proxy.unix_path, "POST", "/v1.41/volumes/create",
                    headers={"Content-Type": "application/json"},
                    body=json.dumps({"Name": name, "DriverOpts": overlay}).encode())
    try:
        assert response.status == 201, response
    finally:
        docker("volume", "rm", "-f", name)


def test_bodies_too_wide_or_too_deep_are_refused_with_their_status(writer):
    name = f"spt-wide-{random_suffix()}"
    labels = ",".join(f'"k{i}":""' for i in range(20_000))
    response = create(writer, ('{"Image":"%s","Labels":{%s}}' % (TEST_IMAGE, labels)).encode(),
                      name)
    assert_json_error(response, 413, "an object with more than 10000 keys, too many to check")
    deep = '{"Image":"%s","Labels":%s%s}' % (TEST_IMAGE, "[" * 100, "]" * 100)
    response = create(writer, deep.encode(), name)
    assert_json_error(response, 400, "nests deeper than 64 levels")
    assert not engine_has_container(name)


def test_check_lists_the_new_body_limits(policy_dir):
    from test_policy import run_binary
    policy = write_policy(policy_dir, "rules:\n  - name: services\n    methods: POST\n"
                          "    action: allow\n    body: {remote_mounts: true, secrets: [db],"
                          " configs: [nginx]}\n", "services.yaml")
    result = run_binary("check", "--policy", policy)
    assert result.returncode == 0, result.stderr
    assert "body remote_mounts secrets=db configs=nginx" in result.stdout, result.stdout


def test_a_link_that_would_copy_another_containers_secrets_is_refused(writer, containers):
    """Legacy links copy the linked container's environment into the new one (DB_ENV_…), where
    its logs print what inspect redacts: refused unless body.links allows it."""
    holder = f"spt-link-holder-{random_suffix()}"
    docker("run", "-d", "--name", holder, "--label", "socket-proxy-test=links", "-e",
           "DB_PASSWORD=hunter2", TEST_IMAGE, "sleep", "120", check=True)
    try:
        # The engine, asked directly, hands the secret over.
        direct = docker("run", "--rm", "--link", f"{holder}:db", TEST_IMAGE, "env", timeout=120)
        assert "DB_ENV_DB_PASSWORD=hunter2" in direct.stdout, direct
        name = f"spt-linker-{random_suffix()}"
        through = docker("run", "--rm", "--name", name, "--link", f"{holder}:db", TEST_IMAGE,
                         "env", host=writer.docker_host(), timeout=120)
        assert through.returncode != 0
        assert "HostConfig.Links copies the environment of the containers it links to" in \
            through.stderr, through.stderr
        assert "body.links" in through.stderr or "links" in through.stderr
        assert "hunter2" not in through.stdout
        assert not engine_has_container(name)
    finally:
        docker("rm", "-f", holder)
