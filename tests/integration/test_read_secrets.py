"""Secret values in reads, against the real engines: every row of docs/security.md.

Each test first asks the engine directly and shows the value is there (so the test can fail),
then asks through the proxy with the built-in read-only policy and shows it is gone, or the
request refused with a JSON error: volume and mount driver options, log-driver options, image
history and the build steps in image inspect, `top` with ps arguments that print environments,
logs with details, and Podman's libpod inspect, history, volumes, top and logs."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import tempfile
import time
import types
import urllib.parse
from pathlib import Path

import pytest

from podman_service import ULIMITS, podman_service
from proxytest import (DOCKER_SOCKET, TEST_IMAGE, TEST_LABEL, assert_json_error, docker,
                       docker_cli, docker_environment, http, random_suffix, start_proxy,
                       write_policy)

SECRET = f"hunter2-{random_suffix()}"


def direct(target: str):
    return http(DOCKER_SOCKET, "GET", target)


def through(proxy, target: str):
    return http(proxy.unix_path, "GET", target)


def assert_engine_shows(target: str, *values: str, socket: str = DOCKER_SOCKET) -> None:
    response = http(socket, "GET", target)
    assert response.status == 200, response
    for value in values:
        assert value.encode() in response.body, f"the engine no longer shows {value!r}: {response!r}"


def assert_redacted(proxy, target: str, *kept: str) -> bytes:
    """The proxy's answer: 200, no secret anywhere in the raw body, and what must stay."""
    response = through(proxy, target)
    assert response.status == 200, response
    assert SECRET.encode() not in response.body, response.body
    for text in kept:
        assert text.encode() in response.body, f"{text!r} missing: {response.body[:2000]!r}"
    return response.body


def assert_refused(proxy, target: str, *fragments: str) -> None:
    response = through(proxy, target)
    assert SECRET.encode() not in response.body
    assert_json_error(response, 403, "socket-proxy denied GET", "(rule read-guard)", *fragments)


