"""The policy files of docs/tools.md ("Tools behind the proxy"), docs/migrating.md
("Migrating from other proxies") and the marked ones of docs/policy.md ("Your own policy"), held
to what the text says about them.

Each file is a fenced ```yaml block right after `<!-- policy: NAME -->`. For each, `socket-proxy
check` must accept it, and `socket-proxy explain` (the proxy's own decide(), so no engine is
needed) must allow every call the tool makes and refuse the calls it must not get. The calls are
the ones those pages list, taken from each tool's source: Traefik's pkg/provider/docker,
Homepage's dockerode calls, Dozzle's internal/docker/client.go, Portainer's snapshot and pages,
Watchtower's pkg/container/client.go, Uptime Kuma's docker monitor, the Beszel agent's
agent/docker.go, autoheal's docker-entrypoint, Diun's internal/provider/docker.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from proxytest import REPO, clean_environment, proxy_binary

# Each page and its title: every fenced YAML policy in it is read.
POLICY_DOCS = {REPO / "docs" / "tools.md": "# Tools behind the proxy",
               REPO / "docs" / "migrating.md": "# Migrating from other proxies"}
# Pages whose policies with a marker are read; the others there are fragments of a field's
# explanation.
MARKED_POLICY_DOCS = {REPO / "docs" / "policy.md": "# Your own policy"}
MARKER = re.compile(r"<!-- policy: ([a-z0-9-]+) -->")

# Tecnativa-style switches in the test's own environment would be an error beside --policy.
SWITCHES = ("AUTH", "BUILD", "COMMIT", "CONFIGS", "CONTAINERS", "DISTRIBUTION", "EVENTS", "EXEC",
            "GRPC", "IMAGES", "INFO", "NETWORKS", "NODES", "PING", "PLUGINS", "SECRETS",
            "SERVICES", "SESSION", "SWARM", "SYSTEM", "TASKS", "VERSION", "VOLUMES", "POST",
            "DELETE", "ALLOW_START", "ALLOW_STOP", "ALLOW_RESTARTS")

CONTAINER_ID = "3f4e8c2a9b1d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f"
IMAGE_ID = "sha256:9b1d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f3f4e8c2a"
# Filters as the Go client sends them: {"type":{"container":true}}, {"status":{"running":true}}.
EVENTS_OF_CONTAINERS = "%7B%22type%22%3A%7B%22container%22%3Atrue%7D%7D"
RUNNING = "%7B%22status%22%3A%7B%22running%22%3Atrue%7D%7D"
WATCHED = "com.centurylinklabs.watchtower.enable=true"

# The image's HEALTHCHECK asks this through the proxy: every file must allow it.
HEALTH_CHECK = [("GET", "/_ping"), ("HEAD", "/_ping")]

# What no read-only consumer may get, whatever the file.
NEVER_FOR_READERS = [
    ("POST", "/v1.45/containers/create"),
    ("POST", f"/v1.45/containers/{CONTAINER_ID}/exec"),
    ("POST", "/v1.45/containers/web/start"),
    ("DELETE", "/v1.45/containers/web?force=1"),
    ("POST", "/v1.45/images/create?fromImage=busybox&tag=latest"),
    ("GET", "/v1.45/containers/web/export"),
    ("GET", "/v1.45/containers/web/%65xport"),
    ("GET", "/v1.45/containers/web/archive?path=/etc/shadow"),
    ("GET", "/v1.45/images/nginx/get"),
    ("GET", "/v1.45/images/get?names=nginx"),
    ("GET", "/v1.45/secrets"),
    ("GET", "/v1.45/configs"),
    ("GET", "/v1.45/swarm/unlockkey"),
]


@dataclass
class Consumer:
    calls: list                       # (method, target) the tool sends: must be allowed
    refused: list                     # what it must not get: must be denied
    builtin_suffices: bool            # the page says the built-in read-only policy serves it
    unredacted: list = field(default_factory=list)  # targets whose secrets pass through
    client: str | None = None         # explain's --client for the calls; None: a unix client
    scoped: list = field(default_factory=list)      # targets narrowed to `labels` containers
    labels: str = WATCHED


TRAEFIK_CALLS = [
    ("GET", "/v1.24/version"),
    ("GET", "/v1.24/containers/json"),
    ("GET", "/v1.24/containers/json?all=1"),
    ("GET", f"/v1.24/containers/{CONTAINER_ID}/json"),
    ("GET", f"/v1.24/events?filters={EVENTS_OF_CONTAINERS}"),
]

WATCHTOWER_CALLS = [
    ("GET", f"/v1.25/containers/json?filters={RUNNING}"),
    ("GET", f"/v1.25/containers/{CONTAINER_ID}/json"),
    ("GET", f"/v1.25/images/{IMAGE_ID}/json"),
    ("GET", "/v1.25/images/ghcr.io/acme/web:latest/json"),
    ("POST", "/v1.25/images/create?fromImage=ghcr.io%2Facme%2Fweb&tag=latest"),
    ("POST", f"/v1.25/containers/{CONTAINER_ID}/kill?signal=SIGTERM"),
    ("DELETE", f"/v1.25/containers/{CONTAINER_ID}?force=1&v=1"),
    ("POST", "/v1.25/containers/create?name=%2Fweb"),
    ("POST", "/v1.25/networks/frontend/disconnect"),
    ("POST", "/v1.25/networks/frontend/connect"),
    ("POST", f"/v1.25/containers/{CONTAINER_ID}/start"),
    ("POST", f"/v1.25/containers/{CONTAINER_ID}/rename?name=watchtower-old"),
    ("DELETE", f"/v1.25/images/{IMAGE_ID}?force=1"),
]

# Watchtower recreates containers from these answers: they must carry the real values.
WATCHTOWER_INSPECTS = [f"/v1.25/containers/{CONTAINER_ID}/json", f"/v1.25/images/{IMAGE_ID}/json",
                       "/v1.25/images/ghcr.io/acme/web:latest/json"]

WATCHTOWER_REFUSED = [
    ("GET", "/v1.25/images/acme/web/get"),
    ("GET", "/v1.25/images/get?names=acme%2Fweb"),
    ("GET", f"/v1.25/containers/{CONTAINER_ID}/export"),
    ("GET", f"/v1.25/containers/{CONTAINER_ID}/archive?path=/"),
    ("POST", f"/v1.25/containers/{CONTAINER_ID}/exec"),   # lifecycle hooks are left out
    ("POST", "/v1.25/exec/abc/start"),
    ("POST", f"/v1.25/containers/{CONTAINER_ID}/attach?stream=1&stdin=1"),
    ("POST", "/v1.25/build"),
    ("POST", "/v1.25/volumes/create"),
    ("GET", "/v1.25/secrets"),
    ("GET", "/v1.25/swarm/unlockkey"),
    ("POST", "/v1.25/swarm/leave"),
    ("GET", "/v1.25/info"),
]

CONSUMERS = {
    "traefik": Consumer(
        calls=TRAEFIK_CALLS,
        refused=NEVER_FOR_READERS + [("GET", "/v1.24/images/json"), ("GET", "/v1.24/info"),
                                     ("GET", f"/v1.24/containers/{CONTAINER_ID}/logs")],
        builtin_suffices=True),
    "homepage": Consumer(
        calls=[("GET", "/containers/json?all=true"),
               ("GET", "/containers/web/json"),
               ("GET", "/containers/web/stats?stream=false")],
        refused=NEVER_FOR_READERS + [("GET", "/containers/web/stats"),
                                     ("GET", "/containers/web/stats?stream=true"),
                                     ("GET", "/containers/web/logs?stdout=1"),
                                     ("GET", "/events")],
        builtin_suffices=True),
    "dozzle": Consumer(
        calls=[("GET", "/v1.47/info"),
               ("GET", "/v1.47/containers/json?all=1"),
               ("GET", f"/v1.47/containers/{CONTAINER_ID[:12]}/json"),
               ("GET", f"/v1.47/containers/{CONTAINER_ID[:12]}/logs?follow=1&since=2026-12-01T"
                       "12%3A00%3A00.000000000Z&stderr=1&stdout=1&tail=100&timestamps=1"),
               ("GET", f"/v1.47/containers/{CONTAINER_ID[:12]}/stats?stream=1"),
               ("GET", "/v1.47/events")],
        refused=NEVER_FOR_READERS + [("POST", f"/v1.47/containers/{CONTAINER_ID[:12]}/restart"),
                                     ("POST", f"/v1.47/containers/{CONTAINER_ID[:12]}/attach"),
                                     ("GET", "/v1.47/images/json"),
                                     ("GET", "/v1.47/volumes")],
        builtin_suffices=True),
    "portainer": Consumer(
        calls=[("GET", "/v1.41/info"),
               ("GET", "/v1.41/version"),
               ("GET", "/v1.41/containers/json?all=1"),
               ("GET", "/v1.41/images/json"),
               ("GET", "/v1.41/volumes"),
               ("GET", "/v1.41/networks"),
               ("GET", f"/v1.41/containers/{CONTAINER_ID}/json"),
               ("GET", f"/v1.41/containers/{CONTAINER_ID}/logs?stdout=1&stderr=1&tail=100"),
               ("GET", f"/v1.41/containers/{CONTAINER_ID}/stats?stream=false"),
               ("GET", f"/v1.41/containers/{CONTAINER_ID}/top"),
               ("GET", "/v1.41/images/library/nginx:latest/json"),
               ("GET", f"/v1.41/images/{IMAGE_ID}/history"),
               ("GET", "/v1.41/networks/bridge"),
               ("GET", "/v1.41/volumes/data"),
               ("GET", "/v1.41/system/df"),
               ("GET", "/v1.41/events?since=1764590400&until=1764594000")],
        refused=NEVER_FOR_READERS + [("POST", f"/v1.41/containers/{CONTAINER_ID}/update"),
                                     ("PUT", f"/v1.41/containers/{CONTAINER_ID}/archive?path=/"),
                                     ("POST", "/v1.41/images/nginx/push"),
                                     ("GET", "/v1.41/plugins")],
        builtin_suffices=True),
    "watchtower": Consumer(
        calls=WATCHTOWER_CALLS, refused=WATCHTOWER_REFUSED, builtin_suffices=False,
        unredacted=WATCHTOWER_INSPECTS),
    "watchtower-labelled": Consumer(
        calls=WATCHTOWER_CALLS, refused=WATCHTOWER_REFUSED, builtin_suffices=False,
        unredacted=WATCHTOWER_INSPECTS,
        scoped=[("GET", f"/v1.25/containers/json?filters={RUNNING}"),
                ("GET", f"/v1.25/containers/{CONTAINER_ID}/json"),
                ("POST", f"/v1.25/containers/{CONTAINER_ID}/kill?signal=SIGTERM"),
                ("DELETE", f"/v1.25/containers/{CONTAINER_ID}?force=1&v=1"),
                ("POST", f"/v1.25/containers/{CONTAINER_ID}/start"),
                ("POST", f"/v1.25/containers/{CONTAINER_ID}/rename?name=watchtower-old")]),
    "uptime-kuma": Consumer(
        calls=[("GET", "/containers/uptime-kuma/json"),
               ("GET", "/containers/json?all=true")],
        refused=NEVER_FOR_READERS + [("GET", "/containers/uptime-kuma/logs"),
                                     ("GET", "/events"), ("GET", "/info")],
        builtin_suffices=True),
    "beszel": Consumer(
        calls=[("GET", "/version"),
               ("GET", "/containers/json"),
               ("GET", f"/containers/{CONTAINER_ID[:12]}/stats?stream=0&one-shot=1"),
               ("GET", f"/containers/{CONTAINER_ID}/json"),
               ("GET", f"/containers/{CONTAINER_ID}/logs?stdout=1&stderr=1&tail=200"),
               ("GET", "/images/nginx:latest/json"),
               ("GET", "/system/df?type=volume")],
        refused=NEVER_FOR_READERS + [("GET", f"/containers/{CONTAINER_ID[:12]}/stats"),
                                     ("GET", f"/containers/{CONTAINER_ID}/logs?follow=1"),
                                     ("GET", "/images/ghcr.io%2Facme%2Fweb:latest/json"),
                                     ("GET", "/info"), ("GET", "/events")],
        builtin_suffices=True),
    "autoheal": Consumer(
        calls=[("GET", "/containers/json?filters=%7B%22health%22%3A%5B%22unhealthy%22%5D%2C"
                       "%22label%22%3A%5B%22autoheal%3Dtrue%22%5D%7D"),
               ("POST", f"/containers/{CONTAINER_ID}/restart?t=10")],
        refused=NEVER_FOR_READERS + [("POST", f"/containers/{CONTAINER_ID}/stop"),
                                     ("POST", f"/containers/{CONTAINER_ID}/kill"),
                                     ("GET", f"/containers/{CONTAINER_ID}/json"),
                                     ("GET", "/events")],
        builtin_suffices=False,
        scoped=[("GET", "/containers/json?filters=%7B%22health%22%3A%5B%22unhealthy%22%5D%2C"
                        "%22label%22%3A%5B%22autoheal%3Dtrue%22%5D%7D"),
                ("POST", f"/containers/{CONTAINER_ID}/restart?t=10")],
        labels="autoheal=true"),
    "diun": Consumer(
        calls=[("GET", "/v1.47/version"),
               ("GET", f"/v1.47/containers/json?filters={RUNNING}"),
               ("GET", "/v1.47/images/crazymax/diun:latest/json"),
               ("GET", f"/v1.47/containers/{CONTAINER_ID}/json")],
        refused=NEVER_FOR_READERS + [("GET", f"/v1.47/containers/{CONTAINER_ID}/logs"),
                                     ("GET", "/v1.47/events"), ("GET", "/v1.47/info")],
        builtin_suffices=True),
    # wollomatic's Traefik example translated: what Traefik asks, nothing that leaks files.
    "wollomatic-traefik": Consumer(
        calls=TRAEFIK_CALLS + [("GET", "/v1.24/containers/web/logs")],
        refused=NEVER_FOR_READERS + [("GET", "/v1.24/containers/web/attach/ws"),
                                     ("GET", "/v1.24/images/json"), ("HEAD", "/v1.24/version")],
        builtin_suffices=True),
    # docs/policy.md: Traefik by its certificate's CN; the CI runner's rules are CERTIFICATES.
    "clients-by-certificate": Consumer(
        calls=TRAEFIK_CALLS,
        refused=NEVER_FOR_READERS + [("POST", "/v1.24/build")],
        builtin_suffices=True,
        client="tls:cn=traefik"),
    # docs/policy.md: runners under an owner rule, each seeing only its own containers.
    "owner-isolation": Consumer(
        calls=[("GET", "/v1.41/containers/json"), ("POST", "/v1.41/containers/create"),
               ("DELETE", "/v1.41/containers/x"), ("GET", "/v1.41/volumes"),
               ("POST", "/v1.41/networks/create"), ("POST", "/v1.41/networks/ci/connect"),
               ("DELETE", "/v1.41/volumes/cache"), ("POST", "/v1.41/containers/prune")],
        refused=[("GET", "/v1.41/images/json"), ("GET", "/v1.41/system/df"),
                 ("POST", "/v4.0.0/libpod/volumes/create")],
        builtin_suffices=False,
        client="tls:cn=runner-a",
        scoped=[("GET", "/v1.41/containers/json"), ("DELETE", "/v1.41/containers/x"),
                ("GET", "/v1.41/volumes"), ("POST", "/v1.41/networks/ci/connect"),
                ("DELETE", "/v1.41/volumes/cache"), ("POST", "/v1.41/containers/prune")],
        labels="socket-proxy.owner=tls:cn=runner-a"),
    # docs/policy.md: Homepage by its container's name; the rest of the page is CONTAINERS.
    "clients-by-container": Consumer(
        calls=[("GET", "/v1.24/containers/json"), ("GET", "/v1.24/_ping")],
        refused=NEVER_FOR_READERS,
        builtin_suffices=True,
        client="container:homepage"),
}

# docs/policy.md's clients-by-certificate: who gets which rule, by certificate and address.
CERTIFICATES = [
    ("tls:cn=ci,address=10.8.0.5", "POST", "/v1.45/build?t=app", True),
    ("tls:cn=ci,address=10.8.0.5", "GET", "/v1.45/version", True),
    ("tls:cn=ci,address=10.8.0.5", "GET", "/v1.45/containers/json", False),
    ("tls:cn=ci,address=192.0.2.7", "POST", "/v1.45/build?t=app", False),
    ("tls:cn=ci", "POST", "/v1.45/build?t=app", False),
    ("tls:cn=CI,address=10.8.0.5", "POST", "/v1.45/build?t=app", False),
    ("tls:cn=traefik,address=10.8.0.5", "POST", "/v1.45/build?t=app", False),
    ("tls:cn=Traefik", "GET", "/v1.45/containers/json", False),
    ("tls:san=traefik", "GET", "/v1.45/containers/json", False),
    ("tcp:10.8.0.5", "POST", "/v1.45/build?t=app", False),
    ("tcp:10.8.0.5", "GET", "/v1.45/containers/json", False),
    ("tcp:10.8.0.5", "GET", "/v1.45/version", False),
    ("unix:uid=0,gid=0", "GET", "/v1.45/containers/json", False),
]


def page_lines(path: Path, title: str) -> list:
    """The lines of one page below its title, which must be its first line."""
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines and lines[0] == title, f"{path.relative_to(REPO)} does not start with {title!r}"
    return lines[1:]


def doc_policies() -> dict:
    """NAME -> YAML text of every marked block; fails on an unmarked policy or a lost marker."""
    policies = {}
    for path, title in {**POLICY_DOCS, **MARKED_POLICY_DOCS}.items():
        every_policy_marked = path in POLICY_DOCS
        page = str(path.relative_to(REPO))
        lines = page_lines(path, title)
        index = 0
        while index < len(lines):
            line = lines[index]
            marker = MARKER.fullmatch(line.strip())
            if marker:
                assert index + 1 < len(lines) and lines[index + 1] == "```yaml", \
                    f"<!-- policy: {marker.group(1)} --> must be followed by a ```yaml fence"
            if line.startswith("```yaml"):
                end = lines.index("```", index + 1)
                block = "\n".join(lines[index + 1:end]) + "\n"
                previous = lines[index - 1].strip() if index else ""
                named = MARKER.fullmatch(previous)
                if named:
                    name = named.group(1)
                    assert name not in policies, f"two policies in docs/ are called {name}"
                    policies[name] = block
                elif every_policy_marked:
                    assert not re.search(r"^rules:", block, re.M), \
                        f"a policy in {page} has no <!-- policy: NAME --> marker:\n{block}"
                index = end
            index += 1
    return policies


@pytest.fixture(scope="module")
def policies() -> dict:
    return doc_policies()


@pytest.fixture(scope="module")
def policy_files(policies, tmp_path_factory) -> dict:
    directory = tmp_path_factory.mktemp("doc-policies")
    files = {}
    for name, text in policies.items():
        path = directory / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        files[name] = path
    return files


def run(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in clean_environment().items() if k not in SWITCHES}
    return subprocess.run([proxy_binary(), *args], env=env, capture_output=True, text=True,
                          timeout=30, stdin=subprocess.DEVNULL)


def explain(method: str, target: str, policy: Path | None,
            client: str | None = None) -> subprocess.CompletedProcess:
    return run("explain", method, target, *(("--policy", str(policy)) if policy else ()),
               *(("--client", client) if client else ()))


def assert_decision(method: str, target: str, policy: Path | None, allowed: bool,
                    client: str | None = None) -> str:
    result = explain(method, target, policy, client)
    expected = "allow" if allowed else "deny"
    assert result.returncode == (0 if allowed else 1) and \
        f"decision: {expected}\n" in result.stdout, \
        f"{policy.name if policy else 'built-in policy'}: {method} {target} " \
        f"from {client or 'a unix client'} should be {expected}ed:\n" \
        f"{result.stdout}{result.stderr}"
    return result.stdout


def test_every_doc_policy_is_tested_and_every_tested_one_is_there(policies):
    assert sorted(policies) == sorted(CONSUMERS), \
        "policy blocks in docs/ and this test's consumers differ: " \
        f"only in docs/ {sorted(set(policies) - set(CONSUMERS))}, " \
        f"only here {sorted(set(CONSUMERS) - set(policies))}"


@pytest.mark.parametrize("name", sorted(CONSUMERS))
def test_check_accepts_the_file(name, policy_files):
    result = run("check", "--policy", str(policy_files[name]))
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
    assert "default: deny" in result.stdout, result.stdout


@pytest.mark.parametrize("name", sorted(CONSUMERS))
def test_the_health_check_and_every_call_of_the_tool_are_allowed(name, policy_files):
    for method, target in HEALTH_CHECK:
        assert_decision(method, target, policy_files[name], allowed=True)
    for method, target in CONSUMERS[name].calls:
        assert_decision(method, target, policy_files[name], True, CONSUMERS[name].client)


@pytest.mark.parametrize("name", sorted(CONSUMERS))
def test_what_the_tool_must_not_get_is_refused(name, policy_files):
    for method, target in CONSUMERS[name].refused:
        assert_decision(method, target, policy_files[name], False, CONSUMERS[name].client)


# docs/policy.md's clients-by-container: who gets which rule, by container name, label, service.
CONTAINERS = [
    ("container:homepage", "GET", "/v1.45/containers/json", True),
    ("container:homepage,address=172.18.0.5", "GET", "/v1.45/containers/json", True),
    ("container:homepage", "GET", "/v1.45/info", False),
    ("container:homepage2", "GET", "/v1.45/containers/json", False),
    ("unix:uid=0", "GET", "/v1.45/containers/json", False),
    ("tcp:172.18.0.5", "GET", "/v1.45/containers/json", False),
    ("container:proxy,label=traefik.role=edge", "GET", "/v1.45/info", True),
    ("container:proxy,label=traefik.role=edge", "POST", "/v1.45/containers/x/stop", False),
    ("container:proxy,label=traefik.role=core", "GET", "/v1.45/info", False),
    ("container:ops-deployer-1,service=deployer,project=ops", "POST", "/v1.45/containers/web/restart", True),
    ("container:x-deployer-1,service=deployer,project=x", "POST", "/v1.45/containers/web/restart", False),
    ("container:ops-deployer-1,service=deployer,project=ops", "POST", "/v1.45/containers/web/stop", False),
]


@pytest.mark.parametrize("client,method,target,allowed", CONTAINERS)
def test_containers_choose_the_rules(client, method, target, allowed, policy_files):
    assert_decision(method, target, policy_files["clients-by-container"], allowed, client)


@pytest.mark.parametrize("client,method,target,allowed", CERTIFICATES)
def test_certificates_choose_the_rules(client, method, target, allowed, policy_files):
    assert_decision(method, target, policy_files["clients-by-certificate"], allowed, client)


@pytest.mark.parametrize("name", sorted(CONSUMERS))
def test_secrets_pass_through_only_where_the_readme_says(name, policy_files):
    consumer = CONSUMERS[name]
    for method, target in consumer.calls:
        out = assert_decision(method, target, policy_files[name], True, consumer.client)
        if target.split("?")[0] in consumer.unredacted:
            assert "secrets in the answer: passed through\n" in out, out
        else:
            assert "passed through" not in out, out


@pytest.mark.parametrize("name", sorted(CONSUMERS))
def test_label_scoping_covers_the_container_routes(name, policy_files):
    consumer = CONSUMERS[name]
    for method, target in consumer.calls:
        out = assert_decision(method, target, policy_files[name], True, consumer.client)
        if (method, target) in consumer.scoped:
            assert "visible containers" in out and f": labelled {consumer.labels}\n" in out, out
        else:
            assert "visible containers" not in out, out


def test_an_owner_rule_stamps_the_clients_creates(policy_files):
    out = assert_decision("POST", "/v1.41/containers/create", policy_files["owner-isolation"], True,
                          "tls:cn=runner-b")
    assert "owner: the body's Labels get socket-proxy.owner=tls:cn=runner-b," in out, out
    assert_decision("POST", "/v1.41/containers/create", policy_files["owner-isolation"], False,
                    "tls:cn=runner-c")


@pytest.mark.parametrize("name", sorted(CONSUMERS))
def test_the_readme_is_right_about_the_built_in_policy(name):
    consumer = CONSUMERS[name]
    if consumer.builtin_suffices:
        for method, target in consumer.calls:
            assert_decision(method, target, None, allowed=True)
    else:
        writes = [(m, t) for m, t in consumer.calls if m not in ("GET", "HEAD")]
        assert writes, "a consumer that needs write rules makes writes"
        for method, target in writes:
            assert_decision(method, target, None, allowed=False)
