"""Per-client limits (a rule's `limits:`) against the real engine: a client past its rate gets
429 with Retry-After while another client keeps its own; streams and requests in flight are
capped per client and freed when they end; a reload keeps the buckets.

Two clients are two TCP source addresses on loopback, 127.0.0.1 and 127.0.0.2, each selected by
a rule of its own.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import threading
import time

from proxytest import (HttpConnection, assert_json_error, clean_environment, docker,
                       free_tcp_port, proxy_binary, write_policy)

A = "127.0.0.1"
B = "127.0.0.2"


class ConnectionFrom(HttpConnection):
    """A client connection from a chosen loopback source address."""

    def __init__(self, source: str, address: tuple, timeout: float = 15.0):
        self.sock = socket.create_connection(address, timeout=timeout, source_address=(source, 0))
        self.buffer = b""
        self.eof = False


def limited_requests(proxy, rule: str, limit: str) -> int:
    with HttpConnection(("127.0.0.1", proxy.metrics_port)) as connection:
        page = connection.request("GET", "/metrics").body.decode()
    match = re.search(r'^socket_proxy_limited_requests_total\{rule="%s",limit="%s"\} (\d+)$'
                      % (rule, limit), page, re.MULTILINE)
    return int(match.group(1)) if match else 0


def start(proxy_factory, policy: str):
    port = free_tcp_port()
    proxy = proxy_factory("--policy", policy, "--threads", "2", "--metrics", f"127.0.0.1:{port}")
    proxy.metrics_port = port
    return proxy


def test_a_client_over_its_rate_gets_429_and_the_other_keeps_its_rate(proxy_factory,
                                                                       policy_dir):
    policy = write_policy(policy_dir, f"""
rules:
  - {{name: ping, methods: [GET, HEAD], path: /_ping, action: allow}}
  - name: steady
    clients: {{cidr: {B}/32}}
    limits: {{requests_per_second: 200, burst: 200}}
    action: allow
  - name: hammer
    clients: {{cidr: 127.0.0.0/24}}
    limits: {{requests_per_second: 2, burst: 3}}
    action: allow
""")
    proxy = start(proxy_factory, policy)
    seconds = 2.0
    a_outcomes: list = []
    a_refusal = []

    def hammer():
        with ConnectionFrom(A, proxy.tcp_address) as connection:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                response = connection.request("GET", "/v1.41/version")
                a_outcomes.append(response.status)
                if response.status == 429 and not a_refusal:
                    a_refusal.append(response)

    hammering = [threading.Thread(target=hammer) for _ in range(2)]
    started = time.monotonic()
    for thread in hammering:
        thread.start()
    b_outcomes = []
    with ConnectionFrom(B, proxy.tcp_address) as connection:
        while time.monotonic() < started + seconds:
            b_outcomes.append(connection.request("GET", "/v1.41/version").status)
            time.sleep(0.02)  # about 40 a second: well inside its own 200
    for thread in hammering:
        thread.join()
    elapsed = time.monotonic() - started

    # A: its burst and its rate, then 429s, on connections that stayed open.
    assert a_outcomes.count(429) > 0, a_outcomes[:20]
    assert set(a_outcomes) == {200, 429}, set(a_outcomes)
    assert a_outcomes.count(200) <= 3 + 2 * elapsed + 1, (a_outcomes.count(200), elapsed)
    refusal = a_refusal[0]
    message = assert_json_error(refusal, 429, "requests_per_second=2,burst=3", "rule hammer",
                                "retry after 1s")
    assert refusal.header("Retry-After") == "1", refusal
    assert "socket-proxy limited GET /version" in message
    # B: every request answered, none refused, while A was being refused.
    assert b_outcomes and set(b_outcomes) == {200}, b_outcomes
    assert len(b_outcomes) >= 10, len(b_outcomes)

    # Another client of A's own rule has a bucket of its own.
    with ConnectionFrom("127.0.0.3", proxy.tcp_address) as connection:
        assert connection.request("GET", "/v1.41/version").status == 200

    assert limited_requests(proxy, "hammer", "requests_per_second") == a_outcomes.count(429)
    assert limited_requests(proxy, "steady", "requests_per_second") == 0
    assert proxy.wait_for_log(lambda line: "status=429" in line and "rule=hammer" in line and
                              "limit=requests_per_second" in line), proxy.log


def test_the_docker_cli_prints_the_limit(proxy_factory, policy_dir):
    policy = write_policy(policy_dir, f"""
rules:
  - {{name: ping, methods: [GET, HEAD], path: /_ping, action: allow}}
  - name: slow-lister
    clients: {{cidr: {A}/32}}
    limits: {{requests_per_second: 0.1}}
    action: allow
""")
    proxy = start(proxy_factory, policy)
    host = f"tcp://127.0.0.1:{proxy.tcp_port}"
    assert docker("ps", "-q", host=host).returncode == 0  # the one token
    result = docker("ps", "-q", host=host)
    assert result.returncode != 0
    assert "socket-proxy limited GET /containers/json" in result.stderr, result.stderr
    assert "rule slow-lister" in result.stderr and "retry after 10s" in result.stderr, \
        result.stderr


def open_events(source: str, proxy) -> ConnectionFrom:
    connection = ConnectionFrom(source, proxy.tcp_address)
    connection.send(b"GET /v1.41/events HTTP/1.1\r\nHost: docker\r\n\r\n")
    return connection


def test_streams_and_requests_in_flight_are_capped_and_freed(proxy_factory, policy_dir):
    policy = write_policy(policy_dir, f"""