@pytest.fixture(scope="module")
def read_proxy(binary, engine):
    proxy = start_proxy()
    yield proxy
    proxy.stop()
    shutil.rmtree(proxy.workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def session_label(containers):
    return ["--label", f"{TEST_LABEL}={containers.session}"]


# --------------------------------------------------------------------------- volumes


@pytest.fixture(scope="module")
def cifs_volume(session_label):
    name = f"spt-read-cifs-{random_suffix()}"
    docker("volume", "create", "-d", "local", *session_label, "-o", "type=cifs", "-o",
           f"o=username=svc,password={SECRET},vers=3.0", "-o", "device=//127.0.0.1/share", name,
           check=True)
    yield name
    docker("volume", "rm", "-f", name)


def test_volume_driver_options(read_proxy, cifs_volume):
    inspect = f"/v1.41/volumes/{cifs_volume}"
    listing = "/v1.41/volumes?filters=" + urllib.parse.quote(json.dumps({"name": [cifs_volume]}))
    for target in (inspect, listing):
        assert_engine_shows(target, f"password={SECRET}")
        assert_redacted(read_proxy, target, '"type":"cifs"', '"device":"//127.0.0.1/share"',
                        "username=<redacted>,password=<redacted>,vers=3.0")
    result = docker("volume", "inspect", "--format", "{{json .Options}}", cifs_volume,
                    host=read_proxy.docker_host())
    assert result.returncode == 0 and SECRET not in result.stdout, result
    assert "password=\\u003credacted\\u003e" in result.stdout or "password=<redacted>" in \
        result.stdout, result.stdout


def test_mount_driver_options_in_container_inspect(read_proxy, containers, session_label):
    name = f"spt-read-mount-{random_suffix()}"
    volume = f"spt-read-mv-{random_suffix()}"
    containers.names.append(name)
    try:
        docker("create", "--name", name, "--network", "none", *session_label, "--mount",
               f'type=volume,src={volume},dst=/data,volume-driver=local,volume-opt=type=cifs,'
               f'volume-opt=device=//127.0.0.1/x,"volume-opt=o=username=svc,password={SECRET}"',
               TEST_IMAGE, "true", check=True)
        target = f"/v1.41/containers/{name}/json"
        assert_engine_shows(target, f"password={SECRET}")
        body = assert_redacted(read_proxy, target, "username=<redacted>,password=<redacted>")
        options = json.loads(body)["HostConfig"]["Mounts"][0]["VolumeOptions"]["DriverConfig"]
        assert options["Options"]["type"] == "cifs", options
    finally:
        docker("rm", "-f", name)
        docker("volume", "rm", "-f", volume)


# --------------------------------------------------------------------------- log drivers


def test_log_driver_options(read_proxy, containers, session_label):
    """splunk is compiled into 20.10; `docker create` does not start it, so no network."""
    name = f"spt-read-splunk-{random_suffix()}"
    containers.names.append(name)
    docker("create", "--name", name, "--network", "none", *session_label,
           "--log-driver", "splunk", "--log-opt", f"splunk-token={SECRET}",
           "--log-opt", "splunk-url=https://127.0.0.1:8088", "--log-opt", "splunk-index=main",
           "--log-opt", "splunk-verify-connection=false", TEST_IMAGE, "true", check=True)
    target = f"/v1.41/containers/{name}/json"
    assert_engine_shows(target, f'"splunk-token":"{SECRET}"')
    body = assert_redacted(read_proxy, target)
    config = json.loads(body)["HostConfig"]["LogConfig"]
    assert config == {"Type": "splunk", "Config": {
        "splunk-token": "<redacted>", "splunk-url": "<redacted>", "splunk-index": "main",
        "splunk-verify-connection": "false"}}, config


# --------------------------------------------------------------------------- image builds


@pytest.fixture(scope="module")
def built_image(engine):
    """The legacy builder (the API's default on 20.10), FROM the local test image."""
    context = Path(tempfile.mkdtemp(prefix="spt-read-build-"))
    (context / "Dockerfile").write_text(
        f"FROM {TEST_IMAGE}\n"
        f"ARG TOKEN=default-{SECRET}\n"
        f"ENV DB_PASSWORD={SECRET} PLAIN=\"two {SECRET}\"\n"
        "RUN test -n \"$TOKEN\"\n"
        f"ONBUILD ENV LATER={SECRET}\n"
        f"ENV API_KEY {SECRET}\n")
    image = f"spt-read-build:{random_suffix()}"
    # No --label: it would add a last LABEL step, and ContainerConfig is the last step's.
    env = {**docker_environment(f"unix://{DOCKER_SOCKET}"), "DOCKER_BUILDKIT": "0"}
    result = subprocess.run([docker_cli(), "build", "--build-arg", f"TOKEN={SECRET}", "-t", image,
                             str(context)], env=env, capture_output=True, text=True, timeout=300)
    shutil.rmtree(context, ignore_errors=True)
    assert result.returncode == 0, result.stderr
    yield image
    docker("image", "rm", "-f", image)


def test_image_history(read_proxy, built_image):
    target = f"/v1.41/images/{built_image}/history"
    assert_engine_shows(target, f"#(nop)  ENV DB_PASSWORD={SECRET}", f"|1 TOKEN={SECRET} /bin/sh",
                        f"ARG TOKEN=default-{SECRET}")
    body = assert_redacted(read_proxy, target)
    steps = [entry["CreatedBy"] for entry in json.loads(body)]
    for expected in ("/bin/sh -c #(nop)  ENV DB_PASSWORD=<redacted> PLAIN=<redacted>",
                     "/bin/sh -c #(nop)  ARG TOKEN=<redacted>",
                     "|1 TOKEN=<redacted> /bin/sh -c test -n \"$TOKEN\"",
                     "/bin/sh -c #(nop)  ONBUILD ENV LATER=<redacted>",
                     "/bin/sh -c #(nop)  ENV API_KEY=<redacted>"):
        assert expected in steps, steps
    result = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", built_image,
                    host=read_proxy.docker_host())
    assert result.returncode == 0 and SECRET not in result.stdout, result


