"""Raw HTTP over the proxy's sockets: the default read-only policy against the real engine.

Each bypass target below reaches a sensitive handler on the real daemon (docs in
shared/docker-api.md): the proxy must answer 403 or 400 itself, never pass it on."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from proxytest import (TEST_IMAGE, Containers, HttpConnection, assert_json_error,
                       build_request, http, raw_exchange)

C = "{c}"  # replaced by the running test container's name
IMAGE = TEST_IMAGE  # contains a slash: socket-proxy-test/busybox:latest

BYPASS_TARGETS = [
    ("GET", f"/containers/{C}/export"),
    ("GET", f"/v1.41/containers/{C}/export"),
    ("GET", f"/v1.41.0/containers/{C}/export"),
    ("GET", f"/v01.41/containers/{C}/export"),
    ("GET", f"/v01.041/containers/{C}/export"),
    ("GET", f"/v1.41./containers/{C}/export"),
    ("GET", f"/v1.41..0/containers/{C}/export"),
    ("GET", f"/v1.99/containers/{C}/export"),
    ("GET", f"/v1.41/containers/{C}/export?x=/json"),
    ("GET", f"/v1.41/containers/{C}/%65xport"),
    ("GET", f"/v1.41/containers/{C}/expor%74"),
    ("GET", f"/v1.41/containers/{C}/%65%78%70%6F%72%74"),
    ("GET", f"/v1.41/containers/{C}%2Fexport"),
    ("GET", f"/v1.41/containers/{C}%2fexport"),
    ("GET", f"/containers%2F{C}%2Fexport"),
    ("GET", f"/v1.41%2Fcontainers%2F{C}%2Fexport"),
    ("GET", f"%2Fv1.41/containers/{C}/export"),
    ("GET", f"http://docker/v1.41/containers/{C}/export"),
    ("GET", f"HTTP://X/v1.41/containers/{C}/export"),
    ("GET", f"http:/v1.41/containers/{C}/export"),
    ("GET", f"x:/v1.41/containers/{C}/export"),
    ("GET", f"http://docker/v1.41/containers/{C}/%65xport"),
    ("GET", f"//containers/{C}/export"),
    ("GET", f"/v1.41//containers/{C}/export"),
    ("GET", f"/v1.41/containers/{C}//export"),
    ("GET", f"/v1.41/containers/{C}/./export"),
    ("GET", f"/v1.41/containers/x/../{C}/export"),
    ("GET", f"/v1.41/containers/x/%2e%2e/{C}/export"),
    ("GET", f"/v1.41/containers/x/..%2F{C}/export"),
    ("GET", f"/v1.41/containers/{C}/archive?path=/etc/passwd"),
    ("GET", f"/containers/{C}/ar%63hive?path=/etc/passwd"),
    ("GET", f"/v1.41/containers/{C}%2Farchive?path=/etc"),
    ("HEAD", f"/v1.41/containers/{C}/archive?path=/etc/passwd"),
    ("GET", f"/v1.41/containers/{C}/attach/ws?stream=1&stdout=1"),
    ("GET", f"/v1.41/containers/{C}/attach%2Fws?stream=1&stdout=1"),
    ("GET", "/secrets"),
    ("GET", "/v1.41/secrets"),
    ("GET", "/v1.41/se%63rets"),
    ("GET", "/se%63rets"),
    ("GET", "/v1.41/secrets/abc"),
    ("GET", "/configs"),
    ("GET", "/v1.41/configs/abc"),
    ("GET", "/v1.41/%63onfigs"),
    ("GET", "/swarm/unlockkey"),
    ("GET", "/v1.41/swarm/unlockkey"),
    ("GET", "/v1.41/swarm/unlock%6Bey"),
    ("GET", "/v1.41/swarm%2Funlockkey"),
    ("GET", f"/v1.41/images/{IMAGE}/get"),
    ("GET", "/v1.41/images/socket-proxy-test/busybox/get"),
    ("GET", "/v1.41/images/socket-proxy-test%2Fbusybox/get"),
    ("GET", f"/images/{IMAGE}/%67et"),
    ("GET", f"/images/get?names={urllib.parse.quote(IMAGE, safe='')}"),
    ("GET", f"/v1.41/images/get?names={urllib.parse.quote(IMAGE, safe='')}"),
    ("GET", "/v1.41/images/get"),
    ("GET", "/v1.41/images/g%65t"),
    ("GET", "/v1.41/images%2Fget"),
]


def _id(item):
    method, target = item
    return f"{method} {target}"


def _assert_not_served(response, method):
    """Refused by the proxy itself: a daemon's own 400 (or 301, 404) means the request got through."""
    assert response.status in (400, 403), f"expected 403 or 400 from the proxy, got {response!r}"
    assert response.header("X-Docker-Container-Path-Stat") is None, \
        f"archive metadata leaked: {response!r}"
    assert response.header("Server") is None or "Docker" not in response.header("Server"), \
        f"the daemon answered, not the proxy: {response!r}"
    assert b"ustar" not in response.body, "a tar stream came through"
    if method != "HEAD":
        fragment = "socket-proxy denied" if response.status == 403 else "socket-proxy"
        assert_json_error(response, response.status, fragment)


