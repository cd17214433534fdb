"""Rules by the calling container (issue 22), against the real engine: containers started by the
test call the proxy over its unix socket (their process's cgroup names them) and over TCP on a
Docker network the test creates (their address names them)."""

from __future__ import annotations

import random
import subprocess
import time

import pytest

from proxytest import TEST_IMAGE, TEST_LABEL, docker, random_suffix, write_policy

# The host's curl and the libraries it needs, read-only, in a busybox container.
HOST_TOOLS = ["-v", "/usr:/usr:ro", "-v", "/lib:/lib:ro", "-v", "/lib64:/lib64:ro"]

POLICY = """
rules:
  - name: reader-by-name
    methods: GET
    path: /containers/json
    clients: {container: NAME}
    action: allow
  - name: reader-by-label
    methods: GET
    path: /info
    clients: {container_label: spt.role=reader}
    action: allow
  - name: compose-web
    methods: GET
    path: /version
    clients: {compose_service: web, compose_project: PROJECT}
    action: allow
"""


def curl_status(args: list) -> str:
    """Runs curl in a fresh container and returns the HTTP status it printed."""
    result = docker("run", "--rm", "--label", f"{TEST_LABEL}=caller", *HOST_TOOLS, *args,
                    timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture
def names():
    suffix = random_suffix()
    yield {"reader": f"spt-caller-reader-{suffix}", "other": f"spt-caller-other-{suffix}",
           "project": f"sptshop{suffix}", "suffix": suffix}
    docker("ps", "-aq", "--filter", f"name=spt-caller-.*{suffix}")  # containers are --rm


@pytest.fixture
def caller_policy(policy_dir, names):
    text = POLICY.replace("NAME", names["reader"]).replace("PROJECT", names["project"])
    return write_policy(policy_dir, text)


def test_unix_callers_are_told_apart_by_their_container(proxy_factory, caller_policy, names):
    proxy = proxy_factory("--policy", caller_policy)
    socket_dir = str(proxy.volume)

    def call(name: str, path: str, *extra: str) -> str:
        return curl_status(["--name", name, "--network", "none", "-v", f"{socket_dir}:/run/proxy",
                            *extra, TEST_IMAGE, "/usr/bin/curl", "-s", "-o", "/dev/null",
                            "-w", "%{http_code}", "--unix-socket", "/run/proxy/docker.sock",
                            f"http://docker/v1.41{path}"])

    # Its first request, right after it started: known by name.
    assert call(names["reader"], "/containers/json") == "200"
    assert call(names["other"], "/containers/json") == "403"
    assert call(names["other"] + "-l", "/info", "--label", "spt.role=reader") == "200"
    assert call(names["other"] + "-m", "/info", "--label", "spt.role=writer") == "403"
    assert call(names["other"] + "-c", "/version",
                "--label", "com.docker.compose.service=web",
                "--label", f"com.docker.compose.project={names['project']}") == "200"
    assert call(names["other"] + "-d", "/version",
                "--label", "com.docker.compose.service=db",
                "--label", f"com.docker.compose.project={names['project']}") == "403"
    # The host itself is no container: no container rule is for it.
    from proxytest import http
    assert http(proxy.unix_path, "GET", "/v1.41/containers/json").status == 403
    # The request log names the container of each denied caller.
    log = proxy.log
    assert f"container={names['other']}\" method=GET path=/v1.41/containers/json" in log, log


@pytest.fixture
def test_network():
    """A Docker network of the test's own, with a subnet it chose, so that it can pin addresses."""
    for _ in range(10):
        octet = random.randint(1, 250)
        subnet = f"10.213.{octet}.0/24"
        name = f"spt-caller-net-{random_suffix()}"
        result = docker("network", "create", "--subnet", subnet, "--label", f"{TEST_LABEL}=caller",
                        name)
        if result.returncode == 0:
            break
    else:
        pytest.fail(f"could not create a test network: {result.stderr}")
    yield {"name": name, "prefix": f"10.213.{octet}.", "gateway": f"10.213.{octet}.1"}
    docker("network", "rm", name)


def test_tcp_callers_are_known_by_their_address_and_a_reused_address_by_its_new_owner(
        proxy_factory, caller_policy, names, test_network):
    port = random.randint(20000, 29000)
    proxy = proxy_factory("--policy", caller_policy, tcp=f"{test_network['gateway']}:{port}")
    proxy.wait_for_log(lambda log: '"listening"' in log)
    pinned = test_network["prefix"] + "77"
    url = f"http://{test_network['gateway']}:{port}/v1.41"

    def call(name: str, path: str, *extra: str) -> str:
        return curl_status(["--name", name, "--network", test_network["name"], "--ip", pinned,
                            *extra, TEST_IMAGE, "/usr/bin/curl", "-s", "-o", "/dev/null",
                            "-w", "%{http_code}", "--max-time", "20", url + path])

    # The reader's first request right after `docker run`: recognised.
    assert call(names["reader"], "/containers/json") == "200"
    # Its address, now another container's: that one's rules, not the reader's.
    assert call(names["other"], "/containers/json") == "403"
    assert call(names["other"] + "-l", "/info", "--label", "spt.role=reader") == "200"
    # And back: the reader's name on the same address again.
    assert call(names["reader"], "/containers/json") == "200"


def test_a_long_lived_caller_loses_its_rules_when_its_address_moves(
        proxy_factory, caller_policy, names, test_network):
    """A kept-alive caller stays itself; a new caller on a dead one's address is the new one,
    whatever the cache last saw."""
    port = random.randint(20000, 29000)
    proxy = proxy_factory("--policy", caller_policy, tcp=f"{test_network['gateway']}:{port}")
    proxy.wait_for_log(lambda log: '"listening"' in log)
    pinned = test_network["prefix"] + "88"
    url = f"http://{test_network['gateway']}:{port}/v1.41/info"
    reader = names["reader"]
    docker("run", "-d", "--name", reader, "--label", f"{TEST_LABEL}=caller",
           "--label", "spt.role=reader", "--network", test_network["name"], "--ip", pinned,
           *HOST_TOOLS, TEST_IMAGE, "sleep", "300", check=True)
    try:
        result = docker("exec", reader, "/usr/bin/curl", "-s", "-o", "/dev/null", "-w",
                        "%{http_code}", url)
        assert result.stdout.strip() == "200", result
    finally:
        docker("rm", "-f", reader)
    # Removed: a container without the label takes the address at once.
    status = curl_status(["--name", names["other"], "--network", test_network["name"],
                          "--ip", pinned, TEST_IMAGE, "/usr/bin/curl", "-s", "-o", "/dev/null",
                          "-w", "%{http_code}", url])
    assert status == "403"


def test_explain_and_check_take_container_clients(caller_policy, names):
    from proxytest import proxy_binary, clean_environment
    def run(*args):
        return subprocess.run([proxy_binary(), *args, "--policy", caller_policy],
                              capture_output=True, text=True, env=clean_environment(), timeout=30)
    allowed = run("explain", "GET", "/v1.41/containers/json", "--client",
                  f"container:{names['reader']}")
    assert allowed.returncode == 0 and "reader-by-name" in allowed.stdout, allowed
    denied = run("explain", "GET", "/v1.41/containers/json", "--client", "container:someone")
    assert denied.returncode == 1, denied
    composed = run("explain", "GET", "/v1.41/version", "--client",
                   f"container:x,service=web,project={names['project']},address=10.0.0.3")
    assert composed.returncode == 0 and "compose-web" in composed.stdout, composed
    labelled = run("explain", "GET", "/v1.41/info", "--client", "container:x,label=spt.role=reader")
    assert labelled.returncode == 0, labelled
    bad = run("explain", "GET", "/v1.41/info", "--client", "container:")
    assert bad.returncode == 2 and "container:NAME" in bad.stderr, bad
    check = run("check")
    assert f"container={names['reader']}" in check.stdout, check
    assert "container_label=spt.role=reader" in check.stdout, check