def test_image_inspect_build_steps(read_proxy, built_image):
    target = f"/v1.41/images/{built_image}/json"
    assert_engine_shows(target, f"ENV API_KEY={SECRET}", f"ENV LATER={SECRET}")
    body = json.loads(assert_redacted(read_proxy, target))
    assert body["ContainerConfig"]["Cmd"][-1] == "ENV API_KEY=<redacted>", body["ContainerConfig"]
    assert body["Config"]["OnBuild"] == ["ENV LATER=<redacted>"], body["Config"]
    assert "API_KEY=<redacted>" in body["Config"]["Env"]


# --------------------------------------------------------------------------- top and logs


@pytest.fixture(scope="module")
def secret_runner(containers, session_label):
    """Runs with DB_PASSWORD in its environment, and a log driver that adds it to details."""
    name = f"spt-read-top-{random_suffix()}"
    containers.names.append(name)
    docker("run", "-d", "--name", name, "--network", "none", *session_label,
           "-e", f"DB_PASSWORD={SECRET}", "--log-opt", "env=DB_PASSWORD",
           TEST_IMAGE, "sh", "-c", "echo hello-details; exec sleep 1800", check=True)
    deadline = time.monotonic() + 10
    while b"hello-details" not in direct(f"/v1.41/containers/{name}/logs?stdout=1").body:
        assert time.monotonic() < deadline, "the container printed nothing"
        time.sleep(0.1)
    return name


LEAKING_PS_ARGS = ["ewwo pid,args", "-efww e", "axe", "-ex", "-uxe", "e", "-eHT"]
# What docker top, Portainer and the ps manual use: answered with the processes.
COMMON_PS_ARGS = ["", "-ef", "-efww", "-eF", "-ef --forest", "aux", "auxww", "-o pid,args",
                  "-A -o pid,ppid,%cpu,%mem,args"]
# Everything else the proxy lets through also goes to the engine's ps, which may refuse it
# (a 500) but must print no environment.
OTHER_SAFE_PS_ARGS = ["-e -f", "ax", "-opid,comm,user", "--format pid,args --sort -pid", "x -T",
                      "wwopid,args", "-H -o pid,args", "-eLf", "-A", "-u root", "f", "-O user"]


def top_target(name: str, ps_args: str) -> str:
    query = "" if not ps_args else "?ps_args=" + urllib.parse.quote(ps_args)
    return f"/v1.41/containers/{name}/top{query}"


@pytest.mark.parametrize("ps_args", LEAKING_PS_ARGS)
def test_top_arguments_that_print_environments_are_refused(read_proxy, secret_runner, ps_args):
    target = top_target(secret_runner, ps_args)
    if ps_args in ("ewwo pid,args", "-efww e", "axe", "-ex"):
        assert_engine_shows(target, f"DB_PASSWORD={SECRET}")
    assert_refused(read_proxy, target, "environment")


@pytest.mark.parametrize("ps_args", COMMON_PS_ARGS + OTHER_SAFE_PS_ARGS)
def test_top_arguments_that_print_no_environment_pass(read_proxy, secret_runner, ps_args):
    response = through(read_proxy, top_target(secret_runner, ps_args))
    assert SECRET.encode() not in response.body, response
    if ps_args in COMMON_PS_ARGS:
        assert response.status == 200 and response.json()["Processes"], response
    else:
        assert response.status in (200, 500), response


def test_docker_top_through_the_proxy(read_proxy, secret_runner):
    host = read_proxy.docker_host()
    result = docker("top", secret_runner, host=host)
    assert result.returncode == 0 and "sleep 1800" in result.stdout, result
    result = docker("top", secret_runner, "ewwo", "pid,args", host=host)
    assert result.returncode != 0 and SECRET not in result.stdout + result.stderr
    assert "socket-proxy denied GET" in result.stderr and "environment" in result.stderr, result


