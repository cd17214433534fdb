"""Named listeners (SOCKET_PROXY_LISTEN, --listen): one socket per tool, rules by listener.

The proxy serves several unix sockets and TCP ports; a rule's `clients: [{listener: NAME}]`
selects the clients of one. Requests go to the real engine; the container tests run busybox
with the host's curl mounted read-only, and mount only their own socket's directory.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import stat
import subprocess
from pathlib import Path

import pytest

from proxytest import (DOCKER_SOCKET, REPO, TEST_IMAGE, assert_json_error, clean_environment,
                       docker, free_tcp_port, http, is_root, make_workdir, proxy_binary,
                       random_suffix, write_policy)

needs_root = pytest.mark.skipif(not is_root(), reason="needs root (privilege drop, chown)")

# The socket owner: the default SOCKET_PROXY_UID:GID when started as root, else whoever we are.
OWNER = (1000, 1000) if is_root() else (os.getuid(), os.getgid())

POLICY = """
default: deny
rules:
  - {name: ping, methods: [GET, HEAD], path: /_ping, action: allow}
  - {name: alpha-version, methods: GET, path: /version, clients: {listener: alpha}, action: allow}
  - {name: beta-info, methods: GET, path: /info, clients: [{listener: beta}], action: allow}
  - name: api-containers
    methods: GET
    path: /containers/json
    clients: {listener: api, cidr: 127.0.0.0/8}
    action: allow
"""


def sockets(workdir: Path) -> dict:
    return {name: str(workdir / name / "docker.sock") for name in ("alpha", "beta")}


@pytest.fixture
def listeners(proxy_factory):
    """A proxy with two named unix sockets (their directories not made yet) and a named TCP port."""
    workdir, volume = make_workdir()
    paths = sockets(workdir)
    api_port = free_tcp_port()
    policy = write_policy(workdir, POLICY)
    proxy = proxy_factory("--policy", policy,
                          "--listen", f"alpha=unix:{paths['alpha']}",
                          "--listen", f"beta=unix:{paths['beta']},api=tcp:127.0.0.1:{api_port}",
                          workdir=workdir, volume=volume)
    proxy.paths = paths
    proxy.api_address = ("127.0.0.1", api_port)
    return proxy


def test_the_same_request_gets_each_listeners_rules(listeners):
    alpha, beta = listeners.paths["alpha"], listeners.paths["beta"]
    version = http(alpha, "GET", "/v1.41/version")
    assert version.status == 200 and "ApiVersion" in version.json(), version
    assert_json_error(http(beta, "GET", "/v1.41/version"), 403, "no rule")
    assert_json_error(http(listeners.unix_path, "GET", "/v1.41/version"), 403)

    info = http(beta, "GET", "/v1.41/info")
    assert info.status == 200 and "Containers" in info.json(), info
    assert_json_error(http(alpha, "GET", "/v1.41/info"), 403)
    assert_json_error(http(listeners.address("tcp"), "GET", "/v1.41/info"), 403)

    # The request log names the listener a denied request came through.
    line = listeners.wait_for_log(lambda l: "path=/v1.41/version" in l and "listener=beta" in l)
    assert line and "decision=deny" in line, listeners.log


def test_a_named_tcp_listener_has_its_own_rules(listeners):
    listed = http(listeners.api_address, "GET", "/v1.41/containers/json")
    assert listed.status == 200 and isinstance(listed.json(), list), listed
    # The default TCP port is another listener: same address, other rules.
    assert_json_error(http(listeners.address("tcp"), "GET", "/v1.41/containers/json"), 403)
    assert_json_error(http(listeners.api_address, "GET", "/v1.41/version"), 403)
    line = listeners.wait_for_log(lambda l: "path=/v1.41/version" in l and ",listener=api" in l)
    assert line and 'client="127.0.0.1:' in line, listeners.log


def test_named_sockets_are_made_like_the_default_one(listeners):
    for path in [listeners.unix_path, *listeners.paths.values()]:
        info = os.stat(path)
        assert stat.S_ISSOCK(info.st_mode), path
        assert stat.S_IMODE(info.st_mode) == 0o660, (path, oct(info.st_mode))
        assert (info.st_uid, info.st_gid) == OWNER, path
    # Their directories did not exist: created, and given to the proxy's user, who must be able
    # to remove the socket at exit.
    for path in listeners.paths.values():
        assert os.stat(Path(path).parent).st_uid == OWNER[0], path
    listening = listeners.wait_for_log(lambda l: " listening " in l)
    assert f"alpha=unix:{listeners.paths['alpha']}" in listening, listening
    assert f"api=tcp:127.0.0.1:{listeners.api_address[1]}" in listening, listening

    assert listeners.stop() == 0
    for path in listeners.paths.values():
        assert not os.path.lexists(path), f"{path} is left after exit"


def test_a_stale_named_socket_is_replaced(proxy_factory):
    workdir, volume = make_workdir()
    path = workdir / "tool" / "docker.sock"
    path.parent.mkdir()
    subprocess.run(["python3", "-c", f"import socket; socket.socket(socket.AF_UNIX).bind({str(path)!r})"],
                   check=True)
    proxy = proxy_factory("--listen", f"tool=unix:{path}", workdir=workdir, volume=volume)
    assert http(str(path), "GET", "/_ping").status == 200


def run_with_curl(directory: str, target: str, user: str) -> subprocess.CompletedProcess:
    """busybox, with the host's curl and its libraries read-only, and one socket directory."""
    mounts = ["-v", f"{directory}:/var/run:ro", "-v", "/usr/bin/curl:/usr/bin/curl:ro"]
    for libraries in ("/usr/lib", "/lib", "/lib64"):
        if os.path.isdir(libraries):  # /lib may be a link to /usr/lib: mount what it points to
            mounts += ["-v", f"{os.path.realpath(libraries)}:{libraries}:ro"]
    return docker("run", "--rm", "--network", "none", "--user", user,
                  "--name", f"spt-listener-{random_suffix()}", *mounts, TEST_IMAGE,
                  "/usr/bin/curl", "-sS", "--unix-socket", "/var/run/docker.sock",
                  f"http://docker{target}", timeout=120)


