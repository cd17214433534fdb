"""HTTP plumbing against the real engine, independent of the policy: framing, keep-alive,
Connection: close, streams that outlive the timeout, shutdown with open streams."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
import urllib.parse

from proxytest import (DOCKER_SOCKET, HttpConnection, PeerClosed, build_request, docker, http,
                       random_suffix, raw_exchange)


def _event_filter(tag: str) -> str:
    return urllib.parse.quote(json.dumps({"label": [f"spt-event={tag}"]}))


def _wait_for_event(connection: HttpConnection, name: str, action: str, timeout: float):
    """Reads chunks of an open /events response until `action` for container `name` arrives."""
    deadline = time.monotonic() + timeout
    pending = b""
    seen = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None, seen
        connection.settimeout(remaining)
        try:
            chunk = connection.read_chunk()
        except TimeoutError:
            return None, seen
        except OSError:  # socket.timeout is an OSError subclass before 3.10
            return None, seen
        if chunk is None:
            raise AssertionError(f"the events stream ended; events so far: {seen}")
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            event = json.loads(line)
            seen.append(event)
            if event.get("Action") == action and \
                    event.get("Actor", {}).get("Attributes", {}).get("name") == name:
                return event, seen


def test_content_length_response(proxy):
    with HttpConnection(proxy.unix_path) as connection:
        response = connection.request("GET", "/_ping")
    assert response.status == 200, response
    assert response.header("Content-Length") == "2", response
    assert response.header("Transfer-Encoding") is None, response
    assert response.body == b"OK"


def test_chunked_response_then_keep_alive(proxy, containers):
    tag = random_suffix()
    since = int(time.time()) - 1
    name = containers.run("spt-chunked", ["true"], start=False, labels={"spt-event": tag})
    until = int(time.time()) + 1  # the daemon ends the response at `until`
    with HttpConnection(proxy.unix_path, timeout=20) as connection:
        response = connection.request(
            "GET", f"/v1.41/events?since={since}&until={until}&filters={_event_filter(tag)}")
        assert response.status == 200, response
        assert HttpConnection.is_chunked(response), f"expected a chunked answer: {response!r}"
        events = [json.loads(line) for line in response.body.splitlines() if line.strip()]
        assert any(event.get("Action") == "create" and
                   event["Actor"]["Attributes"].get("name") == name for event in events), events
        again = connection.request("GET", "/_ping")
        assert again.status == 200 and again.body == b"OK", again


def test_connection_close_is_honoured(proxy, transport):
    with HttpConnection(proxy.address(transport)) as connection:
        response = connection.request("GET", "/_ping", headers={"Connection": "close"})
        assert response.status == 200, response
        assert connection.peer_closes_within(2), "the proxy kept the connection open"


def test_http_1_0_is_answered_and_closed(proxy):
    with HttpConnection(proxy.unix_path) as connection:
        response = connection.request("GET", "/_ping", version="HTTP/1.0")
        assert response.status == 200, response
        assert response.body == b"OK"
        assert connection.peer_closes_within(2), "HTTP/1.0 without keep-alive was left open"


def test_request_bodies_are_framed(proxy):
    """A GET with a body (sized and chunked): the next request on the connection still works."""
    with HttpConnection(proxy.unix_path) as connection:
        sized = connection.request("GET", "/_ping", headers={"Content-Length": "5"}, body=b"hello")
        assert sized.status == 200, sized
        connection.send(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b"5\r\nhello\r\n0\r\n\r\n")
        chunked = connection.read_response()
        assert chunked.status == 200, chunked
        last = connection.request("GET", "/v1.41/version")
        assert last.status == 200 and "ApiVersion" in last.json(), last


def test_events_outlive_the_timeout(proxy_factory, containers):
    """--timeout bounds the connect and the response head, never a flowing response."""
    proxy = proxy_factory("--timeout", "2s")
    tag = random_suffix()
    with HttpConnection(proxy.unix_path, timeout=20) as connection:
        connection.send(build_request("GET", f"/v1.41/events?filters={_event_filter(tag)}"))
        head = connection.read_head()
        assert head.status == 200, head
        assert HttpConnection.is_chunked(head), head
        time.sleep(6)
        assert not connection.peer_closes_within(0.2), \
            "the proxy closed the events stream after --timeout 2s"
        name = containers.run("spt-late", ["true"], start=False, labels={"spt-event": tag})
        try:
            event, seen = _wait_for_event(connection, name, "create", timeout=10)
        except PeerClosed as closed:
            raise AssertionError(f"the events stream was closed: {closed}") from None
        assert event is not None, f"no create event 6 s after --timeout 2s; got {seen}"


def test_sigterm_with_an_open_stream(proxy_factory):
    proxy = proxy_factory()
    with HttpConnection(proxy.unix_path, timeout=10) as connection:
        connection.send(build_request("GET", "/v1.41/events"))
        head = connection.read_head()
        assert head.status == 200, head
        started = time.monotonic()
        returncode = proxy.stop(timeout=2)
        assert returncode is not None, "socket-proxy did not exit within 2 s of SIGTERM " \
                                       "while an events stream was open"
        assert returncode == 0, f"socket-proxy exited with {returncode} after SIGTERM"
        assert time.monotonic() - started < 2.5
        assert connection.peer_closes_within(2), "the client connection outlived the proxy"


def test_large_response_is_relayed_whole(proxy, containers):
    """13 MB of logs: more than any default body limit (Beast: 8 MB), relayed byte for byte."""
    line = "0123456789abcdef" * 4
    name = containers.run("spt-large", ["sh", "-c", f"yes {line} | head -n 200000"])
    assert docker("wait", name, check=True).stdout.strip() == "0"
    target = f"/v1.41/containers/{name}/logs?stdout=1"
    # The daemon may still be copying the output into its log file just after the exit.
    direct = http(DOCKER_SOCKET, "GET", target, timeout=60)
    for _ in range(20):
        again = http(DOCKER_SOCKET, "GET", target, timeout=60)
        if again.body == direct.body:
            break
        direct = again
        time.sleep(0.5)
    assert direct.status == 200 and len(direct.body) > 13_000_000, direct
    through = http(proxy.unix_path, "GET", target, timeout=60)
    assert through.status == 200, through
    assert len(through.body) == len(direct.body)
    assert hashlib.sha256(through.body).digest() == hashlib.sha256(direct.body).digest()


def test_concurrent_clients(proxy, transport):
    address = proxy.address(transport)
    results = []

    def client():
        try:
            with HttpConnection(address, timeout=20) as connection:
                for target in ("/_ping", "/v1.41/containers/json", "/v1.41/version"):
                    results.append(connection.request("GET", target).status)
        except Exception as error:  # noqa: BLE001 - reported below
            results.append(repr(error))

    threads = [threading.Thread(target=client) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == [200] * 120, sorted(map(str, results))


def test_oversized_request_head_is_refused_and_harmless(proxy):
    request = b"GET /_ping HTTP/1.1\r\nHost: docker\r\nX-Big: " + b"a" * (1024 * 1024) + b"\r\n\r\n"
    received = raw_exchange(proxy.unix_path, request, seconds=5)
    if received:
        status = received.split(b"\r\n", 1)[0]
        assert status.split(b" ")[1] in (b"400", b"431"), received[:300]
    response = http(proxy.unix_path, "GET", "/_ping")
    assert response.status == 200, response


def test_head_and_get_alternate_on_pooled_daemon_connections(proxy):
    """A HEAD answer has a Content-Length but no body: reading one would desync the pool."""
    with HttpConnection(proxy.unix_path) as connection:
        for _ in range(3):
            head = connection.request("HEAD", "/_ping")
            get = connection.request("GET", "/_ping")
            assert head.status == 200 and head.body == b"", head
            assert get.status == 200 and get.body == b"OK", get
    for _ in range(3):
        assert http(proxy.unix_path, "HEAD", "/_ping").status == 200
        get = http(proxy.unix_path, "GET", "/_ping")
        assert get.status == 200 and get.body == b"OK", get


def test_client_half_close_still_gets_the_answer(proxy):
    """`printf 'GET ...' | nc -N -U docker.sock`: the client shuts its write side after the request."""
    with HttpConnection(proxy.unix_path, timeout=10) as connection:
        connection.send(build_request("GET", "/v1.41/version", headers={"Connection": "close"}))
        connection.sock.shutdown(socket.SHUT_WR)
        response = connection.read_response()
    assert response.status == 200, response
    assert "ApiVersion" in response.json()
