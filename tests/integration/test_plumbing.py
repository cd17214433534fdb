"""HTTP plumbing against the real engine, independent of the policy: framing, keep-alive,
Connection: close, streams that outlive the timeout, shutdown with open streams."""

from __future__ import annotations

import json
import time
import urllib.parse

from proxytest import HttpConnection, PeerClosed, build_request, random_suffix


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


def test_sigterm_with_an_open_stream(proxy_factory, containers):
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
