"""Soak: many clients, many streams, hostile requests and an engine restart, all at once.

Against a real engine of the test's own (spare_engine.py), so that it can be restarted in the
middle. Bounded: a fixed number of requests, a deadline on each, and the test's own timeout.

What it proves: every legitimate request got the right answer (or, while the engine was down,
the proxy's 502); every denied and malformed request got its 403 or 400; every stream ended
cleanly when the engine went; and afterwards the proxy holds as many descriptors as before and
about as much memory.

SOCKET_PROXY_SOAK_SCALE (default 1) scales the counts, for a quick run by hand;
SOCKET_PROXY_SOAK_THREADS (default auto, the proxy's own default) is the proxy's --threads.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import time
from dataclasses import dataclass, field

import pytest

from proxytest import SANITIZED  # ASan's quarantine keeps freed memory: no memory bounds then

SCALE = float(os.environ.get("SOCKET_PROXY_SOAK_SCALE", "1"))
THREADS = os.environ.get("SOCKET_PROXY_SOAK_THREADS", "auto")
CONNECTIONS = int(1000 * SCALE)
STREAMS = int(100 * SCALE)
REQUESTS = int(50_000 * SCALE)
MALFORMED_EVERY = 50          # one request in 50 is malformed, on a connection of its own
RESTART_AT = 0.4              # the engine restarts when this share of requests is done
REQUEST_TIMEOUT = 30.0
ENGINE_DOWN_BACKOFF = 0.05    # a client that got a 502 waits a little, as real ones do
KEEPALIVE_S = 1.0             # the proxy's --keepalive here: it closes connections idle this long
# The proxy's idle clock starts when it has written an answer, a little before this process
# reads it: past this much idleness a request could cross the proxy's close.
REUSE_IDLE_CONNECTION_S = KEEPALIVE_S * 0.5
# Descriptors the proxy may hold beyond its start (the pool sweeps idle ones within 1 s).
FD_SLACK = 0
# Asio keeps the state of every descriptor it ever watched (168 bytes) on a free list for
# reuse, never freeing it; scattered through the heap, each may pin one 4 KiB page that
# malloc_trim cannot return. So after a peak of N descriptors the heap may keep up to N pages:
# a plateau, which a second round must not raise. Per-connection state that leaked would.
PINNED_KIB_PER_PEAK_DESCRIPTOR = 4
# Measured: 3.6-4.1 KiB per peak descriptor over six soaks of the split and the previous session, the rest being malloc's own
# bookkeeping (arena headers, the trimmed top's remainder), which does not scale with clients.
HEAP_BOOKKEEPING_KIB = 512
# What each serving thread keeps for its next requests (Asio's 16 recycled frames and handlers
# of each kind, spare head blocks and relay buffers) lands in heap pages the first round's peak
# left fragmented: from round to round the heap moves by up to 660 KiB either way (soaks of
# 2026-12-05: 8,780 -> 8,276 -> 8,824 KiB). A leak moves one way only: the third round must
# stay within this of the highest before it.
SECOND_ROUND_GROWTH_KIB = 1024
LATER_ROUND_GROWTH_KIB = 512


def _rss_kib(pid: int, kind: str = "VmRSS") -> int:
    """VmRSS, or RssAnon (heap and stacks: what a leak grows) or RssFile (the binary's pages)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(f"{kind}:"):
                return int(line.split()[1])
    raise AssertionError(f"no {kind}")


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@dataclass
class Response:
    status: int
    headers: dict
    body: bytes


class Closed(Exception):
    pass


async def read_response(reader: asyncio.StreamReader, method: str) -> Response:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError) as error:
        raise Closed(str(error)) from error
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = b""
    try:
        if method == "HEAD" or status in (204, 304):
            pass
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    break
                parts.append(await reader.readexactly(size + 2))
            body = b"".join(part[:-2] for part in parts)
        elif "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        else:
            body = await reader.read()
    except (asyncio.IncompleteReadError, ConnectionError) as error:
        raise Closed(str(error)) from error
    return Response(status, headers, body)


def _json(response: Response):
    assert response.headers.get("content-type") == "application/json", response
    return json.loads(response.body)


def check_ping(response: Response) -> None:
    assert response.status == 200 and response.body == b"OK", response


def check_head_ping(response: Response) -> None:
    assert response.status == 200 and response.body == b"", response
    assert response.headers.get("api-version"), response


def check_version(response: Response) -> None:
    assert response.status == 200 and "ApiVersion" in _json(response), response


def check_list(response: Response) -> None:
    assert response.status == 200 and isinstance(_json(response), list), response


def denied_by(rule: str):
    def check(response: Response) -> None:
        assert response.status == 403, response
        assert f"(rule {rule})" in _json(response)["message"], response
    return check


