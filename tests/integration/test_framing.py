"""HTTP framing between clients, the proxy and the daemon (issue 25): `Expect: 100-continue`,
the daemon's interim answers, trailer fields, pipelining and concurrent clients. An answer must
never reach a client it was not meant for, and the daemon must get the head the policy decided on.

Against the real engine; the daemon's interim answers come from a fake daemon, since Docker
only sends them when asked to with Expect, which the proxy no longer forwards."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from proxytest import (TEST_IMAGE, TEST_LABEL, HttpConnection, PeerClosed, assert_json_error,
                       build_request, docker, http, random_suffix, write_policy)
from test_faults import FakeDaemon

CREATE_POLICY = """
rules:
  - {name: reads, methods: [GET, HEAD], action: allow}
  - {name: create, methods: POST, path: /containers/create, action: allow}
"""


@pytest.fixture
def creator(proxy_factory, policy_dir):
    return proxy_factory("--policy", write_policy(policy_dir, CREATE_POLICY))


@pytest.fixture
def created():
    names: list = []
    yield names
    if names:
        docker("rm", "-f", *names, timeout=120)


def create_body(run: str) -> bytes:
    return json.dumps({"Image": TEST_IMAGE, "Cmd": ["true"],
                       "Labels": {TEST_LABEL: run}}).encode()


def read_interim(connection: HttpConnection, seconds: float) -> bytes:
    """The first head on the connection, raw: a 1xx is not skipped here."""
    connection.settimeout(seconds)
    while b"\r\n\r\n" not in connection.buffer:
        connection._fill()
    head, connection.buffer = connection.buffer.split(b"\r\n\r\n", 1)
    connection.settimeout(15)
    return head


def test_the_proxy_answers_100_continue_itself_and_answers_never_cross(creator, created):
    """Before: Expect reached the engine, whose 100 was taken for the answer; the 201 stayed on
    the pooled connection and became the answer to the next client's GET /version."""
    run = random_suffix()
    for attempt in range(3):
        name = f"spt-expect-{run}-{attempt}"
        created.append(name)
        body = create_body(run)
        with HttpConnection(creator.unix_path) as writer:
            writer.send(build_request("POST", f"/v1.41/containers/create?name={name}",
                                      [("Content-Type", "application/json"),
                                       ("Expect", "100-continue"),
                                       ("Content-Length", str(len(body)))]))
            # A client that waits for the 100 before it sends the body gets it at once.
            assert read_interim(writer, 2.0) == b"HTTP/1.1 100 Continue"
            writer.send(body)
            answer = writer.read_response()
            assert answer.status == 201, answer
            assert "Id" in answer.json()
            assert writer.request("GET", "/_ping").body == b"OK"
        # The next client on the pooled daemon connection gets its own answer.
        version = http(creator.unix_path, "GET", "/v1.41/version")
        assert version.status == 200, version
        assert "ApiVersion" in version.json(), version
        assert docker("inspect", "--type", "container", name).returncode == 0


def test_a_refused_request_that_expects_100_gets_no_100(creator):
    body = b'{"Image": "x"}'
    with HttpConnection(creator.unix_path) as client:
        client.send(build_request("POST", "/v1.41/containers/c1/stop",
                                  [("Expect", "100-continue"), ("Content-Length", str(len(body)))]))
        head = read_interim(client, 5.0)
        assert head.startswith(b"HTTP/1.1 403 "), head


def test_an_expectation_other_than_100_continue_is_417(creator):
    response = http(creator.unix_path, "POST", "/v1.41/containers/create",
                    headers=[("Content-Type", "application/json"), ("Expect", "202-accepted")],
                    body=create_body("unused"))
    assert_json_error(response, 417, "Expect")


def chunked_with_trailer(body: bytes, trailer: list) -> bytes:
    trailer_text = "".join(f"{name}: {value}\r\n" for name, value in trailer)
    return b"%x\r\n%s\r\n0\r\n%s\r\n" % (len(body), body, trailer_text.encode())


def test_trailer_fields_of_a_held_body_never_reach_the_engine(creator, created):
    """Before: the trailer's Host was merged into the forwarded head; the engine refused the
    request for its two Host fields (and would have taken X-Registry-Auth or Expect)."""
    name = f"spt-trailer-{random_suffix()}"
    created.append(name)
    head = build_request("POST", f"/v1.41/containers/create?name={name}",
                         [("Content-Type", "application/json"),
                          ("Transfer-Encoding", "chunked")])
    with HttpConnection(creator.unix_path) as client:
        client.send(head + chunked_with_trailer(
            create_body("trailer"), [("Host", "evil.example"), ("Expect", "100-continue"),
                                     ("X-Registry-Auth", "e30=")]))
        answer = client.read_response()
        assert answer.status == 201, answer
        # The connection is in step: the next answer on it is the next request's.
        assert client.request("GET", "/v1.41/version").json().get("ApiVersion")


