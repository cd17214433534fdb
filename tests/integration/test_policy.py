"""Policies users shape (issue 4), against the real engine: policy files, Tecnativa-style
switches, rules by client identity, SOCKET_PROXY_ALLOW_FROM, `check` and `explain`, and a
SIGHUP reload under a live stream."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from image_helpers import request_as
from proxytest import (DOCKER_SOCKET, REPO, TEST_IMAGE, HttpConnection, assert_json_error,
                       build_request, clean_environment, docker, docker_cli, docker_environment,
                       http, is_root, proxy_binary, random_suffix, start_proxy, write_policy)

needs_root = pytest.mark.skipif(not is_root(), reason="clients of two uids need root")

LOGS_ONLY = """
rules:
  - name: ping
    methods: [GET, HEAD]
    path: /_ping
    action: allow
  - name: logs-not-following
    methods: GET
    path: /containers/{id...}/logs
    query: {follow: [~, "0", "false"]}
    action: allow
  - name: nothing-else
    action: deny
    reason: this proxy only serves ping and finished logs
"""


def run_binary(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    process_env = clean_environment()
    process_env.update(env or {})
    return subprocess.run([proxy_binary(), *args], env=process_env, capture_output=True,
                          text=True, timeout=30, stdin=subprocess.DEVNULL)


# --------------------------------------------------------------------------- policy files


def test_policy_file_decides(proxy_factory, policy_dir, ticker):
    policy = write_policy(policy_dir, LOGS_ONLY)
    proxy = proxy_factory("--policy", policy)
    response = http(proxy.unix_path, "GET", f"/v1.41/containers/{ticker.name}/logs?stdout=1&tail=1")
    assert response.status == 200, response
    response = http(proxy.unix_path, "GET",
                    f"/v1.41/containers/{ticker.name}/logs?stdout=1&follow=1")
    assert_json_error(response, 403, "only serves ping and finished logs", "(rule nothing-else)")
    response = http(proxy.unix_path, "GET", "/v1.41/containers/json")
    assert_json_error(response, 403, "(rule nothing-else)")
    result = docker("ps", host=proxy.docker_host())
    assert result.returncode != 0 and "rule nothing-else" in result.stderr, result.stderr
    assert proxy.wait_for_log(lambda line: f"policy={policy}" in line), proxy.log


def test_the_shipped_example_behaves_like_the_built_in_policy(proxy_factory, ticker):
    proxy = proxy_factory("--policy", str(REPO / "examples" / "read-only.yaml"))
    assert http(proxy.unix_path, "GET", "/v1.41/containers/json").status == 200
    response = http(proxy.unix_path, "GET", f"/v1.41/containers/{ticker.name}/%65xport")
    assert_json_error(response, 403, "(rule deny-container-export)")
    assert_json_error(http(proxy.unix_path, "POST", "/v1.41/containers/create"), 403,
                      "(rule read-only-methods)")


def test_a_bad_policy_stops_the_proxy_naming_line_rule_and_field(policy_dir):
    policy = write_policy(policy_dir, "rules:\n  - name: ok\n    action: allow\n"
                                    "  - name: broken\n    methods: [get]\n    action: allow\n")
    proxy = start_proxy("--policy", policy, wait=False)
    try:
        returncode = proxy.proc.wait(timeout=10)
        proxy.stop()
        assert returncode == 1
        lines = proxy.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert "line 5" in lines[0] and "rule 2 (broken)" in lines[0] and '"methods"' in lines[0], \
            lines
        assert not Path(proxy.unix_path).exists(), "a proxy with a bad policy must not listen"
    finally:
        proxy.stop()
        shutil.rmtree(proxy.workdir, ignore_errors=True)


def test_check_prints_the_effective_rules(policy_dir):
    result = run_binary("check")
    assert result.returncode == 0, result.stderr
    assert "built-in read-only" in result.stdout
    assert "deny-container-export: deny GET,HEAD /containers/{id...}/export" in result.stdout
    policy = write_policy(policy_dir, LOGS_ONLY)
    result = run_binary("check", "--policy", policy)
    assert result.returncode == 0, result.stderr
    assert "logs-not-following: allow GET /containers/{id...}/logs query follow=(absent|0|false)" \
        in result.stdout, result.stdout
    bad = write_policy(policy_dir, "rules:\n  - {name: x, action: maybe}\n", "bad.yaml")
    result = run_binary("check", "--policy", bad)
    assert result.returncode == 2 and '"action"' in result.stderr and result.stdout == ""


def test_a_policy_without_ping_warns_that_the_health_check_will_fail(proxy_factory, policy_dir):
    no_ping = write_policy(policy_dir, "rules:\n  - {name: info, methods: GET, path: /info, "
                           "action: allow}\n", "no-ping.yaml")
    result = run_binary("check", "--policy", no_ping)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("\n") == 1 and "warning" in result.stderr and \
        "GET /_ping" in result.stderr and "healthcheck" in result.stderr, result.stderr
    assert run_binary("check", "--policy", write_policy(policy_dir, LOGS_ONLY)).stderr == ""
    proxy = proxy_factory("--policy", no_ping)
    assert proxy.wait_for_log(lambda line: "warning policy" in line and "/_ping" in line), \
        proxy.log
    health = run_binary("healthcheck", "--volume", str(proxy.volume))
    assert health.returncode == 1 and "403" in health.stderr and \
        "allowing GET /_ping" in health.stderr, health.stderr


def test_explain_gives_the_live_decision(proxy_factory, policy_dir, ticker):
    policy = write_policy(policy_dir, LOGS_ONLY)
    cases = [
        ("GET", f"/v1.41/containers/{ticker.name}/logs?stdout=1&tail=1&follow=0", 0,
         "logs-not-following"),
        ("GET", f"/v1.41/containers/{ticker.name}/logs?stdout=1&follow=1", 1, "nothing-else"),
        ("GET", "/v1.41/containers/json", 1, "nothing-else"),
        ("HEAD", "/_ping", 0, "ping"),
    ]
    proxy = proxy_factory("--policy", policy)
    for method, target, expected_exit, rule in cases:
        explained = run_binary("explain", method, target, "--policy", policy)
        assert explained.returncode == expected_exit, explained
        assert f"rule: {rule}\n" in explained.stdout, explained.stdout
        # The running proxy decides the same.
        live = http(proxy.unix_path, method, target)
        assert (live.status < 400) == (expected_exit == 0), (target, live)


FINGERPRINT = "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b"
# As openssl x509 -fingerprint -sha256 prints it: the file may say it either way.
FINGERPRINT_WITH_COLONS = ":".join(FINGERPRINT[i:i + 2].upper() for i in range(0, 64, 2))
BY_CERTIFICATE = f"""
rules:
  - {{name: ping, methods: [GET, HEAD], path: /_ping, action: allow}}
  - name: traefik-reads
    methods: [GET, HEAD]
    clients: {{cert_cn: traefik}}
    action: allow
  - name: ci-builds
    methods: POST
    path: /build
    clients:
      - {{cert_san: "spiffe://example.org/ci", cidr: 10.8.0.0/16}}
      - {{cert_sha256: "{FINGERPRINT_WITH_COLONS}"}}
    action: allow
  - {{name: nothing-else, action: deny, reason: this proxy serves named TLS clients only}}