# (method, target, check, legitimate): legitimate requests need the engine; denials do not.
MIX = [
    ("GET", "/_ping", check_ping, True),
    ("HEAD", "/_ping", check_head_ping, True),
    ("GET", "/v1.41/version", check_version, True),
    ("GET", "/v1.41/containers/json?all=1", check_list, True),
    ("GET", "/_ping", check_ping, True),
    ("POST", "/v1.41/containers/create", denied_by("read-only-methods"), False),
    ("GET", "/v1.41/containers/c1/%65xport", denied_by("deny-container-export"), False),
    ("GET", "/v1.41/se%63rets", denied_by("deny-secrets"), False),
    ("DELETE", "/v1.41/images/busybox", denied_by("read-only-methods"), False),
    ("GET", "/v1.41/images/json", check_list, True),
]

MALFORMED = [
    b"GET /a%zz HTTP/1.1\r\nHost: docker\r\n\r\n",
    b"GET /_ping HTTP/1.1\r\nHost: docker\r\nX-A: a\r\n b\r\n\r\n",
    b"GET /_ping\r\n",
    b"GET /_ping HTTP/1.1\r\nHost: docker\r\nContent-Length: 1\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"\x16\x03\x01\x00\x05hello\r\n",
    b"GET /_ping HTTP/1.1\r\nHost : docker\r\n\r\n",
]


def request_bytes(method: str, target: str) -> bytes:
    length = "Content-Length: 0\r\n" if method in ("POST", "DELETE") else ""
    return f"{method} {target} HTTP/1.1\r\nHost: docker\r\n{length}\r\n".encode()


@dataclass
class Tally:
    done: int = 0
    correct: int = 0
    denied: int = 0
    malformed: int = 0
    engine_down: int = 0          # 502/504 while the engine was restarting
    cut: int = 0                  # connection closed by the proxy while the engine was down
    failures: list = field(default_factory=list)
    restart_started: float = float("inf")
    restart_ended: float = float("inf")
    stream_ends: list = field(default_factory=list)

    def in_restart(self, started: float, finished: float) -> bool:
        # A request that overlapped the engine's absence, with a second's grace for the
        # pool to notice its connections died.
        return started <= self.restart_ended + 1.0 and finished >= self.restart_started

    def fail(self, what: str) -> None:
        if len(self.failures) < 20:
            self.failures.append(what)
        else:
            self.failures[-1] = f"... and more; last: {what}"


