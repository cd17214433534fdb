"""The named presets (`--preset NAME`) against the real engine.

For each tool, the calls its source makes (docs/tools.md, "Tools behind the proxy": the sources
are named there and in test_doc_policies.py) are replayed through the proxy, versioned as the tool
sends them, on real containers: each must answer as the engine answers when asked directly (200,
201, 204, not 403), and calls the tool must not get are refused with 403. Watchtower's round (inspect
unredacted, kill, remove, create, start) and autoheal's restart of an unhealthy labelled
container really happen, on throwaway containers.

Not marked `compat`: these are replays of documented call sequences, not the tools themselves,
and the compatibility table (docs/compatibility.md) lists real clients only.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse

import pytest

from proxytest import (DOCKER_SOCKET, TEST_IMAGE, TEST_LABEL, HttpConnection, build_request,
                       clean_environment, docker, http, proxy_binary, random_suffix)
from test_doc_policies import SWITCHES, doc_policies

PRESETS = ("traefik", "homepage", "dozzle", "portainer-readonly", "watchtower", "uptime-kuma",
           "beszel", "autoheal", "diun")
# The docs/tools.md block each preset was written from, where its name differs (portainer's is
# the read-only one).
DOC_BLOCK = {"portainer-readonly": "portainer"}

# The engine here speaks API 1.41 at most: tools that negotiate (the Go client's HEAD /_ping,
# then the server's version) send /v1.41/; Traefik pins 1.24, Watchtower 1.25.
NEGOTIATED = "/v1.41"


def q(value) -> str:
    """A query value as the Go client encodes filters: compact JSON, percent-encoded."""
    return urllib.parse.quote(json.dumps(value, separators=(",", ":")), safe="")


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in clean_environment().items() if k not in SWITCHES}
    environment.update(env or {})
    return subprocess.run([proxy_binary(), *args], env=environment, capture_output=True,
                          text=True, timeout=30, stdin=subprocess.DEVNULL)


def status_of(address, method: str, target: str, stream: bool = False) -> int:
    """The status of one request; for a response that never ends, only its head is read."""
    if not stream:
        return http(address, method, target).status
    with HttpConnection(address, timeout=15) as connection:
        connection.send(build_request(method, target, [("Connection", "close")]))
        return connection.read_head().status


def replay(proxy, calls) -> None:
    for method, target, *stream in calls:
        through = status_of(proxy.unix_path, method, target, bool(stream))
        direct = status_of(DOCKER_SOCKET, method, target, bool(stream))
        assert through == direct and through < 400, \
            f"{method} {target}: the proxy answered {through}, the engine {direct}\n{proxy.log}"


def refused(proxy, calls) -> None:
    for method, target in calls:
        response = http(proxy.unix_path, method, target)
        assert response.status == 403, f"{method} {target} should be refused: {response!r}"


NEVER = [("POST", "/v1.41/containers/create"), ("GET", "/v1.41/secrets"),
         ("GET", "/v1.41/images/get?names=busybox"), ("POST", "/v1.41/build")]


@pytest.fixture(scope="module")
def ids(ticker):
    inspect = json.loads(docker("container", "inspect", ticker.name, check=True).stdout)[0]
    return {"name": ticker.name, "id": inspect["Id"], "short": inspect["Id"][:12],
            "image_id": inspect["Image"]}


@pytest.fixture
def preset(proxy_factory):
    return lambda name: proxy_factory("--preset", name)


# --------------------------------------------------------------------------- start-up


@pytest.mark.parametrize("name", PRESETS)
def test_check_prints_the_preset_as_the_doc_block_it_came_from(name, tmp_path):
    result = run("check", "--preset", name)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert result.stdout.startswith(f"policy: preset {name} ("), result.stdout
    block = tmp_path / "block.yaml"
    block.write_text(doc_policies()[DOC_BLOCK.get(name, name)])
    from_file = run("check", "--policy", str(block))
    assert from_file.returncode == 0, from_file.stderr
    rules = lambda out: out.split("\n", 1)[1]  # noqa: E731: all but the source line
    assert rules(result.stdout) == rules(from_file.stdout)


def test_the_variable_selects_a_preset_too():
    result = run("check", env={"SOCKET_PROXY_PRESET": "diun"})
    assert result.returncode == 0 and "policy: preset diun (" in result.stdout, result.stderr


@pytest.mark.parametrize("env, fragment", [
    ({"SOCKET_PROXY_PRESET": "trafik"},
     'SOCKET_PROXY_PRESET="trafik" is not a preset: use one of traefik, homepage, dozzle, '
     "portainer-readonly, watchtower, uptime-kuma, beszel, autoheal, diun"),
    ({"SOCKET_PROXY_PRESET": "traefik", "SOCKET_PROXY_POLICY": "/etc/policy.yaml"},
     "both SOCKET_PROXY_PRESET (traefik) and SOCKET_PROXY_POLICY are set"),
    ({"SOCKET_PROXY_PRESET": "traefik", "CONTAINERS": "1"},
     "both SOCKET_PROXY_PRESET (traefik) and the switch CONTAINERS are set"),
])
def test_a_preset_that_cannot_be_used_stops_the_proxy_with_one_line(env, fragment, proxy_factory):
    result = run("check", env=env)
    assert result.returncode == 2, result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    proxy = proxy_factory(env=env, wait=False)
    proxy.proc.wait(timeout=10)
    proxy.stopped = True
    assert proxy.proc.returncode != 0 and fragment in proxy.stderr, proxy.log


def test_a_switch_that_is_not_a_boolean_does_not_conflict():
    result = run("check", env={"SOCKET_PROXY_PRESET": "traefik", "VERSION": "1.2.3"})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", PRESETS)
def test_the_health_check_passes_with_every_preset(name, preset):
    proxy = preset(name)
    result = subprocess.run([proxy_binary(), "healthcheck", "--volume", str(proxy.volume)],
                            env=clean_environment(), capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------- read-only tools


def test_traefik(preset, ids):
    proxy = preset("traefik")
    replay(proxy, [
        ("GET", "/v1.24/version"),
        ("GET", "/v1.24/containers/json"),
        ("GET", "/v1.24/containers/json?all=1"),
        ("GET", f"/v1.24/containers/{ids['id']}/json"),
        ("GET", f"/v1.24/events?filters={q({'type': {'container': True}})}", "stream"),
    ])
    refused(proxy, NEVER + [("GET", "/v1.24/images/json"), ("GET", "/v1.24/info"),
                            ("GET", f"/v1.24/containers/{ids['id']}/logs?stdout=1")])


def test_homepage(preset, ids):
    proxy = preset("homepage")
    replay(proxy, [
        ("GET", "/containers/json?all=true"),
        ("GET", f"/containers/{ids['name']}/json"),
        ("GET", f"/containers/{ids['name']}/stats?stream=false"),
    ])
    refused(proxy, NEVER + [("GET", f"/containers/{ids['name']}/stats"),
                            ("POST", f"/containers/{ids['name']}/restart"), ("GET", "/events")])


def test_dozzle(preset, ids):
    proxy = preset("dozzle")
    short = ids["short"]
    replay(proxy, [
        ("HEAD", "/_ping"),
        ("GET", f"{NEGOTIATED}/info"),
        ("GET", f"{NEGOTIATED}/containers/json?all=1"),
        ("GET", f"{NEGOTIATED}/containers/{short}/json"),
        ("GET", f"{NEGOTIATED}/containers/{short}/logs?follow=1&stderr=1&stdout=1&tail=100"
                "&timestamps=1", "stream"),
        ("GET", f"{NEGOTIATED}/containers/{short}/logs?stderr=1&stdout=1&timestamps=1"
                f"&since={int(time.time()) - 60}&until={int(time.time())}"),
        ("GET", f"{NEGOTIATED}/containers/{short}/stats?stream=1", "stream"),
        ("GET", f"{NEGOTIATED}/events", "stream"),
    ])
    refused(proxy, NEVER + [("POST", f"{NEGOTIATED}/containers/{short}/restart"),
                            ("GET", f"{NEGOTIATED}/images/json")])


def test_portainer_readonly(preset, ids):
    proxy = preset("portainer-readonly")
    now = int(time.time())
    replay(proxy, [
        ("HEAD", "/_ping"),
        ("GET", f"{NEGOTIATED}/info"),
        ("GET", f"{NEGOTIATED}/version"),
        ("GET", f"{NEGOTIATED}/containers/json?all=1"),
        ("GET", f"{NEGOTIATED}/images/json"),
        ("GET", f"{NEGOTIATED}/volumes"),
        ("GET", f"{NEGOTIATED}/networks"),
        ("GET", f"{NEGOTIATED}/networks/none"),
        ("GET", f"{NEGOTIATED}/containers/{ids['id']}/json"),
        ("GET", f"{NEGOTIATED}/containers/{ids['id']}/logs?stdout=1&stderr=1&tail=100"),
        ("GET", f"{NEGOTIATED}/containers/{ids['id']}/stats?stream=false"),
        ("GET", f"{NEGOTIATED}/containers/{ids['id']}/top"),
        ("GET", f"{NEGOTIATED}/images/{TEST_IMAGE}/json"),
        ("GET", f"{NEGOTIATED}/images/{ids['image_id']}/history"),
        ("GET", f"{NEGOTIATED}/system/df"),
        ("GET", f"{NEGOTIATED}/events?since={now - 60}&until={now}"),
    ])
    refused(proxy, NEVER + [("POST", f"{NEGOTIATED}/containers/{ids['id']}/stop"),
                            ("GET", f"{NEGOTIATED}/containers/{ids['id']}/export"),
                            ("GET", f"{NEGOTIATED}/plugins")])


def test_uptime_kuma(preset, ids):
    proxy = preset("uptime-kuma")
    replay(proxy, [("GET", f"/containers/{ids['name']}/json"), ("GET", "/containers/json?all=true")])
    refused(proxy, NEVER + [("GET", f"/containers/{ids['name']}/logs?stdout=1"), ("GET", "/info")])


def test_beszel(preset, ids):
    proxy = preset("beszel")
    short = ids["short"]
    replay(proxy, [
        ("GET", "/version"),
        ("GET", "/containers/json"),
        ("GET", f"/containers/{short}/stats?stream=0&one-shot=1"),
        ("GET", f"/containers/{short}/json"),
        ("GET", f"/containers/{short}/logs?stdout=1&stderr=1&tail=200"),
        ("GET", f"/images/{ids['image_id']}/json"),
        ("GET", "/system/df?type=volume"),
    ])
    refused(proxy, NEVER + [("GET", f"/containers/{short}/stats"),
                            ("GET", f"/containers/{short}/logs?follow=1&stdout=1"),
                            ("GET", "/info")])
    # Beszel's image update check escapes the whole name (url.PathEscape): a name with a slash
    # arrives as %2F, which the proxy refuses as it refuses every encoded slash.
    escaped = urllib.parse.quote(TEST_IMAGE, safe=":")
    assert http(proxy.unix_path, "GET", f"/images/{escaped}/json").status == 403


def test_diun(preset, ids):
    proxy = preset("diun")
    replay(proxy, [
        ("HEAD", "/_ping"),
        ("GET", f"{NEGOTIATED}/version"),
        ("GET", f"{NEGOTIATED}/containers/json?filters={q({'status': {'running': True}})}"),
        ("GET", f"{NEGOTIATED}/images/{TEST_IMAGE}/json"),
        ("GET", f"{NEGOTIATED}/containers/{ids['id']}/json"),
    ])
    refused(proxy, NEVER + [("POST", f"{NEGOTIATED}/images/create?fromImage=busybox&tag=latest"),
                            ("GET", f"{NEGOTIATED}/containers/{ids['id']}/logs?stdout=1")])


# --------------------------------------------------------------------------- autoheal


def test_autoheal_restarts_an_unhealthy_labelled_container_and_nothing_else(preset, containers):
    health = ["--health-cmd", "false", "--health-interval", "1s", "--health-retries", "1"]
    names = {}
    for labelled in (True, False):
        name = f"spt-autoheal-{random_suffix()}"
        containers.names.append(name)
        labels = ["--label", f"{TEST_LABEL}={containers.session}"]
        if labelled:
            labels += ["--label", "autoheal=true"]
        docker("run", "-d", "--name", name, "--network", "none", *labels, *health, TEST_IMAGE,
               "sleep", "1800", check=True)
        names[labelled] = name
    deadline = time.monotonic() + 30
    while any(docker("inspect", "--format", "{{.State.Health.Status}}", n).stdout.strip()
              != "unhealthy" for n in names.values()):
        assert time.monotonic() < deadline, "the test containers did not become unhealthy"
        time.sleep(0.5)

    proxy = preset("autoheal")
    # What autoheal's curl sends: the filter unencoded, no version prefix.
    listing = http(proxy.unix_path, "GET",
                   '/containers/json?filters={"health":["unhealthy"],"label":["autoheal=true"]}')
    assert listing.status == 200, listing
    listed = {c["Names"][0][1:]: c["Id"] for c in listing.json()}
    assert names[True] in listed and names[False] not in listed, listed
    # AUTOHEAL_CONTAINER_LABEL=all drops the label filter: the proxy still lists only labelled ones.
    everything = http(proxy.unix_path, "GET", '/containers/json?filters={"health":["unhealthy"]}')
    assert names[False] not in {c["Names"][0][1:] for c in everything.json()}

    started = docker("inspect", "--format", "{{.State.StartedAt}}", names[True]).stdout
    restart = http(proxy.unix_path, "POST", f"/containers/{listed[names[True]]}/restart?t=0")
    assert restart.status == 204, restart
    assert docker("inspect", "--format", "{{.State.StartedAt}}", names[True]).stdout != started

    hidden = docker("inspect", "--format", "{{.Id}}", names[False]).stdout.strip()
    assert http(proxy.unix_path, "POST", f"/containers/{hidden}/restart?t=0").status == 404
    refused(proxy, NEVER + [("POST", f"/containers/{listed[names[True]]}/stop"),
                            ("POST", f"/containers/{listed[names[True]]}/kill"),
                            ("GET", f"/containers/{listed[names[True]]}/json")])


# --------------------------------------------------------------------------- watchtower


# HostConfig fields the engine fills with its defaults, which Watchtower sends back unchanged.
ENGINE_DEFAULTS = ("MaskedPaths", "ReadonlyPaths", "CgroupnsMode")


def watchtower_create_body(container: dict, image: dict) -> dict:
    """What Watchtower's GetCreateConfig and GetCreateHostConfig send: the inspected Config
    minus the image's defaults, the inspected HostConfig as it is."""
    config = dict(container["Config"])
    image_config = image["Config"] or {}
    config["Env"] = [e for e in config.get("Env") or [] if e not in (image_config.get("Env") or [])]
    config["Labels"] = {k: v for k, v in (config.get("Labels") or {}).items()
                        if (image_config.get("Labels") or {}).get(k) != v}
    config["HostConfig"] = container["HostConfig"]
    return config