@pytest.mark.parametrize("details", ["1", "true", "yes", "TRUE"])
def test_logs_with_details_are_refused(read_proxy, secret_runner, details):
    target = f"/v1.41/containers/{secret_runner}/logs?stdout=1&details={details}"
    assert_engine_shows(target, f"DB_PASSWORD={SECRET}")
    assert_refused(read_proxy, target, "details")


def test_logs_without_details_pass(read_proxy, secret_runner):
    for query in ("stdout=1", "stdout=1&details=0", "stdout=1&details=false"):
        response = through(read_proxy, f"/v1.41/containers/{secret_runner}/logs?{query}")
        assert response.status == 200 and b"hello-details" in response.body, response
        assert SECRET.encode() not in response.body
    result = docker("logs", "--details", secret_runner, host=read_proxy.docker_host())
    assert result.returncode != 0 and "socket-proxy denied GET" in result.stderr, result
    assert SECRET not in result.stdout + result.stderr


def test_guards_and_redaction_hold_under_a_policy_file(proxy_factory, policy_dir, secret_runner,
                                                       cifs_volume):
    policy = write_policy(policy_dir, "rules:\n  - {name: all-reads, methods: [GET, HEAD], "
                                      "action: allow}\n")
    proxy = proxy_factory("--policy", policy)
    assert_refused(proxy, top_target(secret_runner, "ewwo pid,args"), "environment")
    assert_refused(proxy, f"/v1.41/containers/{secret_runner}/logs?stdout=1&details=1")
    assert_redacted(proxy, f"/v1.41/volumes/{cifs_volume}", "password=<redacted>")
    assert through(proxy, top_target(secret_runner, "-ef")).status == 200


def test_a_rule_without_redaction_passes_them(proxy_factory, policy_dir, secret_runner):
    """redact: false is a tool that must see the values (docs/security.md says so)."""
    policy = write_policy(policy_dir, "rules:\n  - {name: trusted, methods: [GET, HEAD], "
                                      "redact: false, action: allow}\n")
    proxy = proxy_factory("--policy", policy)
    response = through(proxy, top_target(secret_runner, "ewwo pid,args"))
    assert response.status == 200 and SECRET.encode() in response.body, response


# --------------------------------------------------------------------------- Podman


@pytest.fixture(scope="module")
def podman(engine, containers):
    with podman_service("spt-read-podman-") as service:
        name = f"spt-read-podman-{random_suffix()}"
        service.run("run", "-d", "--name", name, "--network", "none", *ULIMITS, "-e",
                    f"DB_PASSWORD={SECRET}", "--env", f"A={SECRET}", f"--env=B={SECRET}",
                    f"-eC={SECRET}", TEST_IMAGE, "sleep", "1800")
        service.run("volume", "create", "-o", "type=cifs", "-o",
                    f"o=username=svc,password={SECRET}", "-o", "device=//127.0.0.1/x", "pv1")
        yield types.SimpleNamespace(socket_path=service.socket_path, run=service.run,
                                    container=name, base=service.base)


@pytest.fixture(scope="module")
def podman_proxy(podman):
    proxy = start_proxy(docker_socket=podman.socket_path)
    yield proxy
    proxy.stop()
    shutil.rmtree(proxy.workdir, ignore_errors=True)


def test_libpod_container_inspect(podman, podman_proxy):
    target = f"/v4.0.0/libpod/containers/{podman.container}/json"
    assert_engine_shows(target, f'"--env=B={SECRET}"', f'"-eC={SECRET}"', f"DB_PASSWORD={SECRET}",
                        socket=podman.socket_path)
    body = json.loads(assert_redacted(podman_proxy, target))
    command = body["Config"]["CreateCommand"]
    for kept in ("-e", "DB_PASSWORD=<redacted>", "--env", "A=<redacted>", "--env=B=<redacted>",
                 "-eC=<redacted>", "sleep", "1800"):
        assert kept in command, command
    assert "DB_PASSWORD=<redacted>" in body["Config"]["Env"]


