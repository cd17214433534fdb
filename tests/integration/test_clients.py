"""Every real client on this machine through the proxy (issue 6), over its unix socket and its
TCP listener, against the real engine: the docker CLI's everyday reads, python3-docker,
docker-compose, the call sequence of Traefik's docker provider, and the HTTP details clients
vary in. Each test is a row of the compatibility table in docs/compatibility.md (compat.py)."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest

from proxytest import (TEST_IMAGE, HttpConnection, docker, docker_environment, http,
                       random_suffix, tick_number)

compat = pytest.mark.compat

# --------------------------------------------------------------------------- the docker CLI

CLI_READS = {
    "info": ["info", "--format", "{{.ServerVersion}} {{.OperatingSystem}}"],
    "images": ["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"],
    "network ls": ["network", "ls", "--format", "{{.ID}} {{.Name}}"],
    "volume ls": ["volume", "ls", "--format", "{{.Name}}"],
    "system df": ["system", "df", "--format", "{{.Type}}"],
    "image inspect": ["image", "inspect", "--format", "{{.Id}}", TEST_IMAGE],
}


@pytest.fixture(scope="module")
def volume(engine):
    name = f"spt-volume-{random_suffix()}"
    docker("volume", "create", name, check=True)
    yield name
    docker("volume", "rm", "-f", name)


@pytest.mark.parametrize("operation", [pytest.param(name, marks=compat("docker CLI", name))
                                       for name in CLI_READS])
def test_cli_reads_match_the_engine(proxy, transport, operation, volume):
    args = CLI_READS[operation]
    through = docker(*args, host=proxy.docker_host(transport))
    assert through.returncode == 0, through.stderr
    direct = docker(*args, check=True)
    assert sorted(through.stdout.splitlines()) == sorted(direct.stdout.splitlines())
    assert through.stdout.strip(), "no output to compare"


@compat("docker CLI", "events --since --until")
def test_cli_events_replay_ends(proxy, transport, containers):
    since = int(time.time()) - 1
    name = containers.run("spt-events-replay", ["sleep", "1800"])
    docker("pause", name, check=True)
    docker("unpause", name, check=True)
    until = int(time.time()) + 1
    time.sleep(1.2)
    result = docker("events", "--since", str(since), "--until", str(until), "--filter",
                    f"container={name}", "--format", "{{.Action}}",
                    host=proxy.docker_host(transport))
    assert result.returncode == 0, result.stderr
    assert {"pause", "unpause"} <= set(result.stdout.split()), result.stdout


# --------------------------------------------------------------------------- python3-docker


@pytest.fixture
def docker_py(proxy, transport):
    import docker as docker_sdk

    client = docker_sdk.DockerClient(base_url=proxy.docker_host(transport), version="auto",
                                     timeout=30)
    yield client
    client.close()


@compat("python3-docker", "containers.list(), containers.get().attrs")
def test_python_lists_and_inspects(docker_py, ticker):
    names = [container.name for container in docker_py.containers.list(all=True)]
    assert ticker.name in names
    attrs = docker_py.containers.get(ticker.name).attrs
    assert attrs["Name"] == f"/{ticker.name}" and attrs["State"]["Running"] is True


@compat("python3-docker", "logs(stream=True, follow=True)")
def test_python_follows_logs(docker_py, ticker):
    stream = docker_py.containers.get(ticker.name).logs(stream=True, follow=True, tail=1)
    ticks = []
    deadline = time.monotonic() + 15
    for line in stream:
        number = tick_number(line.decode().strip())
        if number is not None:
            ticks.append(number)
        if len(ticks) >= 3 or time.monotonic() > deadline:
            break
    stream.close()
    assert len(ticks) >= 3 and ticks == sorted(ticks), ticks


@compat("python3-docker", "events(decode=True)")
def test_python_reads_live_events(docker_py, containers):
    name = containers.run("spt-py-events", ["sleep", "1800"])
    events = docker_py.events(decode=True, filters={"container": name})
    docker("pause", name, check=True)
    try:
        for event in events:
            if event.get("Action") == "pause":
                assert event["Actor"]["Attributes"]["name"] == name
                break
    finally:
        events.close()


@compat("python3-docker", "df()")
def test_python_disk_usage(docker_py):
    usage = docker_py.df()
    assert {"Images", "Containers", "Volumes"} <= usage.keys()
    assert any(TEST_IMAGE in (image.get("RepoTags") or []) for image in usage["Images"])


@compat("python3-docker", "containers.run() refused with the proxy's message")
def test_python_write_is_refused_cleanly(docker_py):
    import docker as docker_sdk

    with pytest.raises(docker_sdk.errors.APIError) as refused:
        docker_py.containers.run(TEST_IMAGE, "true", network_mode="none", remove=True)
    assert refused.value.status_code == 403
    assert "socket-proxy denied POST" in refused.value.explanation


# --------------------------------------------------------------------------- docker-compose


@pytest.fixture(scope="module")
def compose_project(tmp_path_factory, engine):
    if shutil.which("docker-compose") is None:
        pytest.fail("docker-compose is missing: run scripts/test-deps", pytrace=False)
    directory = tmp_path_factory.mktemp("compose")
    (directory / "docker-compose.yml").write_text(f"""