class Soak:
    def __init__(self, proxy, engine, requests: int = REQUESTS, restart: bool = True):
        self.proxy = proxy
        self.engine = engine
        self.tally = Tally()
        self.requests = requests
        self.next_index = 0
        self.restart_wanted = restart
        self.restart_task = None
        self.peak_fds = 0

    async def connect(self, number: int):
        if number % 5 == 0:
            return await asyncio.open_connection(*self.proxy.tcp_address)
        return await asyncio.open_unix_connection(self.proxy.unix_path)

    def take(self):
        if self.next_index >= self.requests:
            return None
        index = self.next_index
        self.next_index += 1
        if self.restart_wanted and self.restart_task is None and \
                index >= self.requests * RESTART_AT:
            self.restart_task = asyncio.ensure_future(self.restart())
        return index

    async def restart(self):
        self.tally.restart_started = time.monotonic()
        await asyncio.get_running_loop().run_in_executor(None, self.engine.restart)
        self.tally.restart_ended = time.monotonic()

    async def malformed(self, index: int) -> None:
        payload = MALFORMED[index % len(MALFORMED)]
        reader, writer = await self.connect(index)
        try:
            writer.write(payload)
            await writer.drain()
            response = await asyncio.wait_for(read_response(reader, "GET"), REQUEST_TIMEOUT)
            assert response.status == 400, response
            assert _json(response)["message"], response
            self.tally.malformed += 1
        except (AssertionError, Closed, asyncio.TimeoutError, ConnectionError) as error:
            self.tally.fail(f"malformed {payload[:40]!r}: {error!r}")
        finally:
            writer.close()

    async def worker(self, number: int) -> None:
        # A connection is opened when there is a request to send, and not reused once the
        # proxy may have closed it as idle, as HTTP clients do. Held open unused, it would meet
        # the proxy's head deadline (the first request's head must come within 10 s of the
        # connect) whenever this process is starved, which a busy proxy on two cores does.
        reader = writer = None
        connected = answered = 0.0
        served = 0

        def hang_up() -> None:
            nonlocal writer
            if writer is not None:
                writer.close()
                writer = None

        try:
            while (index := self.take()) is not None:
                if index % MALFORMED_EVERY == MALFORMED_EVERY - 1:
                    await self.malformed(index)
                    self.tally.done += 1
                    continue
                method, target, check, legitimate = MIX[index % len(MIX)]
                if writer is not None and time.monotonic() - answered > REUSE_IDLE_CONNECTION_S:
                    hang_up()
                if writer is None:
                    reader, writer = await self.connect(number)
                    connected = answered = time.monotonic()
                    served = 0
                started = time.monotonic()
                served += 1
                try:
                    writer.write(request_bytes(method, target))
                    await writer.drain()
                    response = await asyncio.wait_for(read_response(reader, method),
                                                      REQUEST_TIMEOUT)
                except (Closed, ConnectionError) as error:
                    finished = time.monotonic()
                    if legitimate and self.tally.in_restart(started, finished):
                        self.tally.cut += 1
                    else:
                        self.tally.fail(f"{method} {target}: connection lost: {error!r} after "
                                        f"{finished - started:.2f} s, request {served} on a "
                                        f"connection opened {started - connected:.2f} s before, "
                                        f"sent {started - answered:.2f} s after the last answer")
                    hang_up()
                    self.tally.done += 1
                    continue
                except asyncio.TimeoutError:
                    self.tally.fail(f"{method} {target}: no answer within {REQUEST_TIMEOUT} s")
                    hang_up()
                    self.tally.done += 1
                    continue
                finished = answered = time.monotonic()
                self.tally.done += 1
                closing = response.headers.get("connection", "").lower() == "close"
                if (legitimate and response.status in (502, 504) and
                        self.tally.in_restart(started, finished)):
                    if method != "HEAD":  # a HEAD answer has no body to read the message from
                        assert "Docker engine" in _json(response)["message"], response
                    self.tally.engine_down += 1
                    if closing:
                        hang_up()
                    await asyncio.sleep(ENGINE_DOWN_BACKOFF)
                    continue
                try:
                    check(response)
                except AssertionError as error:
                    self.tally.fail(f"{method} {target}: {error}")
                    continue
                if legitimate:
                    self.tally.correct += 1
                else:
                    self.tally.denied += 1
                if closing:
                    hang_up()
        finally:
            hang_up()

    async def stream(self, number: int, ready: asyncio.Event, opened: list) -> None:
        reader, writer = await self.connect(number)
        try:
            writer.write(request_bytes("GET", "/v1.41/events"))
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head
            opened.append(number)
            if len(opened) == STREAMS:
                ready.set()
            # No events on the idle spare engine: the next thing is the end of the stream.
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    break
                await reader.readexactly(size + 2)
            rest = await asyncio.wait_for(reader.read(), 10)
            self.tally.stream_ends.append(("clean" if rest == b"" else "extra", time.monotonic()))
        except Exception as error:  # noqa: BLE001 - every way a stream ends is recorded
            self.tally.stream_ends.append((f"broken: {error!r}", time.monotonic()))
            ready.set()
        finally:
            writer.close()

    async def sample(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.peak_fds = max(self.peak_fds, _fds(self.proxy.proc.pid))
            try:
                # Often: the memory bound follows the peak, and a short one falls between
                # slower samples.
                await asyncio.wait_for(stop.wait(), 0.05)
            except asyncio.TimeoutError:
                pass

    async def run(self) -> None:
        """The whole soak: streams, then the clients, with the engine restart in the middle."""
        stop_sampling = asyncio.Event()
        sampler = asyncio.ensure_future(self.sample(stop_sampling))
        ready = asyncio.Event()
        opened: list = []
        streams = [asyncio.ensure_future(self.stream(n, ready, opened)) for n in range(STREAMS)]
        await asyncio.wait_for(ready.wait(), 60)
        workers = [asyncio.ensure_future(self.worker(n)) for n in range(CONNECTIONS)]
        await asyncio.gather(*workers)
        if self.restart_task is not None:
            await self.restart_task
        await asyncio.wait_for(asyncio.gather(*streams), 60)
        stop_sampling.set()
        await sampler

    async def run_clients(self) -> None:
        """Only the clients: a second round on a live engine, to compare memory."""
        await asyncio.gather(*(self.worker(n) for n in range(CONNECTIONS)))


@pytest.mark.timeout(900)
def test_soak(proxy_factory, spare_engine):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # A worker holds its keep-alive connection while a malformed request of its goes on a
    # connection of its own, whose close the proxy may not have seen yet on a busy machine
    # (ASan, a build beside it): the limit is not what this test is about (test_hostile is).
    limit = 2 * CONNECTIONS + STREAMS + 200
    wanted = limit + 512
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    spare_engine.start()
    proxy = proxy_factory("--max-connections", str(limit), "--threads", THREADS,
                          "--keepalive", f"{KEEPALIVE_S:g}s",
                          docker_socket=spare_engine.socket_path)
    pid = proxy.proc.pid

    async def warm_up():
        for _ in range(50):
            reader, writer = await asyncio.open_unix_connection(proxy.unix_path)
            writer.write(request_bytes("GET", "/v1.41/version"))
            check_version(await read_response(reader, "GET"))
            writer.close()
    asyncio.run(warm_up())
    time.sleep(2)  # the pool's idle connections are swept after 1 s
    fds_before, rss_before = _fds(pid), _rss_kib(pid)
    anon_before, file_before = _rss_kib(pid, "RssAnon"), _rss_kib(pid, "RssFile")

    soak = Soak(proxy, spare_engine)
    started = time.monotonic()
    asyncio.run(soak.run())
    elapsed = time.monotonic() - started
    tally = soak.tally

    deadline = time.monotonic() + 10
    while _fds(pid) > fds_before + FD_SLACK and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)  # the last trim is at most a second after the proxy fell quiet
    fds_after, rss_after = _fds(pid), _rss_kib(pid)
    anon_after, file_after = _rss_kib(pid, "RssAnon"), _rss_kib(pid, "RssFile")
    print(f"soak: {REQUESTS} requests over {CONNECTIONS} connections and {STREAMS} streams in "
          f"{elapsed:.1f} s: {tally.correct} correct, {tally.denied} denied, {tally.malformed} "
          f"malformed, {tally.engine_down} engine-down 502s, {tally.cut} cut; engine restart "
          f"{tally.restart_ended - tally.restart_started:.1f} s; fds {fds_before} -> peak "
          f"{soak.peak_fds} -> {fds_after}; RSS {rss_before} KiB -> {rss_after} KiB (anonymous "
          f"{anon_before} -> {anon_after} KiB, file {file_before} -> {file_after} KiB)")

    assert not tally.failures, "\n".join(tally.failures)
    assert proxy.proc.poll() is None, "the proxy died during the soak"
    assert tally.done == REQUESTS
    assert tally.restart_started < tally.restart_ended < float("inf"), "the engine never restarted"
    malformed_sent = REQUESTS // MALFORMED_EVERY
    assert tally.malformed == malformed_sent
    # Most legitimate requests were served by a live engine, before and after the restart.
    assert tally.correct > (REQUESTS - malformed_sent) * 0.5, tally
    assert tally.denied > REQUESTS * 0.3, tally
    ends = [kind for kind, _ in tally.stream_ends]
    assert ends.count("clean") == STREAMS, f"stream ends: {sorted(set(ends))}"
    assert all(when >= tally.restart_started for _, when in tally.stream_ends)
    assert soak.peak_fds >= fds_before + CONNECTIONS + STREAMS, \
        f"the soak never held its connections at once (peak {soak.peak_fds} fds)"
    assert fds_after <= fds_before + FD_SLACK, \
        f"descriptors: {fds_before} before, {fds_after} after the soak"
    pinned_kib = PINNED_KIB_PER_PEAK_DESCRIPTOR * (soak.peak_fds - fds_before)
    assert SANITIZED or anon_after <= anon_before + pinned_kib + HEAP_BOOKKEEPING_KIB, \
        f"anonymous memory: {anon_before} KiB before, {anon_after} KiB after the soak"

    # More rounds of clients reuse what the first left: nothing may grow with use.
    def another_round(number: int, anon_before_round: int) -> int:
        round_ = Soak(proxy, spare_engine, requests=REQUESTS // 2, restart=False)
        asyncio.run(round_.run_clients())
        assert not round_.tally.failures, "\n".join(round_.tally.failures)
        assert round_.tally.engine_down == 0 and round_.tally.cut == 0, round_.tally
        deadline = time.monotonic() + 10
        while _fds(pid) > fds_before + FD_SLACK and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.5)  # the last trim is at most a second after the proxy fell quiet
        anon_after_round = _rss_kib(pid, "RssAnon")
        print(f"soak, round {number} of {round_.requests} requests: anonymous memory "
              f"{anon_before_round} -> {anon_after_round} KiB, fds {_fds(pid)}")
        assert _fds(pid) <= fds_before + FD_SLACK
        return anon_after_round

    anon_second = another_round(2, anon_after)
    anon_third = another_round(3, anon_second)
    assert SANITIZED or anon_second <= anon_after + SECOND_ROUND_GROWTH_KIB, \
        f"anonymous memory grew from {anon_after} KiB to {anon_second} KiB in a second round"
    assert SANITIZED or anon_third <= max(anon_after, anon_second) + LATER_ROUND_GROWTH_KIB, \
        f"anonymous memory grew to {anon_third} KiB in a third round ({anon_after} KiB after " \
        f"the first, {anon_second} KiB after the second)"

    # And it still serves, through the restarted engine.
    async def after():
        reader, writer = await asyncio.open_unix_connection(proxy.unix_path)
        writer.write(request_bytes("GET", "/v1.41/version"))
        check_version(await read_response(reader, "GET"))
        writer.close()
    asyncio.run(after())