def test_watchtower_updates_a_container_with_its_real_configuration(preset, containers):
    name = f"spt-watched-{random_suffix()}"
    containers.names.append(name)
    docker("run", "-d", "--name", name, "--network", "none", "--label",
           f"{TEST_LABEL}={containers.session}", "-e", "DB_PASSWORD=hunter2", TEST_IMAGE,
           "sleep", "1800", check=True)
    proxy = preset("watchtower")
    api = "/v1.25"

    listing = http(proxy.unix_path, "GET",
                   f"{api}/containers/json?filters={q({'status': {'running': True}})}")
    assert listing.status == 200, listing
    found = [c for c in listing.json() if c["Names"] == [f"/{name}"]]
    assert len(found) == 1, listing.json()
    container_id = found[0]["Id"]

    inspect = http(proxy.unix_path, "GET", f"{api}/containers/{container_id}/json")
    assert inspect.status == 200, inspect
    container = inspect.json()
    assert "DB_PASSWORD=hunter2" in container["Config"]["Env"], container["Config"]["Env"]
    assert not any(e.endswith("=<redacted>") for e in container["Config"]["Env"])
    image = http(proxy.unix_path, "GET", f"{api}/images/{container['Image']}/json")
    assert image.status == 200, image
    assert not any(e.endswith("=<redacted>") for e in image.json()["Config"]["Env"] or [])
    assert http(proxy.unix_path, "GET", f"{api}/images/{TEST_IMAGE}/json").status == 200
    # The pull (POST /images/create?fromImage=…) is not replayed: the test image exists only
    # locally and the engine would ask a registry for it, which this test cannot reach.

    body = watchtower_create_body(container, image.json())
    kill = http(proxy.unix_path, "POST", f"{api}/containers/{container_id}/kill?signal=SIGTERM")
    assert kill.status == 204, kill
    remove = http(proxy.unix_path, "DELETE", f"{api}/containers/{container_id}?force=1")
    assert remove.status == 204, remove

    # Watchtower copies HostConfig whole, with the engine's own defaults in it (MaskedPaths,
    # ReadonlyPaths, CgroupnsMode "host" on a cgroup v1 host): the body limits must let those
    # through unchanged.
    assert any(field in body["HostConfig"] for field in ENGINE_DEFAULTS), body["HostConfig"]
    created = http(proxy.unix_path, "POST", f"{api}/containers/create?name={name}",
                   headers={"Content-Type": "application/json"}, body=json.dumps(body).encode())
    assert created.status == 201, created
    new_id = created.json()["Id"]
    start = http(proxy.unix_path, "POST", f"{api}/containers/{new_id}/start")
    assert start.status == 204, start
    recreated = json.loads(docker("inspect", name, check=True).stdout)[0]
    assert recreated["State"]["Running"] and "DB_PASSWORD=hunter2" in recreated["Config"]["Env"]
    assert recreated["HostConfig"]["MaskedPaths"] == container["HostConfig"]["MaskedPaths"]


def test_watchtower_cannot_create_a_privileged_container(preset):
    proxy = preset("watchtower")
    result = docker("run", "--rm", "--privileged", "--network", "none", TEST_IMAGE, "true",
                    host=proxy.docker_host())
    assert result.returncode != 0
    assert "HostConfig.Privileged is true (body.privileged)" in result.stderr, result.stderr
    assert "rule create-containers does not allow it" in result.stderr, result.stderr
    refused(proxy, [("POST", "/v1.25/containers/x/exec"), ("GET", "/v1.25/containers/x/export"),
                    ("GET", "/v1.25/secrets"), ("GET", "/v1.25/info"), ("POST", "/v1.25/build")])
