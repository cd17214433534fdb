"""The container image (Dockerfile, scripts/build-image) on the real engine, as compose runs it.

scripts/build-image builds socket-proxy:local once for this module. Every proxy runs
--read-only with the engine's socket mounted read-only at /run/docker.sock, like compose.yml.
Skipped only when no Docker engine answers; the uid-switching clients need root (setpriv).
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from image_helpers import (CLIENT_UID, IMAGE, ImageResources, elf_facts, image_files, inspect,
                           logs, process_status, request_as, stream_as, wait_for_exit,
                           wait_for_health)
from proxytest import (DOCKER_SOCKET, REPO, TEST_IMAGE, LineReader, docker, docker_cli,
                       docker_environment, docker_socket_gid, image_tests, is_root, random_suffix,
                       stop_process)

# The first test also waits for build-image, which compiles the static binary from scratch in a
# fresh clone (about 90 s on two cores).
pytestmark = [pytest.mark.timeout(600), image_tests]

BUILD_TIMEOUT = 540
# `docker image ls` counts MB as 10^6 bytes. About 6.3 MB on 2026-12-05: 5.9 MB of binary, of
# which wolfSSL's archive (its objects come whole) is about 1.9 MB and yaml-cpp's archive (both
# built without section garbage collection) about 0.8 MB; the rest is time zones.
SIZE_LIMIT_BYTES = 6_500_000
DEFAULT_ENV = {
    "SOCKET_PROXY_VOLUME": "/run/proxy",
    "SOCKET_PROXY_DOCKER_SOCKET": "/run/docker.sock",
    "SOCKET_PROXY_UID": "1000",
    "SOCKET_PROXY_GID": "1000",
    "SOCKET_PROXY_TCP": "0.0.0.0:2375",
    "SOCKET_PROXY_KEEPALIVE": "10s",
    "SOCKET_PROXY_TIMEOUT": "30s",
}
TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})([+-]\d\d:\d\d) ")

needs_root = pytest.mark.skipif(not is_root(),
                                reason="needs root: clients switch to uid 1000 with setpriv")


@pytest.fixture(scope="module")
def image(engine: str) -> str:
    """Built once per module; the shared `engine` fixture fails the run when Docker is missing."""
    started = time.monotonic()
    env = docker_environment(f"unix://{DOCKER_SOCKET}")
    env["PATH"] = f"{os.path.dirname(docker_cli())}:{env.get('PATH', '/usr/bin:/bin')}"
    result = subprocess.run(["bash", "scripts/build-image"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    if result.returncode != 0:
        pytest.fail(f"scripts/build-image failed with {result.returncode}:\n"
                    f"{result.stdout[-4000:]}{result.stderr[-4000:]}", pytrace=False)
    print(f"scripts/build-image took {time.monotonic() - started:.1f} s: "
          f"{result.stdout.strip().splitlines()[-1]}")
    return IMAGE


@pytest.fixture(scope="module")
def resources(image):
    made = ImageResources(docker, f"socket-proxy-test=image-{random_suffix()}")
    yield made
    made.remove_all()


@pytest.fixture(scope="module")
def gid() -> int:
    return docker_socket_gid()


def run_proxy(resources: ImageResources, user: str, volume: str, *extra: str) -> str:
    """The image as compose.yml runs it; returns the container's name."""
    name, result = resources.run(
        "spt-image-proxy", "--read-only", "--user", user, "--network", "none",
        "-v", f"{DOCKER_SOCKET}:/run/docker.sock:ro", "-v", f"{volume}:/run/proxy",
        "-e", "SOCKET_PROXY_LOG_FORMAT=text", *extra, IMAGE)
    assert result.returncode == 0, f"docker run failed:\n{result.stderr}"
    return name


def assert_healthy(name: str) -> None:
    status = wait_for_health(docker, name)
    if status != "healthy":
        health = inspect(docker, name)["State"].get("Health")
        pytest.fail(f"{name} is {status}, not healthy\nhealth: {json.dumps(health)}\n"
                    f"--- log ---\n{logs(docker, name)}", pytrace=False)


