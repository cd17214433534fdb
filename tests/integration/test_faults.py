"""Faults from the daemon's side, injected by a scripted fake daemon on a unix socket.

The fake answers by the container name in the target (GET /v1.41/containers/<mode>/logs passes
the read-only policy, and unlike /json is not an answer the proxy holds to redact): `stall` never answers, `drop` closes mid-head, `garbage` is not HTTP,
`trickle` streams a chunk every 0.25 s, `late` is silent for 3 s after its head, `slow` answers after 0.3 s, `stray` answers twice, `silent`
never sends a body, `lying` answers inspect with broken JSON; `long` is a 1 MiB answer of known
length sent in pieces (long enough to be spliced), `short` promises 1 MiB and closes after
400 KB, `endless` promises 64 MiB and trickles until the proxy hangs up. Anything else gets a
/_ping-like 200."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest

from proxytest import (HttpConnection, assert_json_error, build_request, docker_socket_gid, http,
                       is_root, write_policy)


# Every byte position distinguishable, so a reordered or repeated piece shows.
LONG_BODY = b"".join(b"%08d" % n for n in range(131_072 + 3))


class FakeDaemon:
    def __init__(self, idle_close_after: float | None = None, close_after_answer: bool = False):
        self.directory = Path(tempfile.mkdtemp(prefix="spt-fake-", dir="/tmp"))
        os.chmod(self.directory, 0o755)
        self.path = str(self.directory / "docker.sock")
        self.idle_close_after = idle_close_after
        # Closes each connection right after its answer, although the answer said keep-alive.
        self.close_after_answer = close_after_answer
        self.requests: list = []
        self.client_left_silent_stream = threading.Event()
        self.client_left_long_answer = threading.Event()
        self.stall_released = threading.Event()
        self.closing = threading.Event()
        self.connections: list = []
        self.lock = threading.Lock()
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        if is_root():
            # Like the real socket: root:docker 0660, reachable after the proxy drops to 1000.
            os.chown(self.path, 0, docker_socket_gid())
        os.chmod(self.path, 0o660)
        self.server.listen(64)
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.closing.set()
        self.stall_released.set()
        try:
            self.server.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.server.close()
        self.drop_connections()
        with self.lock:
            for connection in self.connections:
                connection.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def drop_connections(self) -> None:
        """Closes every connection so far, as a restarting engine does, and keeps listening."""
        with self.lock:
            for connection in self.connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _accept_loop(self) -> None:
        while not self.closing.is_set():
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            with self.lock:
                self.connections.append(connection)
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    @staticmethod
    def _read_request(connection: socket.socket, buffer: bytes, timeout: float | None):
        connection.settimeout(timeout)
        while b"\r\n\r\n" not in buffer:
            try:
                data = connection.recv(65536)
            except (socket.timeout, OSError):
                return None, buffer
            if not data:
                return None, buffer
            buffer += data
        head, buffer = buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        while len(buffer) < length:
            data = connection.recv(65536)
            if not data:
                return None, buffer
            buffer += data
        return lines[0], buffer[length:]

    @staticmethod
    def _wait_for_peer_close(connection: socket.socket, limit: float) -> bool:
        connection.settimeout(limit)
        try:
            while True:
                data = connection.recv(65536)
                if not data:
                    return True
        except ConnectionResetError:
            return True
        except (socket.timeout, OSError):
            return False

    def _serve(self, connection: socket.socket) -> None:
        buffer = b""
        try:
            while True:
                request_line, buffer = self._read_request(connection, buffer,
                                                          self.idle_close_after)
                if request_line is None:
                    return
                self.requests.append(request_line)
                target = request_line.split(" ")[1] if " " in request_line else ""
                if not self._answer(connection, target) or self.close_after_answer:
                    return
        except OSError:
            return  # the proxy went away mid-answer: that is its right
        finally:
            try:
                connection.close()
            except OSError:
                pass

    def _answer(self, connection: socket.socket, target: str) -> bool:
        """Answers one request; False when the connection is finished."""
        stream_head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\n")
        if "/stall/" in target:
            self._wait_for_peer_close(connection, 60)
            return False
        if "/drop/" in target:
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: appl")
            return False
        if "/garbage/" in target:
            connection.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
            return False
        if "/trickle/" in target:
            connection.sendall(stream_head)
            for number in range(8):
                time.sleep(0.25)
                line = f'{{"n":{number}}}\n'.encode()
                connection.sendall(b"%x\r\n%s\r\n" % (len(line), line))
            connection.sendall(b"0\r\n\r\n")
            return True
        if "/late/" in target:
            connection.sendall(stream_head)
            time.sleep(3)
            line = b'{"late":true}\n'
            connection.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(line), line))
            return True
        if "/stray/" in target:
            # Answers, then answers again: as an engine would a second request smuggled in the
            # first one's body.
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
            time.sleep(0.05)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nSTRAY")
            return True
        if "/slow/" in target:
            time.sleep(0.3)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
            return True
        if "/lying/" in target:
            # An inspect answer that claims JSON and is not: it cannot be redacted.
            body = b'{"Config": {"Env": ["DB_PASSWORD=hunter2"'
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                               b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            return True
        if "/long/" in target:
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                               b"Content-Length: %d\r\n\r\n" % len(LONG_BODY))
            for start in range(0, len(LONG_BODY), 300_000):
                connection.sendall(LONG_BODY[start:start + 300_000])
                time.sleep(0.05)
            return True
        if "/short/" in target:
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(LONG_BODY))
            connection.sendall(LONG_BODY[:400_000])
            return False
        if "/endless/" in target:
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (64 << 20))
            connection.settimeout(10)
            try:
                for _ in range(2000):
                    connection.sendall(LONG_BODY[:65536])
                    time.sleep(0.01)
            except OSError:
                self.client_left_long_answer.set()
            return False
        if "/silent/" in target:
            connection.sendall(stream_head)
            if self._wait_for_peer_close(connection, 30):
                self.client_left_silent_stream.set()
            return False
        connection.sendall(b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: text/plain; "
                           b"charset=utf-8\r\nContent-Length: 2\r\n\r\nOK")
        return True


@pytest.fixture
def fake_daemon():
    daemon = FakeDaemon()
    yield daemon
    daemon.close()


def _target(mode: str) -> str:
    return f"/v1.41/containers/{mode}/logs"


def _still_serving(proxy) -> None:
    response = http(proxy.unix_path, "GET", "/_ping", timeout=10)
    assert response.status == 200 and response.body == b"OK", \
        f"the proxy does not serve after the fault: {response!r}"


def test_stalled_daemon_gives_504_after_timeout(proxy_factory, fake_daemon):
    proxy = proxy_factory("--timeout", "1s", docker_socket=fake_daemon.path)
    started = time.monotonic()
    response = http(proxy.unix_path, "GET", _target("stall"), timeout=15)
    elapsed = time.monotonic() - started
    assert_json_error(response, 504)
    assert 0.8 <= elapsed <= 3.5, f"504 after {elapsed:.2f} s with --timeout 1s"
    _still_serving(proxy)


def test_daemon_closing_mid_head_gives_502(proxy_factory, fake_daemon):
    proxy = proxy_factory("--timeout", "5s", docker_socket=fake_daemon.path)
    response = http(proxy.unix_path, "GET", _target("drop"), timeout=15)
    assert_json_error(response, 502)
    _still_serving(proxy)


def test_daemon_sending_garbage_gives_502(proxy_factory, fake_daemon):
    proxy = proxy_factory("--timeout", "5s", docker_socket=fake_daemon.path)
    response = http(proxy.unix_path, "GET", _target("garbage"), timeout=15)
    assert_json_error(response, 502)
    _still_serving(proxy)


def test_refused_connection_gives_502_naming_the_socket(proxy_factory):
    directory = Path(tempfile.mkdtemp(prefix="spt-refuse-", dir="/tmp"))
    os.chmod(directory, 0o755)
    path = str(directory / "docker.sock")
    bound = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    bound.bind(path)  # bound, never listening: connect() is refused
    os.chmod(path, 0o666)
    try:
        proxy = proxy_factory(docker_socket=path)
        response = http(proxy.unix_path, "GET", "/_ping", timeout=15)
        assert_json_error(response, 502, path)
    finally:
        bound.close()
        shutil.rmtree(directory, ignore_errors=True)


def test_a_stalled_request_does_not_block_others(proxy_factory, fake_daemon):
    proxy = proxy_factory("--timeout", "30s", docker_socket=fake_daemon.path)
    with HttpConnection(proxy.unix_path, timeout=30) as stalled:
        stalled.send(build_request("GET", _target("stall")))
        time.sleep(0.3)
        response = http(proxy.unix_path, "GET", "/_ping", timeout=10)
        assert response.status == 200, response


def test_flowing_stream_outlives_the_timeout(proxy_factory, fake_daemon):
    proxy = proxy_factory("--timeout", "1s", docker_socket=fake_daemon.path)
    with HttpConnection(proxy.unix_path, timeout=10) as connection:
        connection.send(build_request("GET", _target("trickle")))
        head = connection.read_head()
        assert head.status == 200, head
        arrivals = []
        body = b""
        while (chunk := connection.read_chunk()) is not None:
            arrivals.append(time.monotonic())
            body += chunk
    assert body.count(b"\n") == 8, f"stream cut short: {body!r}"
    # 8 chunks 0.25 s apart: relayed one by one, not collected until the end.
    assert arrivals[-1] - arrivals[0] >= 1.0, "the chunks arrived in one burst"


def test_silence_after_the_head_is_not_a_timeout(proxy_factory, fake_daemon):
    proxy = proxy_factory("--timeout", "1s", docker_socket=fake_daemon.path)
    with HttpConnection(proxy.unix_path, timeout=10) as connection:
        response = connection.request("GET", _target("late"))
    assert response.status == 200, response
    assert response.body == b'{"late":true}\n'


def test_client_leaving_a_silent_stream_closes_the_daemon_side(proxy_factory, fake_daemon):
    proxy = proxy_factory(docker_socket=fake_daemon.path)
    connection = HttpConnection(proxy.unix_path, timeout=10)
    connection.send(build_request("GET", _target("silent")))
    head = connection.read_head()
    assert head.status == 200, head
    connection.close()
    assert fake_daemon.client_left_silent_stream.wait(5), \
        "the proxy kept the daemon connection open after its client left"
    _still_serving(proxy)


def test_daemon_closing_idle_pooled_connections_is_not_an_error(proxy_factory):
    """The daemon may close an idle keep-alive connection at any time: that is no 502."""
    daemon = FakeDaemon(idle_close_after=0.3)
    try:
        proxy = proxy_factory("--keepalive", "30s", docker_socket=daemon.path)
        for _ in range(3):
            response = http(proxy.unix_path, "GET", "/_ping", timeout=10)
            assert response.status == 200, response
            time.sleep(0.8)
    finally:
        daemon.close()


def test_a_connection_the_daemon_closed_right_after_its_answer_is_no_error(proxy_factory):
    # A GET takes a pooled connection released moments ago without peeking at it first (bench/:
    # one syscall less per request); when the daemon has closed it meanwhile, the GET goes
    # again on a new connection. Whatever else arrives peeks first and is never lost either.
    daemon = FakeDaemon(close_after_answer=True)
    try:
        proxy = proxy_factory("--keepalive", "30s", docker_socket=daemon.path)
        with HttpConnection(proxy.unix_path, timeout=10) as connection:
            for _ in range(20):
                response = connection.request("GET", "/_ping")
                assert response.status == 200 and response.body == b"OK", response
                head = connection.request("HEAD", "/_ping")
                assert head.status == 200, head
        assert len(daemon.requests) == 40, daemon.requests
    finally:
        daemon.close()


def test_after_the_daemon_dropped_every_pooled_connection_a_get_still_gets_through(
        proxy_factory):
    # An engine restart leaves the pool full of dead connections, all of them just released.
    # The GET's first try trusts one; its second must check, or it too takes a dead one: 502.
    daemon = FakeDaemon()
    try:
        proxy = proxy_factory("--keepalive", "30s", "--threads", "1", docker_socket=daemon.path)
        opened_at_start = len(daemon.connections)
        clients = [HttpConnection(proxy.unix_path, timeout=10) for _ in range(4)]
        for client in clients:
            client.send(build_request("GET", _target("slow")))
        for client in clients:
            assert client.read_response().status == 200
        assert len(daemon.connections) == opened_at_start + 4, \
            "four answers at once take four connections"
        daemon.drop_connections()
        response = clients[0].request("GET", "/_ping")
        assert response.status == 200 and response.body == b"OK", response
        assert len(daemon.connections) == opened_at_start + 5, "the GET went on a new connection"
        for client in clients:
            client.close()
    finally:
        daemon.close()


def test_a_second_answer_after_a_request_body_never_reaches_the_next_request(proxy_factory,
                                                                            policy_dir):
    # A connection that carried a body is peeked at before reuse however recently it came back:
    # what arrives on it after its answer is a next answer out of step, and the connection goes.
    daemon = FakeDaemon()
    try:
        policy = write_policy(policy_dir, "rules:\n  - {name: ping, path: /_ping, action: allow}\n"
                                          "  - {name: stop, methods: POST, "
                                          "path: \"/containers/{id}/stop\", action: allow}\n")
        proxy = proxy_factory("--policy", policy, "--keepalive", "30s", "--threads", "1",
                              docker_socket=daemon.path)
        with HttpConnection(proxy.unix_path, timeout=10) as connection:
            posted = connection.request("POST", "/v1.41/containers/stray/stop", body=b"{}",
                                        headers=[("Content-Type", "application/json")])
            assert posted.status == 200 and posted.body == b"OK", posted
            time.sleep(0.08)  # the stray answer has arrived; the connection is 80 ms idle
            pinged = connection.request("GET", "/_ping")
            assert pinged.status == 200 and pinged.body == b"OK", pinged
    finally:
        daemon.close()


def test_an_answer_that_cannot_be_redacted_is_never_forwarded(proxy_factory, fake_daemon):
    proxy = proxy_factory(docker_socket=fake_daemon.path)
    response = http(proxy.unix_path, "GET", "/v1.41/containers/lying/json", timeout=10)
    assert_json_error(response, 502, "cannot be redacted", "nothing was forwarded")
    assert b"hunter2" not in response.body
    _still_serving(proxy)


def test_a_scoped_lookup_the_proxy_cannot_read_is_a_502(proxy_factory, fake_daemon, policy_dir):
    # Under a label-scoped rule the proxy first asks which container "lying" is; an answer it
    # cannot read decides nothing, and the request itself never reaches the daemon.
    policy = write_policy(policy_dir, "rules:\n  - {name: ping, path: /_ping, action: allow}\n"
                                      "  - {name: scoped, methods: GET, container_labels: [a=b], "
                                      "action: allow}\n")
    proxy = proxy_factory("--policy", policy, docker_socket=fake_daemon.path)
    response = http(proxy.unix_path, "GET", "/v1.41/containers/lying/logs?stdout=1", timeout=10)
    assert_json_error(response, 502, "not JSON the proxy can read", "nothing was forwarded")
    assert any("/containers/lying/json" in line for line in fake_daemon.requests)
    assert not any("/logs" in line for line in fake_daemon.requests), fake_daemon.requests
    _still_serving(proxy)


def test_head_of_a_redacted_route_does_not_tell_the_secrets_length(proxy_factory, fake_daemon):
    # Docker answers HEAD on inspect 404, but an upstream that routes it (the fake answers 200
    # with a length) must not reveal how long the unredacted answer is.
    proxy = proxy_factory(docker_socket=fake_daemon.path)
    secret_route = http(proxy.unix_path, "HEAD", "/v1.41/containers/any/json", timeout=10)
    assert secret_route.status == 200 and secret_route.header("Content-Length") is None, \
        secret_route
    plain_route = http(proxy.unix_path, "HEAD", "/v1.41/containers/any/logs", timeout=10)
    assert plain_route.status == 200 and plain_route.header("Content-Length") == "2", plain_route


def test_a_long_answer_arrives_whole_and_both_connections_stay_usable(proxy_factory, fake_daemon):
    # Past 256 KiB an answer of known length is spliced: exactly its bytes, and then the
    # client's and the daemon's connections both carry the next request.
    proxy = proxy_factory(docker_socket=fake_daemon.path)
    with HttpConnection(proxy.unix_path, timeout=10) as connection:
        response = connection.request("GET", _target("long"))
        assert response.status == 200, response
        assert response.header("Content-Length") == str(len(LONG_BODY))
        assert response.body == LONG_BODY
        opened = len(fake_daemon.connections)
        again = connection.request("GET", "/_ping")
        assert again.status == 200 and again.body == b"OK", again
    assert len(fake_daemon.connections) == opened, \
        "the daemon connection was not reused after the long answer"


def test_a_long_answer_cut_short_ends_the_client_connection(proxy_factory, fake_daemon):
    proxy = proxy_factory(docker_socket=fake_daemon.path)
    connection = HttpConnection(proxy.unix_path, timeout=10)
    connection.send(build_request("GET", _target("short")))
    head = connection.read_head()
    assert head.status == 200 and head.header("Content-Length") == str(len(LONG_BODY)), head
    received = connection.buffer
    while True:
        data = connection.sock.recv(65536)
        if not data:
            break
        received += data
    connection.close()
    assert received == LONG_BODY[:400_000], \
        f"{len(received)} bytes arrived, not the 400,000 the daemon sent before it closed"
    _still_serving(proxy)
    assert proxy.wait_for_log(lambda line: "daemon: End of file" in line), proxy.log[-2000:]


def test_client_leaving_a_long_answer_closes_the_daemon_side(proxy_factory, fake_daemon):
    proxy = proxy_factory(docker_socket=fake_daemon.path)
    connection = HttpConnection(proxy.unix_path, timeout=10)
    connection.send(build_request("GET", _target("endless")))
    head = connection.read_head()
    assert head.status == 200, head
    while len(connection.buffer) < 300_000:
        connection._fill()
    connection.close()
    assert fake_daemon.client_left_long_answer.wait(10), \
        "the proxy kept reading the daemon's answer after its client left"
    _still_serving(proxy)