def _assert_refused_by_proxy(received: bytes, statuses=(400, 403, 405, 501, 505)) -> None:
    """Raw bytes back from the proxy: one refusal, as JSON from the proxy, nothing served."""
    assert b"ustar" not in received, "a container export came through"
    assert received, "the proxy closed the connection without an answer (expected a JSON 4xx)"
    head, _, body = received.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split(b" ")
    assert len(status_line) >= 2 and status_line[1].isdigit() and \
        int(status_line[1]) in statuses, f"expected a refusal, got {received[:300]!r}"
    assert b"application/json" in head.lower(), f"refusal is not JSON: {received[:300]!r}"
    assert b"socket-proxy" in body, f"not refused by the proxy: {received[:300]!r}"
    assert b" 200 " not in received, f"part of the request was served: {received[:300]!r}"


@pytest.mark.parametrize("item", BYPASS_TARGETS, ids=_id)
def test_sensitive_targets_are_refused(proxy, ticker, item):
    method, target = item
    target = target.replace(C, ticker.name)
    response = http(proxy.unix_path, method, target)
    _assert_not_served(response, method)


@pytest.mark.parametrize("target", ["/v1.41/containers/{c}/export", "/v1.41/se%63rets"])
def test_sensitive_targets_are_refused_over_tcp(proxy, ticker, target):
    response = http(proxy.tcp_address, "GET", target.replace(C, ticker.name))
    _assert_not_served(response, "GET")


def test_denial_message_names_method_path_and_rule(proxy, ticker):
    target = f"/v1.41/containers/{ticker.name}/export"
    response = http(proxy.unix_path, "GET", target)
    message = assert_json_error(response, 403, "socket-proxy denied GET")
    assert "/containers/" in message and "export" in message, message
    assert "(rule " in message and message.endswith(")"), message


@pytest.mark.parametrize("method,target", [
    ("POST", "/v1.41/containers/create"),
    ("DELETE", "/v1.41/containers/{c}?force=1"),
    ("PUT", "/v1.41/containers/{c}/archive?path=/tmp"),
    ("POST", "/v1.41/containers/{c}/stop?t=0"),
    ("POST", "/v1.41/containers/{c}/kill"),
    ("POST", "/v1.41/containers/{c}/exec"),
    ("PATCH", "/v1.41/containers/{c}"),
    ("OPTIONS", "/v1.41/containers/json"),
    ("POST", "/_ping"),
])
def test_writes_are_denied(proxy, victim, method, target):
    body = b"{}" if method in ("POST", "PUT", "PATCH") else b""
    response = http(proxy.unix_path, method, target.replace(C, victim),
                    headers={"Content-Type": "application/json"}, body=body)
    assert_json_error(response, 403, f"socket-proxy denied {method} ")
    assert Containers.running(victim), f"{method} through the proxy changed the container"


@pytest.mark.parametrize("method", ["get", "Get", "GET ", "G\x00T"])
def test_methods_are_case_sensitive_and_exact(proxy, ticker, method):
    request = (f"{method} /v1.41/containers/{ticker.name}/export HTTP/1.1\r\n"
               f"Host: docker\r\nConnection: close\r\n\r\n").encode("latin-1")
    _assert_refused_by_proxy(raw_exchange(proxy.unix_path, request))


@pytest.mark.parametrize("target", [
    "/v1.41/containers/{c}/%zzport",
    "/v1.41/containers/{c}/export%",
    "/v1.41/containers/{c}/export%6",
    "/_ping%",
    "/v1.41/containers/json%g0",
])
def test_malformed_targets_get_400(proxy, ticker, target):
    response = http(proxy.unix_path, "GET", target.replace(C, ticker.name))
    assert_json_error(response, 400, "socket-proxy")


@pytest.fixture(scope="module")
def look_alikes(containers):
    """Containers whose names contain sensitive words (created, not started)."""
    return [containers.run(prefix, ["true"], start=False)
            for prefix in ("my-configs-app", "secrets-export", "export")]


def test_container_names_with_sensitive_words_pass(proxy, look_alikes):
    for name in look_alikes:
        response = http(proxy.unix_path, "GET", f"/v1.41/containers/{name}/json")
        assert response.status == 200, f"GET /containers/{name}/json: {response!r}"
        assert response.json()["Name"] == f"/{name}"


