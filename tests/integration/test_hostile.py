"""Hostile clients and a misbehaving engine, against the real engine (issue 5).

Limits a client runs into (head size, header count, slowloris, idle keep-alive, connection
count, descriptor exhaustion), request forms that must be handled deliberately (CONNECT,
OPTIONS *, HTTP/0.9, absolute-form), and what a client sees when the engine goes away and
comes back, on a spare dockerd of the test's own (spare_engine.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest

from proxytest import (HttpConnection, PeerClosed, assert_json_error, build_request, docker,
                       docker_popen, docker_socket_gid, http, is_root, raw_exchange, stop_process)


def proxy_descriptors(proxy) -> int:
    return len(os.listdir(f"/proc/{proxy.proc.pid}/fd"))


def proxy_rss_kib(proxy) -> int:
    with open(f"/proc/{proxy.proc.pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/PID/status")


def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


def ping_ok(address) -> None:
    response = http(address, "GET", "/_ping", timeout=10)
    assert response.status == 200 and response.body == b"OK", response


# --------------------------------------------------------------------------- head limits


def test_header_count_limit_is_configurable_and_answers_431(proxy_factory):
    proxy = proxy_factory("--max-headers", "5")
    # Host and Connection count: 3 more make 5.
    allowed = [(f"X-Field-{i}", "v") for i in range(3)]
    response = http(proxy.unix_path, "GET", "/_ping", headers=allowed)
    assert response.status == 200, response
    too_many = [(f"X-Field-{i}", "v") for i in range(4)]
    response = http(proxy.unix_path, "GET", "/_ping", headers=too_many)
    assert_json_error(response, 431, "more than 5 header fields", "SOCKET_PROXY_MAX_HEADERS")


def test_head_size_limit_is_configurable(proxy_factory):
    proxy = proxy_factory("--max-head-size", "2KiB")
    response = http(proxy.unix_path, "GET", "/_ping", headers=[("X-Registry-Auth", "a" * 1500)])
    assert response.status == 200, response
    with HttpConnection(proxy.unix_path, timeout=10) as connection:
        connection.send(build_request("GET", "/_ping", [("X-Registry-Auth", "a" * 3000)]))
        response = connection.read_response()
        assert_json_error(response, 431, "exceeds 2KiB", "SOCKET_PROXY_MAX_HEAD_SIZE")
        assert connection.peer_closes_within(3)


def test_default_head_limit_admits_registry_auth_of_a_few_kb(proxy):
    # The docker CLI sends X-Registry-Auth as base64 JSON; 8 KB is a large credential.
    response = http(proxy.unix_path, "GET", "/_ping", headers=[("X-Registry-Auth", "e" * 8192)])
    assert response.status == 200, response


# --------------------------------------------------------------------------- timeouts


def test_slowloris_is_disconnected_after_the_head_timeout(proxy_factory):
    proxy = proxy_factory("--head-timeout", "1s")
    connection = HttpConnection(proxy.unix_path, timeout=10)
    head = build_request("GET", "/_ping", [("X-Slow", "x" * 40)])
    started = time.monotonic()
    closed_after = None
    try:
        for byte in head[:-1]:  # never the last byte: the head is never complete
            connection.send(bytes([byte]))
            time.sleep(0.05)
            if time.monotonic() - started > 5:
                break
            # Others are served meanwhile: one event loop, but no head blocks it.
    except (BrokenPipeError, ConnectionResetError):
        closed_after = time.monotonic() - started
    if closed_after is None:
        assert connection.peer_closes_within(3), "a trickling head was never cut off"
        closed_after = time.monotonic() - started
    assert closed_after < 4, f"the head timeout of 1 s took {closed_after:.1f} s"
    ping_ok(proxy.unix_path)
    assert proxy.wait_for_log(lambda line: "did not arrive within 1s" in line), proxy.log


def test_a_connection_that_sends_nothing_is_closed_after_the_head_timeout(proxy_factory):
    proxy = proxy_factory("--head-timeout", "1s", "--idle-timeout", "60s")
    with HttpConnection(proxy.unix_path) as connection:
        started = time.monotonic()
        assert connection.peer_closes_within(4), "a silent new connection was kept open"
        assert time.monotonic() - started >= 0.8


def test_idle_keep_alive_connection_is_closed_after_the_idle_timeout(proxy_factory):
    proxy = proxy_factory("--idle-timeout", "1s", "--head-timeout", "30s")
    with HttpConnection(proxy.unix_path) as connection:
        assert connection.request("GET", "/_ping").status == 200
        started = time.monotonic()
        assert connection.peer_closes_within(4), "an idle keep-alive connection was kept open"
        assert time.monotonic() - started >= 0.8


def test_keep_alive_connection_stays_open_within_the_idle_timeout(proxy_factory):
    # The counterpart of the test above: the same wait with a longer idle timeout is no close.
    proxy = proxy_factory("--idle-timeout", "30s", "--head-timeout", "1s")
    with HttpConnection(proxy.unix_path) as connection:
        assert connection.request("GET", "/_ping").status == 200
        assert not connection.peer_closes_within(2.5), \
            "the head timeout cut an idle keep-alive connection"
        assert connection.request("GET", "/_ping").status == 200


def test_idle_and_head_timeouts_never_cut_a_silent_stream(proxy_factory, containers):
    proxy = proxy_factory("--idle-timeout", "1s", "--head-timeout", "1s", "--timeout", "1s")
    with HttpConnection(proxy.unix_path, timeout=20) as connection:
        connection.send(build_request("GET", "/v1.41/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D"))
        head = connection.read_head()
        assert head.status == 200, head
        time.sleep(3)  # three times every timeout, in silence
        name = containers.run("spt-quiet", ["true"], start=False)
        connection.read_chunk_containing(name.encode())


def test_a_request_body_that_stops_arriving_is_dropped_after_the_idle_timeout(proxy_factory):
    proxy = proxy_factory("--idle-timeout", "1s")
    with HttpConnection(proxy.unix_path, timeout=10) as connection:
        connection.send(build_request("GET", "/_ping", [("Content-Length", "1000")]) + b"x" * 10)
        started = time.monotonic()
        assert connection.peer_closes_within(5), "a stalled request body held the connection"
        assert time.monotonic() - started < 4
    ping_ok(proxy.unix_path)


# --------------------------------------------------------------------------- request forms


def test_connect_is_refused_and_never_tunnels(proxy):
    with HttpConnection(proxy.unix_path) as connection:
        connection.send(build_request("CONNECT", "docker:2375", host="docker:2375"))
        response = connection.read_response()
        assert_json_error(response, 400, "neither a path")
        # The connection is still HTTP, not a tunnel: the next request is parsed and decided.
        again = connection.request("GET", "/_ping")
        assert again.status == 200 and again.body == b"OK", again


def test_options_asterisk_is_refused(proxy):
    response = http(proxy.unix_path, "OPTIONS", "*")
    assert_json_error(response, 400)


def test_http_0_9_is_answered_400_at_once(proxy):
    started = time.monotonic()
    received = raw_exchange(proxy.unix_path, b"GET /_ping\r\n", seconds=5)
    assert received.startswith(b"HTTP/1.1 400 "), received
    assert b"request line" in received, received
    assert time.monotonic() - started < 2, "an HTTP/0.9 request waited for a head timeout"


def test_foreign_protocol_is_answered_400_at_once(proxy):
    # A TLS ClientHello sent to the plain-text port, then a line feed somewhere in it.
    received = raw_exchange(proxy.tcp_address, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n",
                            seconds=5)
    assert received.startswith(b"HTTP/1.1 400 "), received


def test_absolute_form_for_the_same_host_is_forwarded_in_origin_form(proxy):
    with HttpConnection(proxy.unix_path) as connection:
        response = connection.request("GET", "http://docker/v1.41/version")
        assert response.status == 200, response
        assert "ApiVersion" in response.json()


@pytest.mark.parametrize("target,status", [
    ("/v1.41/containers/c1/archive?path=/etc", 403),  # denied by policy
    ("/v1.41/a%zz", 400),                              # malformed target
])
def test_error_answers_to_head_have_no_body(proxy, target, status):
    # A body after a HEAD answer would be read as the next response on the connection.
    with HttpConnection(proxy.unix_path) as connection:
        response = connection.request("HEAD", target)
        assert response.status == status, response
        assert int(response.header("Content-Length")) > 0  # the GET answer's length
        again = connection.request("GET", "/_ping")
        assert again.status == 200 and again.body == b"OK", again


@pytest.mark.parametrize("chunks", [
    b"zz\r\nhello\r\n0\r\n\r\n",          # not hex
    b"-5\r\nhello\r\n0\r\n\r\n",          # signed
    b"5\r\nhelloXX0\r\n\r\n",              # no CRLF after the data
    b"fffffffffffffffff\r\n",              # overflows 64 bits
], ids=["not-hex", "signed", "no-crlf", "overflow"])
def test_malformed_chunk_sizes_get_400_and_close(proxy, chunks):
    head = b"GET /_ping HTTP/1.1\r\nHost: docker\r\nTransfer-Encoding: chunked\r\n\r\n"
    # What follows would be a second request if the proxy resynchronised on it.
    received = raw_exchange(proxy.unix_path, head + chunks +
                            b"GET /v1.41/containers/c1/export HTTP/1.1\r\nHost: docker\r\n\r\n",
                            seconds=5)
    assert received.startswith(b"HTTP/1.1 400 "), received
    assert b"export" not in received.split(b"\r\n\r\n", 1)[0]
    assert received.count(b"HTTP/1.1 ") == 1, received


def test_a_denied_request_whose_body_comes_late_still_reads_its_answer(proxy):
    # The answer is sent after the head alone; the body the client sends then must not make
    # the close reset the answer away (lingering close).
    body = b"{" + b" " * (512 * 1024) + b"}"
    with HttpConnection(proxy.unix_path, timeout=10) as connection:
        connection.send(build_request("POST", "/v1.41/containers/create",
                                      [("Content-Type", "application/json"),
                                       ("Content-Length", str(len(body)))]))
        time.sleep(0.3)
        connection.send(body)  # BrokenPipeError here without the drain
        response = connection.read_response("POST")
        assert_json_error(response, 403, "read-only")
        assert connection.peer_closes_within(5)


def test_duplicate_identical_content_lengths_are_forwarded_as_one(proxy):
    # Beast accepts "5, 5" and repeated identical lengths; Go refuses the list form. The
    # daemon must get one number, so the request is served rather than refused downstream.
    with HttpConnection(proxy.unix_path) as connection:
        connection.send(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nContent-Length: 2, 2\r\n\r\nab")
        response = connection.read_response()
        assert response.status == 200 and response.body == b"OK", response


# --------------------------------------------------------------------------- connection limits


def _served_connection(address) -> HttpConnection:
    # A connection the client just closed (the readiness check's) frees its place once its
    # serving thread has read the close: a moment later, on another thread.
    for _ in range(100):
        connection = HttpConnection(address)
        if connection.request("GET", "/_ping").status == 200:
            return connection
        connection.close()
        time.sleep(0.05)
    raise AssertionError(f"no connection to {address} was served in 5 s")


def test_connection_over_the_limit_gets_503_and_is_closed(proxy_factory):
    proxy = proxy_factory("--max-connections", "3")
    held = [_served_connection(proxy.unix_path) for _ in range(2)]
    held.append(_served_connection(proxy.tcp_address))  # unix and TCP share the limit
    try:
        with HttpConnection(proxy.unix_path) as extra:
            response = extra.read_response()
            assert_json_error(response, 503, "limit of 3 client connections",
                              "SOCKET_PROXY_MAX_CONNECTIONS")
            assert response.header("Connection") == "close"
            assert extra.peer_closes_within(3)
        result = docker("version", "--format", "{{.Server.Version}}", host=proxy.docker_host())
        assert result.returncode != 0
        assert "limit of 3 client connections" in result.stderr, result.stderr
        # The held connections are unharmed, and a freed place is taken again.
        assert held[0].request("GET", "/_ping").status == 200
        held.pop().close()
        assert wait_until(lambda: http(proxy.unix_path, "GET", "/_ping").status == 200, 5)
    finally:
        for connection in held:
            connection.close()
    assert proxy.wait_for_log(lambda line: "connection-refused" in line), proxy.log


def test_running_out_of_descriptors_neither_crashes_nor_stalls(proxy_factory):
    # As root without dropping it: lowering another process's limit needs the same uid
    # (or CAP_SYS_RESOURCE, which a container may lack).
    proxy = proxy_factory("--max-connections", "10000", "--keepalive", "0", "--uid", "0",
                          "--gid", "0")
    baseline = proxy_descriptors(proxy)
    # Lower the limit under the running proxy, below what its connection limit assumed.
    limit = baseline + 24
    subprocess.run(["prlimit", f"--pid={proxy.proc.pid}", f"--nofile={limit}:{limit}"],
                   check=True)
    held = []
    try:
        for _ in range(60):
            held.append(HttpConnection(proxy.unix_path, timeout=5))
        time.sleep(1)
        shed = 0
        for connection in held:
            connection.sock.settimeout(0.05)
            try:
                data = connection.sock.recv(4096)
            except (socket.timeout, ConnectionResetError):
                continue
            if b"503" in data and b"run out of file descriptors" in data:
                shed += 1
        assert shed > 0, "no connection was answered while descriptors ran out"
        assert proxy.proc.poll() is None, "the proxy died when descriptors ran out"
    finally:
        for connection in held:
            connection.close()
    # Descriptors free up: the accept loop serves again without a restart.
    assert wait_until(lambda: _serves(proxy), 10), proxy.log
    assert proxy.wait_for_log(lambda line: "accept-failed" in line), proxy.log


def _serves(proxy) -> bool:
    try:
        response = http(proxy.unix_path, "GET", "/_ping", timeout=2)
    except (OSError, PeerClosed):
        return False
    return response.status == 200


# --------------------------------------------------------------------------- streams and fds


def test_clients_leaving_streams_release_every_descriptor(proxy_factory, ticker):
    proxy = proxy_factory("--keepalive", "0")
    ping_ok(proxy.unix_path)
    time.sleep(0.3)  # the readiness probes' connections are closed by now
    baseline = proxy_descriptors(proxy)
    streams = []
    try:
        for _ in range(20):
            connection = HttpConnection(proxy.unix_path, timeout=10)
            connection.send(build_request("GET", "/v1.41/events"))
            assert connection.read_head().status == 200
            streams.append(connection)
        for _ in range(5):
            connection = HttpConnection(proxy.unix_path, timeout=10)
            connection.send(build_request(
                "GET", f"/v1.41/containers/{ticker.name}/logs?stdout=1&follow=1&tail=1"))
            assert connection.read_head().status == 200
            streams.append(connection)
        during = proxy_descriptors(proxy)
        assert during >= baseline + 2 * len(streams), (baseline, during)
    finally:
        for connection in streams:
            connection.close()
    assert wait_until(lambda: proxy_descriptors(proxy) == baseline, 3), \
        f"descriptors: {baseline} before, {proxy_descriptors(proxy)} after the clients left"


def test_a_slow_reader_keeps_the_proxy_memory_flat(proxy_factory, containers):
    # 20 MB of log, complete before the client starts: the daemon could send it all at once.
    line = "0123456789abcdefghijklmnopqrstuvwxyz" * 2
    name = containers.run("spt-chatty", [
        "sh", "-c", f"yes {line} | head -n 280000; echo chatty-done; sleep 1800"])
    assert wait_until(lambda: "chatty-done" in docker("logs", "--tail", "1", name).stdout, 60)
    proxy = proxy_factory()
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.settimeout(10)
    client.connect(proxy.unix_path)
    try:
        client.sendall(build_request(
            "GET", f"/v1.41/containers/{name}/logs?stdout=1&follow=1"))
        assert client.recv(1).startswith(b"H")
        time.sleep(1)
        before = proxy_rss_kib(proxy)
        for _ in range(8):  # one byte a second
            assert len(client.recv(1)) == 1
            time.sleep(1)
        after = proxy_rss_kib(proxy)
    finally:
        client.close()
    print(f"slow reader: proxy RSS {before} KiB -> {after} KiB over 8 s at 1 byte/s")
    # Unbounded buffering would hold most of the 20 MB by now.
    assert after - before < 2048, f"RSS grew from {before} KiB to {after} KiB under a slow reader"


# --------------------------------------------------------------------------- engine faults


def test_engine_absent_at_start_is_served_once_it_appears(proxy_factory, spare_engine):
    # Started the way compose.yml starts it, as root with the docker group (user: "0:<gid>"):
    # with no socket to look at yet, that group is what must reach the engine later.
    prefix = ["setpriv", f"--regid={docker_socket_gid()}", "--clear-groups"] if is_root() else []
    proxy = proxy_factory(docker_socket=spare_engine.socket_path, command_prefix=prefix)
    assert proxy.wait_for_log(lambda line: "daemon-unreachable" in line), proxy.log
    with HttpConnection(proxy.unix_path) as connection:
        response = connection.request("GET", "/_ping")
        assert_json_error(response, 502, "cannot reach the Docker engine",
                          spare_engine.socket_path)
        spare_engine.start()
        response = connection.request("GET", "/_ping")  # the same keep-alive connection
        assert response.status == 200 and response.body == b"OK", response


def test_engine_restart_ends_streams_and_the_proxy_recovers(proxy_factory, spare_engine):
    spare_engine.start()
    proxy = proxy_factory("--keepalive", "30s", docker_socket=spare_engine.socket_path)
    kept = HttpConnection(proxy.unix_path, timeout=15)
    stream = HttpConnection(proxy.tcp_address, timeout=15)
    cli = docker_popen("events", host=proxy.docker_host())
    try:
        assert kept.request("GET", "/_ping").status == 200  # leaves a pooled daemon connection
        stream.send(build_request("GET", "/v1.41/events"))
        head = stream.read_head()
        assert head.status == 200 and HttpConnection.is_chunked(head), head
        time.sleep(0.5)

        spare_engine.stop()
        # The client sees the stream end (the last chunk), then the close: never a hang.
        while stream.read_chunk() is not None:
            pass
        assert stream.peer_closes_within(5)
        cli.wait(timeout=15)

        response = kept.request("GET", "/_ping")
        assert_json_error(response, 502, "cannot reach the Docker engine")

        spare_engine.start()
        response = kept.request("GET", "/_ping")
        assert response.status == 200 and response.body == b"OK", response
        with HttpConnection(proxy.unix_path, timeout=15) as again:
            again.send(build_request("GET", "/v1.41/events"))
            assert again.read_head().status == 200
    finally:
        stop_process(cli)
        kept.close()
        stream.close()
    assert proxy.proc.poll() is None