"""


def test_check_lists_certificate_selectors(policy_dir):
    result = run_binary("check", "--policy", write_policy(policy_dir, BY_CERTIFICATE))
    assert result.returncode == 0 and result.stderr == "", result
    assert "traefik-reads: allow GET,HEAD any path clients cert_cn=traefik\n" in result.stdout, \
        result.stdout
    assert ("ci-builds: allow POST /build clients 10.8.0.0/16+cert_san=spiffe://example.org/ci "
            f"or cert_sha256={FINGERPRINT}\n") in result.stdout, result.stdout


def test_explain_decides_by_the_client_certificate(policy_dir):
    policy = write_policy(policy_dir, BY_CERTIFICATE)
    cases = [
        ("tls:cn=traefik", "GET", "/v1.45/containers/json", "traefik-reads"),
        ("tls:cn=traefik,address=10.8.0.1", "HEAD", "/v1.45/info", "traefik-reads"),
        # The CN compares exactly; no certificate, no name.
        ("tls:cn=Traefik", "GET", "/v1.45/containers/json", "nothing-else"),
        ("tcp:10.0.0.1", "GET", "/v1.45/containers/json", "nothing-else"),
        ("unix:uid=0,gid=0", "GET", "/v1.45/containers/json", "nothing-else"),
        ("tls:cn=traefik", "POST", "/v1.45/build", "nothing-else"),
        ("tls:cn=ci,san=spiffe://example.org/ci,address=10.8.3.4", "POST", "/v1.45/build",
         "ci-builds"),
        ("tls:cn=ci,san=spiffe://example.org/ci,address=10.9.3.4", "POST", "/v1.45/build",
         "nothing-else"),
        ("tls:cn=ci,san=spiffe://example.org/CI,address=10.8.3.4", "POST", "/v1.45/build",
         "nothing-else"),
        ("tcp:10.8.3.4", "POST", "/v1.45/build", "nothing-else"),
        (f"tls:sha256={FINGERPRINT.upper()}", "POST", "/v1.45/build", "ci-builds"),
        (f"tls:cn=other,sha256={FINGERPRINT}", "POST", "/v1.45/build", "ci-builds"),
        ("tls:sha256=" + "0" * 64, "POST", "/v1.45/build", "nothing-else"),
    ]
    for client, method, target, rule in cases:
        explained = run_binary("explain", method, target, "--policy", policy, "--client", client)
        allowed = rule != "nothing-else"
        assert explained.returncode == (0 if allowed else 1), (client, explained)
        assert f"rule: {rule}\n" in explained.stdout, (client, explained.stdout)
    for bad in ["tls:", "tls:cn=", "tls:sha256=abc", "tls:address=10.0.0.1", "tls:cn=a,port=1",
                "tls:cn=a,address=nowhere"]:
        explained = run_binary("explain", "GET", "/_ping", "--policy", policy, "--client", bad)
        assert explained.returncode == 2 and explained.stdout == "", (bad, explained)
        assert explained.stderr.count("\n") == 1 and "tls:cn=NAME" in explained.stderr, \
            explained.stderr


# --------------------------------------------------------------------------- reload


def test_sighup_reloads_without_dropping_a_live_stream(proxy_factory, policy_dir, containers):
    policy = write_policy(policy_dir, "rules:\n  - {name: reads, methods: [GET, HEAD], action: allow}\n")
    proxy = proxy_factory("--policy", policy)
    stream = HttpConnection(proxy.unix_path, timeout=20)
    try:
        stream.send(build_request("GET", "/v1.41/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D"))
        assert stream.read_head().status == 200
        assert http(proxy.unix_path, "GET", "/v1.41/info").status == 200

        write_policy(policy_dir, "rules:\n  - {name: events-only, methods: GET, path: /events, action: allow}\n")
        proxy.proc.send_signal(signal.SIGHUP)
        assert proxy.wait_for_log(lambda line: "reload" in line and "rules=1" in line), proxy.log
        assert_json_error(http(proxy.unix_path, "GET", "/v1.41/info"), 403, "(rule default)")

        # A broken policy is refused; the one in force stays.
        write_policy(policy_dir, "rules: [\n")
        proxy.proc.send_signal(signal.SIGHUP)
        assert proxy.wait_for_log(lambda line: "reload-failed" in line), proxy.log
        assert_json_error(http(proxy.unix_path, "GET", "/v1.41/info"), 403, "(rule default)")
        assert http(proxy.unix_path, "GET", "/v1.41/events?until=0").status == 200

        # The stream opened under the first policy still flows.
        name = containers.run("spt-reload", ["true"], start=False)
        stream.read_chunk_containing(name.encode())
    finally:
        stream.close()
    assert proxy.proc.poll() is None


def test_a_reload_reaches_connections_on_every_serving_thread(proxy_factory, policy_dir):
    policy = write_policy(policy_dir, "rules:\n  - {name: reads, methods: [GET, HEAD], action: allow}\n")
    proxy = proxy_factory("--policy", policy, "--threads", "3")
    assert proxy.wait_for_log(lambda line: "listening" in line and "threads=3" in line), proxy.log
    # New connections go to the threads in turn: six open ones are on all three.
    connections = [HttpConnection(proxy.unix_path, timeout=10) for _ in range(6)]
    try:
        for connection in connections:
            assert connection.request("GET", "/v1.41/info").status == 200
        write_policy(policy_dir, "rules:\n  - {name: events-only, methods: GET, path: /events, action: allow}\n")
        proxy.proc.send_signal(signal.SIGHUP)
        assert proxy.wait_for_log(lambda line: "reload" in line and "rules=1" in line), proxy.log
        for connection in connections:
            assert_json_error(connection.request("GET", "/v1.41/info"), 403, "(rule default)")
    finally:
        for connection in connections:
            connection.close()


# --------------------------------------------------------------------------- who is asking


@needs_root
def test_rules_select_unix_clients_by_uid(proxy_factory, policy_dir):
    policy = write_policy(policy_dir, """