@pytest.mark.skipif(not shutil.which("curl"), reason="needs the host's curl")
def test_a_container_with_only_its_own_socket_gets_its_rules(listeners):
    user = f"{OWNER[0]}:{OWNER[1]}"
    alpha_directory = str(Path(listeners.paths["alpha"]).parent)
    beta_directory = str(Path(listeners.paths["beta"]).parent)

    version = run_with_curl(alpha_directory, "/v1.41/version", user)
    assert version.returncode == 0 and '"ApiVersion"' in version.stdout, version
    refused = run_with_curl(alpha_directory, "/v1.41/info", user)
    assert '"message":"socket-proxy denied GET /v1.41/info' in refused.stdout, refused

    info = run_with_curl(beta_directory, "/v1.41/info", user)
    assert '"Containers"' in info.stdout, info
    refused = run_with_curl(beta_directory, "/v1.41/version", user)
    assert "socket-proxy denied" in refused.stdout, refused


def start_failure(*args: str) -> subprocess.CompletedProcess:
    workdir, volume = make_workdir()
    try:
        return subprocess.run(
            [proxy_binary(), "--volume", str(volume), "--docker-socket", DOCKER_SOCKET,
             "--tcp", "off", *args], capture_output=True, text=True, timeout=15,
            env=clean_environment())
    finally:
        assert not os.path.lexists(volume / "docker.sock"), "it listened before failing"
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.parametrize("value,mention", [
    ("traefik", "NAME=unix:PATH or NAME=tcp:ADDR:PORT"),
    ("Traefik=unix:/tmp/x.sock", "a-z, 0-9"),
    ("default=unix:/tmp/x.sock", "name of a default listener"),
    ("a=unix:tmp/x.sock", "absolute socket path"),
    ("a=tcp:localhost:2380", "numeric"),
    ("a=unix:/tmp/x.sock,a=unix:/tmp/y.sock", "given twice"),
    (f"a=unix:{DOCKER_SOCKET}", "Docker daemon's socket"),
])
def test_bad_values_stop_the_proxy_with_one_line(value, mention):
    result = start_failure("--listen", value)
    assert result.returncode != 0, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and mention in lines[0], lines