@pytest.mark.parametrize("target", [
    "/containers/json?filters=" + urllib.parse.quote(json.dumps({"label": ["secrets"]})),
    "/v1.41/containers/json?all=1&filters=" + urllib.parse.quote(json.dumps({"name": ["export"]})),
    "/v1.41/images/json",
    "/images/json",
    f"/v1.41/images/{IMAGE}/json",
    "/v1.41/info",
    "/version",
    "/v1.41/containers/{c}/json?x=/export",
    "/v1.41/containers/{c}/logs?stdout=1&tail=1",
    "/v1.41/containers/{c}/top",
    "/v1.41/networks",
    "/v1.41/volumes",
    "/v1.41/system/df",
])
def test_ordinary_reads_pass(proxy, ticker, target):
    response = http(proxy.unix_path, "GET", target.replace(C, ticker.name))
    assert response.status == 200, response


def test_head_ping_passes_api_version(proxy, transport):
    response = http(proxy.address(transport), "HEAD", "/_ping")
    assert response.status == 200, response
    assert response.header("API-Version"), f"no API-Version header: {response!r}"


def test_get_ping(proxy, transport):
    response = http(proxy.address(transport), "GET", "/_ping")
    assert response.status == 200, response
    assert response.body == b"OK"
    assert response.header("API-Version")


def test_keep_alive_two_requests(proxy, transport):
    with HttpConnection(proxy.address(transport)) as connection:
        first = connection.request("GET", "/_ping")
        second = connection.request("GET", "/v1.41/version")
    assert first.status == 200 and first.body == b"OK", first
    assert second.status == 200, second
    assert "ApiVersion" in second.json()


def test_keep_alive_decides_every_request(proxy, ticker):
    """An allowed request must not open the connection for a later forbidden one."""
    with HttpConnection(proxy.unix_path) as connection:
        allowed = connection.request("GET", f"/v1.41/containers/{ticker.name}/json")
        assert allowed.status == 200, allowed
        denied = connection.request("GET", f"/v1.41/containers/{ticker.name}/export")
        _assert_not_served(denied, "GET")


def test_pipelined_requests_are_each_decided(proxy, ticker):
    with HttpConnection(proxy.unix_path) as connection:
        connection.send(build_request("GET", "/_ping") +
                        build_request("GET", f"/v1.41/containers/{ticker.name}/export") +
                        build_request("GET", "/_ping", headers={"Connection": "close"}))
        first = connection.read_response()
        assert first.status == 200 and first.body == b"OK", first
        second = connection.read_response()
        _assert_not_served(second, "GET")
        if (second.header("Connection") or "").lower() != "close":
            third = connection.read_response()
            assert third.status == 200, third
        assert b"ustar" not in connection.read_until_close()


def test_connection_stays_usable_after_a_denial(proxy, ticker):
    with HttpConnection(proxy.unix_path) as connection:
        denied = connection.request("GET", f"/v1.41/containers/{ticker.name}/export")
        _assert_not_served(denied, "GET")
        if (denied.header("Connection") or "").lower() == "close":
            assert connection.peer_closes_within(2), "said Connection: close but kept it open"
        else:
            again = connection.request("GET", "/_ping")
            assert again.status == 200, again


# Requests the daemon would accept but a proxy must refuse (shared/docker-api.md): each one
# hides a forbidden request behind a framing the proxy and daemon could read differently.
SMUGGLING = {
    "content-length-and-chunked":
        b"GET /_ping HTTP/1.1\r\nHost: docker\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        b"GET /v1.41/containers/{c}/export HTTP/1.1\r\nHost: docker\r\n\r\n",
    "bare-lf-line-ends":
        b"GET /_ping HTTP/1.1\nHost: docker\n\nGET /v1.41/containers/{c}/export HTTP/1.1\n"
        b"Host: docker\n\n",
    "folded-header":
        b"GET /_ping HTTP/1.1\r\nHost: docker\r\nX-A: a\r\n b\r\n\r\n",
    "http-1.2":
        b"GET /v1.41/containers/{c}/export HTTP/1.2\r\nHost: docker\r\n\r\n",
    "http2-preface":
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "two-content-lengths":
        b"GET /_ping HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\nContent-Length: 49\r\n\r\n"
        b"GET /v1.41/containers/{c}/export HTTP/1.1\r\nH: x\r\n\r\n",
    "two-hosts":
        b"GET http://docker/v1.41/containers/{c}/json HTTP/1.1\r\nHost: docker\r\nHost: evil\r\n\r\n",
    "host-with-space":
        b"GET /_ping HTTP/1.1\r\nHost: docker evil\r\n\r\n",
    "space-before-colon":
        b"GET /_ping HTTP/1.1\r\nHost: docker\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(SMUGGLING))
def test_ambiguous_framing_is_refused(proxy, ticker, name):
    request = SMUGGLING[name].replace(b"{c}", ticker.name.encode())
    received = raw_exchange(proxy.unix_path, request, seconds=3)
    _assert_refused_by_proxy(received, statuses=(400, 505))