rules:
  - name: watcher
    clients: {{cidr: {A}/32}}
    limits: {{concurrent: 5, streams: 2}}
    action: allow
  - name: busy
    clients: {{cidr: {B}/32}}
    limits: {{concurrent: 1}}
    action: allow
""")
    proxy = start(proxy_factory, policy)
    streams = [open_events(A, proxy) for _ in range(2)]
    try:
        for stream in streams:
            assert stream.read_head().status == 200
        with ConnectionFrom(A, proxy.tcp_address) as third:
            refusal = third.request("GET", "/v1.41/events")
            assert_json_error(refusal, 429, "streams=2", "rule watcher")
            assert refusal.header("Retry-After") == "1", refusal
            # Requests that are not streams still pass, on the same connection.
            assert third.request("GET", "/v1.41/version").status == 200
        # Another client's own count is untouched by A's streams; its one slot, once taken by
        # a stream, refuses anything else.
        with open_events(B, proxy) as b_stream:
            assert b_stream.read_head().status == 200
            with ConnectionFrom(B, proxy.tcp_address) as other:
                refusal = other.request("GET", "/v1.41/version")
            assert_json_error(refusal, 429, "concurrent=1", "rule busy")
        # B's stream ended by its client: its slot comes back.
        deadline = time.monotonic() + 10
        while True:
            with ConnectionFrom(B, proxy.tcp_address) as again:
                status = again.request("GET", "/v1.41/version").status
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert status == 200, "the slot of a stream the client closed was not given back"

        # One of A's streams ended by its client: a new one is admitted.
        streams.pop().close()
        deadline = time.monotonic() + 10
        while True:
            stream = open_events(A, proxy)
            status = stream.read_head().status
            if status == 200:
                streams.append(stream)
                break
            stream.close()
            assert time.monotonic() < deadline, "a closed stream's slot was not given back"
            time.sleep(0.1)
    finally:
        for stream in streams:
            stream.close()
    assert limited_requests(proxy, "watcher", "streams") >= 1  # and retries while a slot frees
    assert limited_requests(proxy, "busy", "concurrent") >= 1


def test_a_reload_keeps_the_buckets_and_takes_the_new_numbers(proxy_factory, policy_dir):
    text = f"""
rules:
  - name: once-in-a-while
    clients: {{cidr: {A}/32}}
    limits: {{requests_per_second: RATE}}
    action: allow
"""
    policy = write_policy(policy_dir, text.replace("RATE", "0.05"))
    proxy = start(proxy_factory, policy)
    with ConnectionFrom(A, proxy.tcp_address) as connection:
        assert connection.request("GET", "/v1.41/version").status == 200
        refusal = connection.request("GET", "/v1.41/version")
        assert_json_error(refusal, 429, "rule once-in-a-while", "retry after 20s")
        assert refusal.header("Retry-After") == "20", refusal

        # A refused request whose body was not read closes its connection, as a denial does.
        with ConnectionFrom(A, proxy.tcp_address) as with_body:
            refusal = with_body.request("POST", "/v1.41/containers/spt-no-such-thing/stop",
                                        body=b'{"padding": "' + b"x" * 1000 + b'"}')
            assert refusal.status == 429 and refusal.header("Connection") == "close", refusal
            assert with_body.peer_closes_within(3)

        # The same rule again: the spent bucket is not handed back full.
        write_policy(policy_dir, text.replace("RATE", "0.05") + "  - {name: x, action: deny}\n")
        proxy.proc.send_signal(signal.SIGHUP)
        assert proxy.wait_for_log(lambda line: "reload" in line and "rules=2" in line), proxy.log
        assert connection.request("GET", "/v1.41/version").status == 429

        # New numbers apply from the next request.
        write_policy(policy_dir, text.replace("RATE", "1000"))
        proxy.proc.send_signal(signal.SIGHUP)
        assert proxy.wait_for_log(lambda line: "reload" in line and "rules=1" in line), proxy.log
        deadline = time.monotonic() + 5
        while connection.request("GET", "/v1.41/version").status != 200:
            assert time.monotonic() < deadline, "the reloaded rate was not applied"
            time.sleep(0.05)


def test_check_and_explain_show_the_limits(binary, policy_dir):
    policy = write_policy(policy_dir, """
rules:
  - {name: ping, methods: [GET, HEAD], path: /_ping, action: allow}
  - {name: ci, clients: {cidr: 10.0.0.0/8}, limits: {requests_per_second: 5, streams: 2}, action: allow}
""")
    run = lambda *args: subprocess.run([proxy_binary(), *args, "--policy", policy],
                                       capture_output=True, text=True, env=clean_environment())
    checked = run("check")
    assert checked.returncode == 0, checked.stderr
    assert "ci: allow any method any path clients 10.0.0.0/8 limits " \
           "requests_per_second=5,burst=5,streams=2" in checked.stdout, checked.stdout
    explained = run("explain", "GET", "/v1.41/events", "--client", "tcp:10.1.2.3")
    assert explained.returncode == 0, explained.stderr
    assert "limits: requests_per_second=5,burst=5,streams=2 for each client, this one counted " \
           "as tcp:10.1.2.3; the request opens a stream" in explained.stdout, explained.stdout
    broken = write_policy(policy_dir, "rules:\n  - {name: ci, limits: {streams: 0}, action: allow}\n",
                          "broken.yaml")
    refused = subprocess.run([proxy_binary(), "check", "--policy", broken], capture_output=True,
                             text=True, env=clean_environment())
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1] == (
        f'socket-proxy: {broken} line 2: rule 1 (ci), field "limits.streams": "0" is not a '
        f'whole number above 0 and at most 100000'), refused.stderr