def test_a_socket_that_cannot_be_made_stops_the_proxy_with_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = start_failure("--listen", f"tool=unix:{blocker}/docker.sock")
    assert result.returncode == 1, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "listener tool" in lines[0], lines


def test_a_rule_for_a_listener_that_is_not_configured_stops_the_proxy(tmp_path):
    policy = write_policy(tmp_path, POLICY)
    result = start_failure("--policy", policy, "--listen", "alpha=unix:/tmp/never/a.sock")
    assert result.returncode == 1, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "rule beta-info selects listener beta, which is not configured" in lines[0], lines


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([proxy_binary(), *args], capture_output=True, text=True, timeout=15,
                          env=clean_environment())


def test_check_and_explain_know_the_listeners(tmp_path):
    policy = write_policy(tmp_path, POLICY)
    configured = ["--policy", policy, "--listen", "alpha=unix:/run/a/docker.sock",
                  "--listen", "beta=unix:/run/b/docker.sock", "--listen", "api=tcp:127.0.0.1:2380"]
    check = cli("check", *configured)
    assert check.returncode == 0, check.stderr
    assert "alpha-version: allow GET /version clients listener=alpha" in check.stdout, check.stdout
    assert re.search(r"alpha unix:/run/a/docker.sock \(rule 2\)", check.stdout), check.stdout
    assert re.search(r"api tcp:127.0.0.1:2380 \(rule 4\)", check.stdout), check.stdout

    allowed = cli("explain", "GET", "/version", "--client", "listener:alpha", *configured)
    assert allowed.returncode == 0 and "rule: alpha-version" in allowed.stdout, allowed
    denied = cli("explain", "GET", "/version", "--client", "unix:uid=0,listener=beta", *configured)
    assert denied.returncode == 1 and "rule: default" in denied.stdout, denied
    tcp = cli("explain", "GET", "/containers/json", "--client", "tcp:127.0.0.1,listener=api",
              *configured)
    assert tcp.returncode == 0 and "rule: api-containers" in tcp.stdout, tcp
    other = cli("explain", "GET", "/containers/json", "--client", "tcp:127.0.0.1", *configured)
    assert other.returncode == 1, other
    unknown = cli("explain", "GET", "/version", "--client", "listener:gamma", *configured)
    assert unknown.returncode == 2 and "listener gamma is not configured" in unknown.stderr

    missing = cli("check", "--policy", policy)
    assert missing.returncode == 2 and "selects listener alpha" in missing.stderr, missing


# --------------------------------------------------------------------------- the documented example

EXAMPLE = REPO / "examples" / "several-tools"


def example_listen_value() -> str:
    """SOCKET_PROXY_LISTEN as compose.yaml sets it (a folded block: items on lines of their own)."""
    text = (EXAMPLE / "compose.yaml").read_text()
    found = re.search(r"SOCKET_PROXY_LISTEN: >-\n((?: {8}\S+\n)+)", text)
    assert found, "compose.yaml sets no SOCKET_PROXY_LISTEN block"
    return " ".join(found.group(1).split())


def test_the_example_policy_loads_with_the_example_listeners():
    env = clean_environment()
    env["SOCKET_PROXY_LISTEN"] = example_listen_value()
    result = subprocess.run([proxy_binary(), "check", "--policy", str(EXAMPLE / "policy.yaml")],
                            capture_output=True, text=True, timeout=15, env=env)
    assert result.returncode == 0, result.stderr
    for tool in ("traefik", "homepage", "dozzle", "watchtower"):
        assert re.search(rf"^\s+{tool} unix:/run/proxy-{tool}/docker.sock \(rules ", result.stdout,
                         re.M), result.stdout

    def explain(tool: str, method: str, target: str) -> int:
        return subprocess.run([proxy_binary(), "explain", method, target, "--client",
                               f"listener:{tool}", "--policy", str(EXAMPLE / "policy.yaml")],
                              capture_output=True, text=True, timeout=15, env=env).returncode

    assert explain("traefik", "GET", "/v1.45/events") == 0
    assert explain("homepage", "GET", "/v1.45/events") == 1
    assert explain("dozzle", "GET", "/v1.45/containers/abc/logs?follow=1") == 0
    assert explain("traefik", "GET", "/v1.45/containers/abc/logs") == 1
    assert explain("watchtower", "POST", "/v1.45/containers/abc/kill") == 0
    assert explain("dozzle", "POST", "/v1.45/containers/abc/kill") == 1