def test_libpod_volumes(podman, podman_proxy):
    for target in ("/v4.0.0/libpod/volumes/pv1/json", "/v4.0.0/libpod/volumes/json",
                   "/v1.41/volumes/pv1"):
        assert_engine_shows(target, f"password={SECRET}", socket=podman.socket_path)
        assert_redacted(podman_proxy, target, "username=<redacted>,password=<redacted>",
                        "//127.0.0.1/x")


def test_libpod_image_history_and_inspect(podman, podman_proxy, built_image):
    subprocess.run(f"docker save {built_image} | {shlex.join(podman.base)} load", shell=True,
                   check=True, capture_output=True, timeout=120)
    for target, field in ((f"/v4.0.0/libpod/images/{built_image}/history", "CreatedBy"),
                          (f"/v4.0.0/libpod/images/{built_image}/json", "created_by")):
        assert_engine_shows(target, f"ENV DB_PASSWORD={SECRET}", f"|1 TOKEN={SECRET}",
                            socket=podman.socket_path)
        body = assert_redacted(podman_proxy, target, "ENV DB_PASSWORD=<redacted>",
                               "|1 TOKEN=<redacted> /bin/sh -c")
        assert field.encode() in body


def test_libpod_top_and_logs_guards(podman, podman_proxy):
    base = f"/v4.0.0/libpod/containers/{podman.container}"
    assert_refused(podman_proxy, f"{base}/top?ps_args=eww", "environment")
    assert_refused(podman_proxy, f"{base}/logs?stdout=true&details=1", "details")
    assert through(podman_proxy, f"{base}/top").status == 200
    assert through(podman_proxy, f"{base}/logs?stdout=true").status == 200


# --------------------------------------------------------------------------- Swarm


@pytest.fixture(scope="module")
def swarm(engine):
    """The spare dockerd of spare_engine.py in swarm mode, so the main engine never joins one."""
    from spare_engine import spare_swarm

    with spare_swarm() as (spare, host):
        service = docker(
            "service", "create", "--detach", "--name", f"spt-read-svc-{random_suffix()}",
            "--log-driver", "splunk", "--log-opt", f"splunk-token={SECRET}",
            "--log-opt", "splunk-index=main", "--mount",
            f'type=volume,src=spt-read-sv,dst=/data,volume-driver=local,volume-opt=type=cifs,'
            f'"volume-opt=o=username=svc,password={SECRET}"',
            TEST_IMAGE, "sleep", "1800", host=host, check=True).stdout.strip()
        yield types.SimpleNamespace(engine=spare, host=host, service=service)


@pytest.fixture(scope="module")
def swarm_proxy(swarm):
    proxy = start_proxy(docker_socket=swarm.engine.socket_path)
    yield proxy
    proxy.stop()
    shutil.rmtree(proxy.workdir, ignore_errors=True)


def test_service_log_and_mount_driver_options(swarm, swarm_proxy):
    """Docker 20.10 takes no swarm-wide TaskDefaults.LogDriver through its API (/swarm/init and
    /swarm/update leave it empty, measured): /swarm's is a unit row only."""
    for target in (f"/v1.41/services/{swarm.service}", "/v1.41/services"):
        assert_engine_shows(target, f'"splunk-token":"{SECRET}"', f"password={SECRET}",
                            socket=swarm.engine.socket_path)
        body = assert_redacted(swarm_proxy, target, '"splunk-token":"<redacted>"',
                               '"splunk-index":"main"', "password=<redacted>")
        assert b'"splunk-token":"' + SECRET.encode() not in body


def test_service_logs_with_details_are_refused(swarm, swarm_proxy):
    assert_refused(swarm_proxy, f"/v1.41/services/{swarm.service}/logs?stdout=1&details=1",
                   "details")