def assert_dropped_to_1000(name: str, gid: int) -> None:
    status = process_status(inspect(docker, name)["State"]["Pid"])
    assert status["Uid"] == ["1000"] * 4, status["Uid"]
    assert status["Gid"] == ["1000"] * 4, status["Gid"]
    assert status["Groups"] == [str(gid)], f"supplementary groups {status['Groups']}"
    assert int(status["CapEff"][0], 16) == 0 and int(status["CapPrm"][0], 16) == 0
    assert status["NoNewPrivs"] == ["1"]


# --------------------------------------------------------------------------- the image itself


def test_image_holds_only_a_static_binary_and_the_zones(image):
    files = image_files(docker_cli(), docker_environment(f"unix://{DOCKER_SOCKET}"), image)
    zone_prefix = "usr/share/zoneinfo/"
    unexpected = [path for path in files
                  if path not in ("socket-proxy", "run", "run/proxy", "usr", "usr/share",
                                  "usr/share/zoneinfo") and not path.startswith(zone_prefix)]
    assert not unexpected, f"files beyond the binary and the zones: {unexpected[:20]}"

    binary, content = files["socket-proxy"]
    assert binary.isfile() and stat.S_IMODE(binary.mode) == 0o755
    assert (binary.uid, binary.gid) == (0, 0)
    facts = elf_facts(content)
    assert not facts["interpreter"] and not facts["dynamic"], f"not static: {facts}"
    assert not facts["symbols"], "socket-proxy is not stripped"

    volume, _ = files["run/proxy"]
    assert volume.isdir() and (volume.uid, volume.gid) == (1000, 1000)

    zones = {path[len(zone_prefix):]: entry for path, entry in files.items()
             if path.startswith(zone_prefix)}
    assert zones["Europe/Zurich"][1][:4] == b"TZif"
    for duplicate in ("posix", "right"):
        assert not any(zone.split("/")[0] == duplicate for zone in zones), f"{duplicate}/ shipped"
    for zone, (member, zone_content) in zones.items():
        if member.isfile():
            assert zone_content[:4] == b"TZif", f"{zone} is not a zone file"
        elif member.issym():
            target = os.path.normpath(os.path.join(os.path.dirname(zone), member.linkname))
            assert target in zones, f"{zone} -> {member.linkname} points outside the zones"


def test_image_size_is_under_8_mb(image):
    size = inspect(docker, image)["Size"]
    shown = docker("image", "ls", "--format", "{{.Size}}", image, check=True).stdout.strip()
    print(f"{image}: {size} bytes, docker image ls: {shown}")
    assert size < SIZE_LIMIT_BYTES, f"{image} is {shown} ({size} bytes)"


def test_image_configuration(image):
    config = inspect(docker, image)["Config"]
    env = dict(entry.split("=", 1) for entry in config["Env"])
    assert {key: env.get(key) for key in DEFAULT_ENV} == DEFAULT_ENV
    assert config["User"] == "1000:1000"
    assert config["Entrypoint"] == ["/socket-proxy"] and not config["Cmd"]
    assert config["Healthcheck"] == {
        "Test": ["CMD", "/socket-proxy", "healthcheck"],
        "Interval": 5_000_000_000, "Timeout": 3_000_000_000, "StartPeriod": 5_000_000_000}
    assert config["StopSignal"] == "SIGTERM"
    assert list(config["Volumes"]) == ["/run/proxy"]
    assert list(config["ExposedPorts"]) == ["2375/tcp"]


def test_host_build_uses_the_dockerfiles_final_stage(image):
    """The registry-free build must be the Dockerfile's final stage, word for word."""
    dockerfile = (REPO / "Dockerfile").read_text().splitlines()
    last_from = max(i for i, line in enumerate(dockerfile) if line.startswith("FROM "))
    final_stage = dockerfile[last_from:]
    generated = (REPO / "build-static" / "image" / "Dockerfile").read_text().splitlines()
    assert final_stage[0] == "FROM scratch"
    assert generated[-len(final_stage):] == final_stage


# --------------------------------------------------------------------------- as compose runs it


@pytest.fixture(scope="module")
def proxy(resources, gid):
    """The compose set-up: user "0:<docker gid>", a host directory as the volume."""
    volume = resources.host_directory()
    name = run_proxy(resources, f"0:{gid}", str(volume))
    assert_healthy(name)
    return name, volume / "docker.sock"