version: "3.8"
services:
  web:
    image: {TEST_IMAGE}
    command: ["sh", "-c", "echo compose-hello; sleep 1800"]
    network_mode: none
""")
    project = f"spt{random_suffix().replace('-', '').replace('_', '').lower()}"
    run = lambda *args, host=None: subprocess.run(  # noqa: E731
        ["docker-compose", "-p", project, *args], cwd=directory, capture_output=True,
        text=True, timeout=120,
        env=docker_environment(host or f"unix://{engine}"))
    started = run("up", "-d")
    assert started.returncode == 0, started.stderr
    yield run
    run("down", "--timeout", "1")


@pytest.mark.parametrize("operation", [
    pytest.param("ps", marks=compat("docker-compose", "ps")),
    pytest.param("logs", marks=compat("docker-compose", "logs")),
    pytest.param("config", marks=compat("docker-compose", "config")),
])
def test_compose_reads_a_project_through_the_proxy(proxy, transport, compose_project, operation):
    result = compose_project(operation, host=proxy.docker_host(transport))
    assert result.returncode == 0, result.stderr
    expected = {"ps": "Up", "logs": "compose-hello", "config": "compose-hello"}[operation]
    assert expected in result.stdout, result.stdout


# --------------------------------------------------------------------------- dockerode

NODE_CLIENT = Path(__file__).parent / "node" / "client.js"


def dockerode(host: str, *args: str, timeout: float = 30,
              env: dict | None = None) -> subprocess.CompletedProcess:
    if not (NODE_CLIENT.parent / "node_modules" / "dockerode").is_dir():
        pytest.fail("dockerode is missing: run scripts/test-deps", pytrace=False)
    return subprocess.run(["node", str(NODE_CLIENT), host, *args], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL, env=env)


@compat("dockerode", "listContainers(), getContainer().inspect()")
def test_dockerode_lists_and_inspects(proxy, transport, ticker):
    listed = dockerode(proxy.docker_host(transport), "list")
    assert listed.returncode == 0, listed
    assert f"/{ticker.name}" in json.loads(listed.stdout)
    inspected = dockerode(proxy.docker_host(transport), "inspect", ticker.name)
    assert inspected.returncode == 0, inspected
    assert json.loads(inspected.stdout)["State"]["Running"] is True


@compat("dockerode", "logs({follow: true})")
def test_dockerode_follows_logs(proxy, transport, ticker):
    followed = dockerode(proxy.docker_host(transport), "logs", ticker.name)
    assert followed.returncode == 0, followed
    ticks = json.loads(followed.stdout)
    assert len(ticks) >= 3 and ticks == sorted(ticks), ticks


@compat("dockerode", "getEvents()")
def test_dockerode_reads_live_events(proxy, transport, containers):
    name = containers.run("spt-node-events", ["sleep", "1800"])
    if not (NODE_CLIENT.parent / "node_modules" / "dockerode").is_dir():
        pytest.fail("dockerode is missing: run scripts/test-deps", pytrace=False)
    listener = subprocess.Popen(["node", str(NODE_CLIENT), proxy.docker_host(transport), "events",
                                 name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert listener.stdout.readline().strip() == '"subscribed"'
        time.sleep(0.3)
        docker("pause", name, check=True)
        output, errors = listener.communicate(timeout=20)
        assert listener.returncode == 0, errors
        assert {"action": "pause", "name": name} in [json.loads(line) for line in
                                                      output.splitlines()]
    finally:
        listener.kill()
        listener.wait()


@compat("dockerode", "createContainer() refused with the proxy's message")
def test_dockerode_write_is_refused(proxy, transport):
    refused = dockerode(proxy.docker_host(transport), "create")
    assert refused.returncode == 1, refused
    answer = json.loads(refused.stdout)
    assert answer["status"] == 403 and "socket-proxy denied POST" in answer["error"], answer


# --------------------------------------------------------------------------- Traefik


def _quoted_filters(filters: dict) -> str:
    return urllib.parse.quote(json.dumps(filters, separators=(",", ":")), safe="")


@compat("Traefik docker provider (its call sequence)",
        "ping, version, list with filters, inspect each, filtered events")
def test_traefik_call_sequence(proxy, transport, containers):
    address = proxy.address(transport)
    name = containers.run("spt-traefik", ["sleep", "1800"], labels={"traefik.enable": "true"})
    assert http(address, "HEAD", "/_ping").status == 200
    assert http(address, "GET", "/_ping").body == b"OK"
    version = http(address, "GET", "/version")
    assert version.status == 200, version
    api = version.json()["ApiVersion"]
    listed = http(address, "GET", f"/v{api}/containers/json?limit=0&filters="
                  + _quoted_filters({"status": ["running"], "label": ["traefik.enable=true"]}))
    assert listed.status == 200, listed
    ids = [container["Id"] for container in listed.json()]
    assert ids, listed
    for container_id in ids:
        inspected = http(address, "GET", f"/v{api}/containers/{container_id}/json")
        assert inspected.status == 200 and inspected.json()["Id"] == container_id, inspected
    with HttpConnection(address, timeout=20) as stream:
        stream.send(f"GET /v{api}/events?filters="
                    f"{_quoted_filters({'type': ['container']})} HTTP/1.1\r\n"
                    "Host: docker\r\n\r\n".encode())
        head = stream.read_head()
        assert head.status == 200, head
        docker("pause", name, check=True)
        chunk = stream.read_chunk_containing(name.encode())
        assert json.loads(chunk.splitlines()[0])["Type"] == "container"


# --------------------------------------------------------------------------- HTTP details


@compat("HTTP", "HEAD")
def test_head_requests(proxy, transport):
    # The engine routes HEAD for /_ping only (others are its 404): the proxy passes both.
    for target in ("/_ping", "/v1.41/_ping", "/v1.41/containers/json", "/v1.41/version"):
        direct = http(proxy.docker_socket, "HEAD", target)
        through = http(proxy.address(transport), "HEAD", target)
        assert through.status == direct.status and through.body == b"", (target, through)
        assert through.header("Content-Length") == direct.header("Content-Length")
    assert http(proxy.address(transport), "HEAD", "/_ping").status == 200


@compat("HTTP", "Accept-Encoding: gzip")
def test_accept_encoding_gzip(proxy, transport):
    headers = [("Accept-Encoding", "gzip")]
    through = http(proxy.address(transport), "GET", "/v1.41/version", headers=headers)
    assert through.status == 200, through
    body = gzip.decompress(through.body) if through.header("Content-Encoding") == "gzip" \
        else through.body
    assert json.loads(body)["ApiVersion"]


@compat("HTTP", "Connection: close")
def test_connection_close(proxy, transport):
    with HttpConnection(proxy.address(transport)) as connection:
        response = connection.request("GET", "/_ping", headers=[("Connection", "close")])
        assert response.status == 200 and response.body == b"OK", response
        assert (response.header("Connection") or "").lower() == "close"
        assert connection.peer_closes_within(2)


@compat("HTTP", "API version prefixes /v1.24 ... /v1.51")
def test_version_prefixes_reach_the_engine(proxy, transport):
    for minor in range(24, 52):
        target = f"/v1.{minor}/containers/json"
        through = http(proxy.address(transport), "GET", target)
        direct = http(proxy.docker_socket, "GET", target)
        # The engine answers what it supports (400 above its maximum): the proxy passes both.
        assert through.status == direct.status, (minor, through, direct)
        if direct.status != 200:
            assert through.json() == direct.json()


@compat("HTTP", "/v1.41/events?filters= with encoded braces")
def test_events_with_encoded_json_filters(proxy, transport):
    now = int(time.time())
    target = (f"/v1.41/events?since={now - 60}&until={now}&filters="
              + _quoted_filters({"type": ["container"], "event": ["start"]}))
    response = http(proxy.address(transport), "GET", target, timeout=30)
    assert response.status == 200, response
    for line in response.body.splitlines():
        event = json.loads(line)
        assert event["Type"] == "container" and event["Action"] == "start", event