@pytest.mark.skipif(not shutil.which("docker-compose"), reason="needs docker-compose")
def test_the_example_compose_file_is_valid_and_mounts_one_socket_per_tool():
    result = subprocess.run(["docker-compose", "-f", str(EXAMPLE / "compose.yaml"), "config"],
                            capture_output=True, text=True, timeout=60, env=clean_environment())
    assert result.returncode == 0, result.stderr
    for tool in ("traefik", "homepage", "dozzle", "watchtower"):
        found = re.search(rf"^  {tool}:\n((?:   .*\n)+)", result.stdout, re.M)
        assert found, result.stdout
        service = found.group(1)
        assert f"source: proxy-{tool}" in service or f"proxy-{tool}:" in service, service
        others = {"traefik", "homepage", "dozzle", "watchtower"} - {tool}
        assert not any(f"proxy-{other}" in service for other in others), service


def test_the_page_shows_the_example_files_as_they_are():
    page = (REPO / "docs" / "several-tools.md").read_text()
    blocks = re.findall(r"^```yaml\n(.*?)^```$", page, re.M | re.S)
    assert (EXAMPLE / "compose.yaml").read_text() in blocks
    assert (EXAMPLE / "policy.yaml").read_text() in blocks


def test_allow_from_applies_to_named_tcp_listeners(proxy_factory):
    port = free_tcp_port()
    proxy = proxy_factory("--listen", f"api=tcp:127.0.0.1:{port}", "--allow-from", "10.0.0.0/8")
    assert_json_error(http(("127.0.0.1", port), "GET", "/_ping"), 403, "SOCKET_PROXY_ALLOW_FROM")
    assert http(proxy.unix_path, "GET", "/_ping").status == 200


@pytest.mark.skipif(not shutil.which("curl"), reason="needs curl")
def test_tls_serves_every_tcp_listener_and_rules_combine_listener_and_certificate(proxy_factory):
    """SOCKET_PROXY_TCP off, TLS on a named port; a rule for one client on that port only."""
    workdir, volume = make_workdir()
    pki = workdir / "pki"
    made = subprocess.run([proxy_binary(), "certs", str(pki), "--host", "127.0.0.1",
                           "--client", "ci,other"], capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    for path in pki.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)  # read by uid 1000 after the drop
    policy = write_policy(workdir, """
rules:
  - {name: ping, methods: [GET, HEAD], path: /_ping, action: allow}
  - {name: ci-version, methods: GET, path: /version, clients: {listener: api, cert_cn: ci}, action: allow}
""")
    port = free_tcp_port()
    server = pki / "server"
    proxy_factory("--policy", policy, "--listen", f"api=tcp:127.0.0.1:{port}",
                  "--tls-cert", str(server / "cert.pem"), "--tls-key", str(server / "key.pem"),
                  "--tls-ca", str(server / "ca.pem"), tcp=False, workdir=workdir, volume=volume)

    def curl(client: str) -> subprocess.CompletedProcess:
        bundle = pki / "clients" / client
        return subprocess.run(["curl", "-sS", "--cacert", str(bundle / "ca.pem"), "--cert",
                               str(bundle / "cert.pem"), "--key", str(bundle / "key.pem"),
                               f"https://127.0.0.1:{port}/v1.41/version"],
                              capture_output=True, text=True, timeout=30)

    allowed = curl("ci")
    assert allowed.returncode == 0 and '"ApiVersion"' in allowed.stdout, allowed
    refused = curl("other")
    assert "socket-proxy denied GET /v1.41/version" in refused.stdout, refused
    plain = subprocess.run(["curl", "-sS", f"http://127.0.0.1:{port}/_ping"],
                           capture_output=True, text=True, timeout=30)
    assert plain.stdout != "OK", plain


def test_a_busy_port_stops_the_proxy_with_one_line():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = start_failure("--listen", f"api=tcp:127.0.0.1:{port}")
    assert result.returncode == 1, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert f"cannot listen on TCP 127.0.0.1:{port}" in lines[0], lines
    assert "give it a free address:port in SOCKET_PROXY_LISTEN (listener api)" in lines[0], lines