@needs_root
def test_root_with_socket_group_is_healthy_and_drops_to_1000(proxy, gid):
    name, socket_path = proxy
    assert_healthy(name)
    socket_status = os.lstat(socket_path)
    assert stat.S_ISSOCK(socket_status.st_mode)
    assert (socket_status.st_uid, socket_status.st_gid) == (1000, 1000)
    assert stat.S_IMODE(socket_status.st_mode) == 0o660
    assert_dropped_to_1000(name, gid)
    log = logs(docker, name)
    assert f"dropped root: running as uid 1000 gid 1000 with supplementary groups {gid}" in log, log
    first = TIMESTAMP.match(log)
    assert first and first.group(2) == "+00:00", f"without TZ the log must be UTC: {log[:200]}"


@needs_root
def test_uid_1000_client_pings_and_lists_containers(proxy):
    name, socket_path = proxy
    ping = request_as(CLIENT_UID, str(socket_path), "GET", "/_ping")
    assert (ping.get("status"), ping.get("body")) == (200, "OK"), ping
    listed = request_as(CLIENT_UID, str(socket_path), "GET", "/v1.41/containers/json")
    assert listed.get("status") == 200, listed
    names = [container_name for container in json.loads(listed["body"])
             for container_name in container["Names"]]
    assert f"/{name}" in names, names


@needs_root
def test_uid_1000_client_follows_events(proxy, resources):
    _, socket_path = proxy
    marker = f"spt-image-event-{random_suffix()}"
    filters = json.dumps({"label": [f"{marker}=1"]}, separators=(",", ":"))
    follower = stream_as(CLIENT_UID, str(socket_path), f"/v1.41/events?filters={filters}")
    try:
        lines = LineReader(follower.stdout)
        status = lines.wait_for(lambda line: line.startswith("status"), 15)
        assert status == "status 200", f"events through the proxy answered {lines.seen}"
        created, result = resources.run("spt-image-event", "--label", f"{marker}=1",
                                        "--network", "none", TEST_IMAGE, "true", detach=False)
        assert result.returncode == 0, result.stderr
        event = lines.wait_for(lambda line: created in line and '"create"' in line, 15)
        assert event, f"no create event for {created} through the proxy; got {lines.seen}"
    finally:
        stop_process(follower)


@needs_root
def test_uid_1000_client_cannot_create_containers(proxy):
    _, socket_path = proxy
    attempt = f"spt-image-forbidden-{random_suffix()}"
    answer = request_as(CLIENT_UID, str(socket_path), "POST",
                        f"/v1.41/containers/create?name={attempt}",
                        json.dumps({"Image": TEST_IMAGE, "Cmd": ["true"]}))
    assert answer.get("status") == 403, answer
    assert answer["content_type"] == "application/json", answer
    assert json.loads(answer["body"])["message"].startswith("socket-proxy denied POST"), answer
    assert docker("container", "inspect", attempt).returncode != 0, f"{attempt} was created"


@needs_root
def test_other_users_cannot_open_the_socket(proxy):
    _, socket_path = proxy
    answer = request_as(2000, str(socket_path), "GET", "/_ping")
    assert answer.get("errno") == 13, f"uid 2000 was not refused (EACCES): {answer}"


# --------------------------------------------------------------------------- other ways to start it


def test_named_volume_serves_a_uid_1000_consumer_container(image, resources, gid):
    volume = resources.volume()
    name = run_proxy(resources, f"0:{gid}", volume)
    assert_healthy(name)
    consumer = ["--rm", "--network", "none", "-v", f"{volume}:/var/run:ro"]  # as compose.yml

    _, listing = resources.run("spt-image-consumer", *consumer, "--user", "1000:1000", TEST_IMAGE,
                               "stat", "-c", "%u:%g %a %F", "/var/run/docker.sock", detach=False)
    assert listing.stdout.strip() == "1000:1000 660 socket", listing.stdout + listing.stderr

    # The image's own health check, run as the consumer: GET /_ping over the shared socket.
    _, ping = resources.run("spt-image-consumer", *consumer, "--user", "1000:1000", IMAGE,
                            "healthcheck", "--volume", "/var/run", detach=False)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    _, refused = resources.run("spt-image-consumer", *consumer, "--user", "2000:2000", IMAGE,
                               "healthcheck", "--volume", "/var/run", detach=False)
    assert refused.returncode != 0 and "Permission denied" in refused.stderr, refused.stderr

    # TCP, from a container sharing the proxy's network namespace.
    _, tcp = resources.run("spt-image-consumer", "--rm", "--network", f"container:{name}",
                           "--user", "1000:1000", TEST_IMAGE,
                           "wget", "-q", "-O", "-", "http://127.0.0.1:2375/_ping", detach=False)
    assert tcp.stdout == "OK", tcp.stdout + tcp.stderr