@pytest.fixture
def fake_daemon():
    daemon = InterimFakeDaemon()
    yield daemon
    daemon.close()


class InterimFakeDaemon(FakeDaemon):
    """Answers `interim` with a 100 and a 103 before its 200, `switch` with a 101 nobody asked
    for."""

    def _answer(self, connection, target):
        if "/interim/" in target:
            connection.sendall(b"HTTP/1.1 100 Continue\r\n\r\n"
                               b"HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n")
            time.sleep(0.3)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal")
            return True
        if "/switch/" in target:
            connection.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: tcp\r\n"
                               b"Connection: Upgrade\r\n\r\nraw bytes")
            return False
        return super()._answer(connection, target)


def test_interim_answers_of_the_daemon_are_not_the_answer(proxy_factory, fake_daemon):
    proxy = proxy_factory(docker_socket=fake_daemon.path, tcp=False)
    with HttpConnection(proxy.unix_path) as client:
        client.send(build_request("GET", "/v1.41/containers/interim/logs"))
        head = read_interim(client, 5.0)
        assert head.startswith(b"HTTP/1.1 200 "), head
        assert client._take(5) == b"final"
        # Nothing of the daemon's interim answers is left for the next request.
        assert client.request("GET", "/_ping").body == b"OK"
    for _ in range(5):
        assert http(proxy.unix_path, "GET", "/_ping").body == b"OK"


def test_a_101_nobody_asked_for_is_a_502(proxy_factory, fake_daemon):
    proxy = proxy_factory(docker_socket=fake_daemon.path, tcp=False)
    response = http(proxy.unix_path, "GET", "/v1.41/containers/switch/logs", timeout=10)
    assert_json_error(response, 502)
    assert http(proxy.unix_path, "GET", "/_ping").body == b"OK"


def test_pipelined_requests_get_their_own_answers_in_order(creator, containers):
    first = containers.run("spt-pipe", ["sleep", "600"])
    second = containers.run("spt-pipe", ["sleep", "600"])
    with HttpConnection(creator.unix_path) as client:
        client.send(build_request("GET", f"/v1.41/containers/{first}/json")
                    + build_request("GET", "/v1.41/version")
                    + build_request("HEAD", "/_ping")
                    + build_request("GET", f"/v1.41/containers/{second}/json"))
        assert client.read_response().json()["Name"] == f"/{first}"
        assert "ApiVersion" in client.read_response().json()
        assert client.read_response("HEAD").status == 200
        assert client.read_response().json()["Name"] == f"/{second}"


def test_concurrent_clients_with_held_bodies_each_get_their_own_answer(creator, created,
                                                                       containers):
    """Writers that expect 100 and readers share the daemon connections of one pool."""
    names = [containers.run("spt-mine", ["sleep", "600"]) for _ in range(3)]
    run = random_suffix()
    problems: list = []

    def reader(name: str) -> None:
        with HttpConnection(creator.unix_path) as client:
            for _ in range(20):
                answer = client.request("GET", f"/v1.41/containers/{name}/json")
                if answer.status != 200 or answer.json().get("Name") != f"/{name}":
                    problems.append(f"{name} got {answer!r}")
                    return

    def writer(index: int, eager: bool) -> None:
        """An eager writer sends its body at once, as curl does when no 100 comes within 1 s."""
        with HttpConnection(creator.unix_path) as client:
            for attempt in range(4):
                name = f"spt-crowd-{run}-{index}-{attempt}"
                created.append(name)
                body = create_body(run)
                head = build_request("POST", f"/v1.41/containers/create?name={name}",
                                     [("Content-Type", "application/json"),
                                      ("Expect", "100-continue"),
                                      ("Content-Length", str(len(body)))])
                if eager:
                    client.send(head + body)
                    answer = client.read_response()
                    if answer.status != 201 or "Id" not in answer.json():
                        problems.append(f"{name} got {answer!r}")
                        return
                    continue
                client.send(head)
                try:
                    interim = read_interim(client, 5.0)
                except (PeerClosed, socket.timeout) as error:
                    problems.append(f"{name}: no interim answer: {error}")
                    return
                if interim != b"HTTP/1.1 100 Continue":
                    problems.append(f"{name}: interim {interim!r}")
                    return
                client.send(body)
                answer = client.read_response()
                if answer.status != 201 or "Id" not in answer.json():
                    problems.append(f"{name} got {answer!r}")
                    return

    def recorded(work, *args) -> None:
        try:
            work(*args)
        except Exception as error:  # a thread's exception would otherwise pass unseen
            problems.append(f"{work.__name__}{args}: {error!r}")

    threads = [threading.Thread(target=recorded, args=(reader, name)) for name in names]
    threads += [threading.Thread(target=recorded, args=(writer, index, index % 2 == 1))
                for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not problems, problems