rules:
  - name: operator-lists
    methods: GET
    path: /containers/json
    clients: {uid: 1000}
    action: allow
  - name: ping
    path: /_ping
    action: allow
""")
    proxy = proxy_factory("--policy", policy)
    as_operator = request_as(1000, proxy.unix_path, "GET", "/v1.41/containers/json")
    assert as_operator["status"] == 200, as_operator
    assert isinstance(json.loads(as_operator["body"]), list)
    # Root may open the socket too, but the rule is not for it.
    as_root = http(proxy.unix_path, "GET", "/v1.41/containers/json")
    assert_json_error(as_root, 403, "(rule default)")
    assert proxy.wait_for_log(lambda line: 'client="unix:uid=0' in line and "rule=default" in line)


def test_rules_select_tcp_clients_by_network(proxy_factory, policy_dir):
    policy = write_policy(policy_dir, """
rules:
  - {name: loopback-tcp, methods: GET, clients: {cidr: 127.0.0.0/8}, action: allow}
  - {name: other-networks, clients: {cidr: 10.0.0.0/8}, action: allow}
""")
    proxy = proxy_factory("--policy", policy)
    assert http(proxy.tcp_address, "GET", "/v1.41/version").status == 200
    # The unix client matches neither selector.
    assert_json_error(http(proxy.unix_path, "GET", "/v1.41/version"), 403, "(rule default)")


def test_allow_from_refuses_other_tcp_clients(proxy_factory):
    proxy = proxy_factory("--allow-from", "10.0.0.0/8,192.168.0.0/16")
    with HttpConnection(proxy.tcp_address) as outsider:
        response = outsider.read_response()
        assert_json_error(response, 403, "SOCKET_PROXY_ALLOW_FROM")
        assert outsider.peer_closes_within(3)
    # The unix socket is not a network listener: unaffected.
    assert http(proxy.unix_path, "GET", "/_ping").status == 200
    assert proxy.wait_for_log(lambda line: "connection-refused" in line and "127.0.0.1" in line)


def test_allow_from_admits_its_networks(proxy_factory):
    proxy = proxy_factory("--allow-from", "127.0.0.0/8")
    assert http(proxy.tcp_address, "GET", "/_ping").status == 200


# --------------------------------------------------------------------------- Tecnativa switches


def test_switches_open_their_sections_only(proxy_factory, ticker):
    proxy = proxy_factory(env={"CONTAINERS": "1"})
    assert docker("ps", host=proxy.docker_host()).returncode == 0
    result = docker("images", host=proxy.docker_host())
    assert result.returncode != 0 and "rule default" in result.stderr, result.stderr
    result = docker("restart", ticker.name, host=proxy.docker_host())
    assert result.returncode != 0 and "POST=0" in result.stderr, result.stderr


def test_switches_allow_restarts_with_post(proxy_factory, victim):
    proxy = proxy_factory(env={"POST": "1", "ALLOW_RESTARTS": "1"})
    before = docker("inspect", "--format", "{{.State.StartedAt}}", victim, check=True).stdout
    result = docker("restart", "--time", "0", victim, host=proxy.docker_host(), timeout=60)
    assert result.returncode == 0, result.stderr
    after = docker("inspect", "--format", "{{.State.StartedAt}}", victim, check=True).stdout
    assert after != before, "the container was not restarted"
    # Nothing else: CONTAINERS=0 keeps inspect and rm out.
    result = docker("rm", "-f", victim, host=proxy.docker_host())
    assert result.returncode != 0 and "socket-proxy denied" in result.stderr, result.stderr


def test_the_legacy_copy_route_is_refused_wherever_archive_is(proxy_factory, victim):
    """POST /v1.23/containers/{id}/copy returns files like archive does (measured: a tar of
    the file), and CONTAINERS=1 POST=1 would otherwise allow it."""
    body = json.dumps({"Resource": "/etc/hostname"}).encode()
    headers = {"Content-Type": "application/json"}
    direct = http(DOCKER_SOCKET, "POST", f"/v1.23/containers/{victim}/copy", headers=headers,
                  body=body)
    assert direct.status == 200 and b"hostname" in direct.body, direct
    for env in ({}, {"CONTAINERS": "1", "POST": "1"}):
        proxy = proxy_factory(env=env)
        for target in (f"/v1.23/containers/{victim}/copy", f"/v1.23/containers/{victim}/%63opy"):
            assert_json_error(http(proxy.unix_path, "POST", target, headers=headers, body=body),
                              403, "deny-container-copy")
        assert_json_error(http(proxy.unix_path, "GET", f"/v1.41/containers/{victim}/archive"
                               "?path=/etc/hostname"), 403, "deny-container-archive")


def test_switches_and_a_policy_file_together_are_refused(policy_dir):
    policy = write_policy(policy_dir, LOGS_ONLY)
    proxy = start_proxy("--policy", policy, env={"CONTAINERS": "1"}, wait=False)
    try:
        returncode = proxy.proc.wait(timeout=10)
        proxy.stop()
        assert returncode == 1
        assert "not both" in proxy.stderr, proxy.stderr
    finally:
        proxy.stop()
        shutil.rmtree(proxy.workdir, ignore_errors=True)


# --------------------------------------------------------------------------- hijacked streams

WRITES_FOR_RUN_AND_EXEC = """
rules:
  - {name: reads, methods: [GET, HEAD], action: allow}
  - name: run-and-exec
    methods: POST
    path: /containers/**
    action: allow
  - {name: exec, methods: POST, path: /exec/**, action: allow}
  - {name: remove, methods: DELETE, path: "/containers/{id...}", action: allow}
"""


def test_a_write_rule_lets_docker_run_rm_through(proxy_factory, policy_dir):
    # create, attach (hijacked, 101), start, wait, and the removal the daemon does itself.
    proxy = proxy_factory("--policy", write_policy(policy_dir, WRITES_FOR_RUN_AND_EXEC))
    result = docker("run", "--rm", "--network", "none", TEST_IMAGE, "echo", "hello-run",
                    host=proxy.docker_host(), timeout=90)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hello-run"


def test_exec_streams_both_ways_through_the_proxy(proxy_factory, policy_dir, containers):
    target = containers.run("spt-exec", ["sleep", "1800"])
    proxy = proxy_factory("--policy", write_policy(policy_dir, WRITES_FOR_RUN_AND_EXEC))
    host = proxy.docker_host()
    result = docker("exec", target, "sh", "-c", "echo out; echo err >&2; exit 3", host=host)
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n"), result
    # stdin travels through the upgraded connection too.
    piped = subprocess.run([docker_cli(), "exec", "-i", target, "sh", "-c", "read line; echo got-$line"],
                           input="hello\n", capture_output=True, text=True, timeout=60,
                           env=docker_environment(host))
    assert piped.returncode == 0 and piped.stdout == "got-hello\n", piped
    # And with a terminal, as `docker exec -it` is used by people.
    tty = subprocess.run(["script", "-qec", f"{docker_cli()} exec -it {target} sh -c 'tty; echo tty-ok'",
                          "/dev/null"], capture_output=True, text=True, timeout=60,
                         env=docker_environment(host), stdin=subprocess.DEVNULL)
    assert tty.returncode == 0 and "tty-ok" in tty.stdout and "/dev/pts/" in tty.stdout, tty


ATTACH_WS = """
rules:
  - name: attach-ws
    methods: GET
    path: /containers/{id...}/attach/ws
    action: allow
"""


def _websocket_frame(payload: bytes) -> bytes:
    """A client's text frame: FIN, opcode 1, masked (RFC 6455 section 5.3)."""
    mask = os.urandom(4)
    assert len(payload) < 126
    return bytes([0x81, 0x80 | len(payload)]) + mask + \
        bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))


def _read_websocket_payloads(connection: HttpConnection, needle: bytes, seconds: float) -> bytes:
    """The payloads of the server's (unmasked) frames, until `needle` shows up."""
    received = b""
    deadline = time.monotonic() + seconds
    while needle not in received:
        assert time.monotonic() < deadline, f"{needle!r} not received, got {received!r}"
        first, second = connection._take(2)
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes(connection._take(2), "big")
        elif length == 127:
            length = int.from_bytes(connection._take(8), "big")
        payload = connection._take(length)
        if first & 0x0F in (1, 2, 0):
            received += payload
    return received


def test_an_allowed_attach_websocket_streams_both_ways(proxy_factory, policy_dir, containers):
    # The daemon's own websocket on a container that echoes what arrives on its stdin.
    name = f"spt-ws-{random_suffix()}"
    containers.names.append(name)
    docker("run", "-d", "-i", "--name", name, "--network", "none", TEST_IMAGE, "sh", "-c",
           "while read line; do echo got-$line; done", check=True)
    denied = proxy_factory()
    target = f"/v1.41/containers/{name}/attach/ws?stream=1&stdin=1&stdout=1"
    handshake = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                 ("Sec-WebSocket-Key", base64.b64encode(os.urandom(16)).decode()),
                 ("Sec-WebSocket-Version", "13"), ("Origin", "http://localhost")]
    assert_json_error(http(denied.unix_path, "GET", target, headers=handshake), 403,
                      "(rule deny-container-attach-ws)")

    proxy = proxy_factory("--policy", write_policy(policy_dir, ATTACH_WS))
    with HttpConnection(proxy.unix_path, timeout=20) as connection:
        connection.send(build_request("GET", target, handshake))
        head = connection.read_head()
        assert head.status == 101, head
        assert (head.header("Upgrade") or "").lower() == "websocket", head
        expected = base64.b64encode(hashlib.sha1(
            (dict(handshake)["Sec-WebSocket-Key"] +
             "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        assert head.header("Sec-WebSocket-Accept") == expected, head
        connection.send(_websocket_frame(b"hello\n"))
        assert b"got-hello" in _read_websocket_payloads(connection, b"got-hello", 15)
        connection.send(_websocket_frame(b"again\n"))
        assert b"got-again" in _read_websocket_payloads(connection, b"got-again", 15)


def test_without_the_rule_exec_is_refused(proxy_factory, victim):
    proxy = proxy_factory()
    result = docker("exec", victim, "true", host=proxy.docker_host())
    assert result.returncode != 0 and "socket-proxy denied POST" in result.stderr, result.stderr


# --------------------------------------------------------------------------- redaction


def _env_through(host: str, name: str) -> list:
    result = docker("inspect", "--format", "{{json .Config.Env}}", name, host=host)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_inspect_through_the_proxy_hides_environment_values(proxy_factory, containers):
    name = f"spt-secret-{containers.session}"
    containers.names.append(name)
    docker("run", "-d", "--name", name, "--network", "none", "-e", "DB_PASSWORD=hunter2",
           "-e", "MODE=prod", TEST_IMAGE, "sleep", "1800", check=True)
    proxy = proxy_factory()
    through_proxy = _env_through(proxy.docker_host(), name)
    assert "DB_PASSWORD=<redacted>" in through_proxy and "MODE=<redacted>" in through_proxy, \
        through_proxy
    assert not any("hunter2" in entry for entry in through_proxy)
    direct = _env_through(f"unix://{proxy.docker_socket}", name)
    assert "DB_PASSWORD=hunter2" in direct, direct
    # The whole answer, not only the format: nowhere in the raw JSON.
    raw = http(proxy.unix_path, "GET", f"/v1.41/containers/{name}/json")
    assert raw.status == 200 and b"hunter2" not in raw.body and raw.json()["Name"] == f"/{name}"

    image = f"spt-secret-image:{containers.session}"
    docker("commit", "--change", "ENV API_KEY=sk-live-123", name, image, check=True)
    try:
        result = docker("image", "inspect", "--format", "{{json .Config.Env}}", image,
                        host=proxy.docker_host())
        assert result.returncode == 0 and "API_KEY=<redacted>" in result.stdout, result
        assert "sk-live-123" not in result.stdout
    finally:
        docker("image", "rm", "-f", image)


def test_redaction_can_be_turned_off_globally_and_per_rule(proxy_factory, policy_dir, containers):
    name = f"spt-secret-off-{containers.session}"
    containers.names.append(name)
    docker("run", "-d", "--name", name, "--network", "none", "-e", "DB_PASSWORD=hunter2",
           TEST_IMAGE, "sleep", "1800", check=True)
    off = proxy_factory(env={"SOCKET_PROXY_REDACT": "false"})
    assert "DB_PASSWORD=hunter2" in _env_through(off.docker_host(), name)

    policy = write_policy(policy_dir, f"""
rules:
  - {{name: watchtower-inspects, methods: GET, path: "/containers/{name}/json", redact: false,
     action: allow}}
  - {{name: reads, methods: [GET, HEAD], action: allow}}
""")
    per_rule = proxy_factory("--policy", policy)
    assert "DB_PASSWORD=hunter2" in _env_through(per_rule.docker_host(), name)
    other = http(per_rule.unix_path, "GET", f"/containers/{name}/json".replace(name, name + "x"))
    assert other.status == 404, other  # still served by the reads rule, and redacted if found