@needs_root
def test_started_as_root_drops_to_1000_keeping_the_socket_group(image, resources, gid):
    volume = resources.host_directory()
    name = run_proxy(resources, "0:0", str(volume))
    assert_healthy(name)
    assert_dropped_to_1000(name, gid)
    ping = request_as(CLIENT_UID, str(volume / "docker.sock"), "GET", "/_ping")
    assert ping.get("status") == 200, ping


def test_user_without_the_socket_group_exits_with_the_compose_hint(image, resources, gid):
    volume = resources.volume()  # the image's /run/proxy is 1000's: the socket can be created
    name = run_proxy(resources, "1000:1000", volume)
    state = wait_for_exit(docker, name)
    log = logs(docker, name)
    assert state is not None, f"{name} still runs as 1000:1000\n{log}"
    assert state["ExitCode"] != 0, log
    assert f'user: "0:{gid}"' in log, log


@needs_root
def test_sigterm_exits_0_at_once_and_removes_the_socket(image, resources, gid):
    volume = resources.host_directory()
    name = run_proxy(resources, f"0:{gid}", str(volume))
    assert_healthy(name)
    # An open event stream must not hold the shutdown up: it is closed after the grace period.
    follower = stream_as(CLIENT_UID, str(volume / "docker.sock"), "/v1.41/events")
    try:
        lines = LineReader(follower.stdout)
        assert lines.wait_for(lambda line: line.startswith("status"), 15) == "status 200"
        started = time.monotonic()
        stopped = docker("stop", "-t", "5", name, timeout=30)
        elapsed = time.monotonic() - started
    finally:
        stop_process(follower)
    assert stopped.returncode == 0, stopped.stderr
    state = inspect(docker, name)["State"]
    log = logs(docker, name)
    print(f"docker stop -t 5 took {elapsed:.3f} s; exit code {state['ExitCode']}")
    # Exit code 0, not 137: the proxy ended by itself, before the SIGKILL 5 s after SIGTERM.
    assert state["ExitCode"] == 0 and not state["OOMKilled"], f"{state}\n{log}"
    assert "stopping signal=SIGTERM" in log and " stopped" in log, log
    assert not os.path.lexists(volume / "docker.sock"), "the socket file was left behind"


def test_docker_logs_get_json_lines_by_default(image, resources, gid):
    # run_proxy asks for text; the image's own default under `docker logs` (no tty) is JSON.
    name = run_proxy(resources, f"0:{gid}", resources.volume(), "-e",
                     "SOCKET_PROXY_LOG_FORMAT=auto")
    deadline = time.monotonic() + 15
    while '"event":"listening"' not in (log := logs(docker, name)) and \
            time.monotonic() < deadline:
        time.sleep(0.2)
    events = [json.loads(line) for line in log.splitlines()]
    assert any(event["event"] == "listening" for event in events), log
    assert all(event["time"].endswith("+00:00") for event in events), log


def test_tz_europe_zurich_gives_local_offsets(image, resources, gid):
    volume = resources.volume()
    name = run_proxy(resources, f"0:{gid}", volume, "-e", "TZ=Europe/Zurich")
    deadline = time.monotonic() + 15
    while " listening " not in (log := logs(docker, name)) and time.monotonic() < deadline:
        time.sleep(0.2)
    line = next((line for line in log.splitlines() if " listening " in line), None)
    assert line, f"{name} did not start listening:\n{log}"
    match = TIMESTAMP.match(line)
    assert match, f"the log line does not start with an ISO timestamp and offset: {line!r}"
    offset = match.group(2)
    assert offset in ("+01:00", "+02:00"), line
    # The offset must be Zurich's at that very moment, not just any plausible one.
    logged = datetime.fromisoformat(match.group(1) + offset)
    expected = logged.astimezone(ZoneInfo("Europe/Zurich")).utcoffset()
    assert logged.utcoffset() == expected, f"{line!r}: Zurich's offset then was {expected}"
