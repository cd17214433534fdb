"""Helpers for socket-proxy's integration tests.

A raw HTTP/1.1 client (the tests must send exactly the bytes an attacker would), the
proxy process, the docker CLI, and a line reader for streaming commands. Only the
standard library: tests run under Debian's /usr/bin/python3 with python3-pytest.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence, Union

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKER_SOCKET = os.environ.get("SOCKET_PROXY_TEST_DOCKER_SOCKET", "/var/run/docker.sock")
TEST_IMAGE = "socket-proxy-test/busybox:latest"
TEST_LABEL = "socket-proxy-test"
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 2.0
# scripts/test runs this suite twice: with the Release binary, then with the ASan+UBSan one.
SANITIZED = os.environ.get("SOCKET_PROXY_SANITIZED", "0").lower() in ("1", "on", "true")
# The image holds the static Release binary whichever binary the suite was given, so its tests
# would run the same bytes twice: only the Release pass runs them.
image_tests = pytest.mark.skipif(SANITIZED, reason="tests the image, which holds the static "
                                 "Release binary: the Release pass runs these")

Address = Union[str, tuple]


def proxy_binary() -> str:
    binary = os.environ.get("SOCKET_PROXY_BINARY") or str(REPO / "build" / "socket-proxy")
    return binary


def docker_cli() -> str:
    if os.access("/usr/local/bin/docker", os.X_OK):
        return "/usr/local/bin/docker"
    found = shutil.which("docker")
    if not found:
        raise RuntimeError("no docker CLI found (scripts/test-deps installs docker.io)")
    return found


def random_suffix() -> str:
    return secrets.token_hex(4)


def is_root() -> bool:
    return os.geteuid() == 0


def docker_socket_gid() -> int:
    return os.stat(DOCKER_SOCKET).st_gid


# --------------------------------------------------------------------------- raw HTTP


class HttpResponse:
    def __init__(self, version: str, status: int, reason: str, headers: list, body: bytes):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def header(self, name: str) -> Optional[str]:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def header_values(self, name: str) -> list:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def json(self):
        return json.loads(self.body)

    def __repr__(self) -> str:
        head = "\n".join(f"  {k}: {v}" for k, v in self.headers)
        body = self.body[:400]
        return f"<{self.version} {self.status} {self.reason}\n{head}\n  body={body!r}>"


class PeerClosed(Exception):
    """The other side closed the connection before a complete message arrived."""


def build_request(method: str, target: str, headers: Optional[Iterable] = None,
                  body: bytes = b"", version: str = "HTTP/1.1", host: Optional[str] = "docker") -> bytes:
    lines = [f"{method} {target} {version}"]
    header_list = list(headers.items() if isinstance(headers, dict) else (headers or []))
    names = {name.lower() for name, _ in header_list}
    if host is not None and "host" not in names:
        lines.append(f"Host: {host}")
    for name, value in header_list:
        lines.append(f"{name}: {value}")
    if body and "content-length" not in names and "transfer-encoding" not in names:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class HttpConnection:
    """One client connection; requests are sent and responses read byte-exactly."""

    def __init__(self, address: Address, timeout: float = 15.0):
        family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(address)
        self.buffer = b""
        self.eof = False

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def settimeout(self, timeout: Optional[float]) -> None:
        self.sock.settimeout(timeout)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        if self.eof:
            raise PeerClosed(f"connection closed; unread bytes: {self.buffer[:200]!r}")
        data = self.sock.recv(65536)
        if not data:
            self.eof = True
            raise PeerClosed(f"connection closed; unread bytes: {self.buffer[:200]!r}")
        self.buffer += data

    def _take(self, count: int) -> bytes:
        while len(self.buffer) < count:
            self._fill()
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self._fill()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def read_head(self) -> HttpResponse:
        """Reads a status line and headers; skips 1xx interim responses except 101."""
        while True:
            while b"\r\n\r\n" not in self.buffer:
                self._fill()
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/"):
                raise AssertionError(f"not an HTTP status line: {lines[0]!r}")
            version, status = parts[0], int(parts[1])
            reason = parts[2] if len(parts) > 2 else ""
            headers = []
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers.append((name.strip(), value.strip()))
            if 100 <= status < 200 and status != 101:
                continue
            return HttpResponse(version, status, reason, headers, b"")

    @staticmethod
    def is_chunked(response: HttpResponse) -> bool:
        return any("chunked" in v.lower() for v in response.header_values("Transfer-Encoding"))

    def read_chunk(self) -> Optional[bytes]:
        """One chunk of a chunked body; None after the last chunk (trailers consumed)."""
        size_line = self._line()
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while self._line() != b"":
                pass
            return None
        data = self._take(size)
        if self._take(2) != b"\r\n":
            raise AssertionError("chunk not followed by CRLF")
        return data

    def read_body(self, response: HttpResponse, method: str) -> bytes:
        if method == "HEAD" or response.status in (101, 204, 304):
            return b""
        if self.is_chunked(response):
            parts = []
            while (chunk := self.read_chunk()) is not None:
                parts.append(chunk)
            return b"".join(parts)
        length = response.header("Content-Length")
        if length is not None:
            return self._take(int(length))
        return self.read_until_close()

    def read_response(self, method: str = "GET") -> HttpResponse:
        response = self.read_head()
        response.body = self.read_body(response, method)
        return response

    def read_until_close(self, limit: int = 256 * 1024 * 1024) -> bytes:
        while not self.eof and len(self.buffer) < limit:
            try:
                self._fill()
            except PeerClosed:
                break
        data, self.buffer = self.buffer, b""
        return data

    def request(self, method: str, target: str, headers=None, body: bytes = b"",
                version: str = "HTTP/1.1") -> HttpResponse:
        self.send(build_request(method, target, headers, body, version))
        return self.read_response(method)

    def read_chunk_containing(self, needle: bytes, seconds: float = 15.0) -> bytes:
        """Reads chunks of a stream until one contains `needle` (other events may come first:
        the engine is shared); fails after `seconds` or at the end of the stream."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            chunk = self.read_chunk()
            if chunk is None:
                raise AssertionError(f"the stream ended before {needle!r} arrived")
            if needle in chunk:
                return chunk
        raise AssertionError(f"{needle!r} did not arrive within {seconds} s")

    def peer_closes_within(self, seconds: float) -> bool:
        """True if the other side closes (EOF or reset) within `seconds` without sending more."""
        old = self.sock.gettimeout()
        deadline = time.monotonic() + seconds
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.sock.settimeout(remaining)
                try:
                    data = self.sock.recv(65536)
                except socket.timeout:
                    return False
                except ConnectionResetError:
                    return True
                if not data:
                    self.eof = True
                    return True
                self.buffer += data
                return False
        finally:
            self.sock.settimeout(old)


def http(address: Address, method: str, target: str, headers=None, body: bytes = b"",
         timeout: float = 30.0) -> HttpResponse:
    """One request on a fresh connection that asks to be closed afterwards."""
    header_list = list(headers.items() if isinstance(headers, dict) else (headers or []))
    if not any(name.lower() == "connection" for name, _ in header_list):
        header_list.append(("Connection", "close"))
    with HttpConnection(address, timeout=timeout) as connection:
        return connection.request(method, target, header_list, body)


def raw_exchange(address: Address, data: bytes, seconds: float = 3.0) -> bytes:
    """Sends raw bytes and returns everything received until close or `seconds` of silence."""
    with HttpConnection(address, timeout=seconds) as connection:
        try:
            connection.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before the whole request was sent: read what it answered
        received = b""
        while True:
            try:
                chunk = connection.sock.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            received += chunk
        return received


def assert_json_error(response: HttpResponse, status: int, *fragments: str) -> str:
    assert response.status == status, f"expected {status}, got {response!r}"
    content_type = response.header("Content-Type") or ""
    # The docker CLI prints the message only for exactly this Content-Type.
    assert content_type == "application/json", \
        f"error answer must be Content-Type: application/json: {response!r}"
    document = json.loads(response.body)
    message = document.get("message")
    assert isinstance(message, str) and message, f"no message in {response.body!r}"
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in message {message!r}"
    return message


# --------------------------------------------------------------------------- processes


class LineReader:
    """Collects a stream's lines on a thread, so tests can wait for one with a deadline."""

    def __init__(self, stream):
        self.lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self.seen: list = []
        self.thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.thread.start()

    def _run(self, stream) -> None:
        for raw in iter(stream.readline, b""):
            self.lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float) -> Optional[str]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                return None
            if line is None:
                return None
            self.seen.append(line)
            if predicate(line):
                return line


class Proxy:
    """A running socket-proxy; what the `proxy` fixtures yield."""

    def __init__(self, proc: subprocess.Popen, workdir: Path, volume: Path,
                 tcp_port: Optional[int], docker_socket: str, argv: list, env: dict):
        self.proc = proc
        self.workdir = workdir
        self.volume = volume
        self.unix_path = str(volume / "docker.sock")
        self.tcp_port = tcp_port
        self.docker_socket = docker_socket
        self.argv = argv
        self.env = env
        self.stopped = False
        self.stopped_returncode: Optional[int] = None

    @property
    def tcp_address(self) -> tuple:
        assert self.tcp_port is not None, "this proxy was started with --tcp off"
        return ("127.0.0.1", self.tcp_port)

    @property
    def stdout(self) -> str:
        return (self.workdir / "stdout.log").read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return (self.workdir / "stderr.log").read_text(errors="replace")

    @property
    def log(self) -> str:
        return self.stdout + self.stderr

    def docker_host(self, transport: str = "unix") -> str:
        if transport == "unix":
            return f"unix://{self.unix_path}"
        return f"tcp://127.0.0.1:{self.tcp_port}"

    def address(self, transport: str = "unix") -> Address:
        return self.unix_path if transport == "unix" else self.tcp_address

    def wait_for_log(self, predicate: Callable[[str], bool], timeout: float = 5.0,
                     stream: str = "log") -> Optional[str]:
        deadline = time.monotonic() + timeout
        while True:
            for line in getattr(self, stream).splitlines():
                if predicate(line):
                    return line
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"socket-proxy exited with {self.proc.returncode} before listening\n"
                    f"argv: {self.argv}\n--- log ---\n{self.log}")
            if self._accepts():
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"socket-proxy did not accept on {self.unix_path}"
                    f"{'' if self.tcp_port is None else f' and 127.0.0.1:{self.tcp_port}'}"
                    f" within {timeout} s\n--- log ---\n{self.log}")
            time.sleep(0.05)

    def _accepts(self) -> bool:
        addresses: list = [self.unix_path]
        if self.tcp_port is not None:
            addresses.append(self.tcp_address)
        for address in addresses:
            family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.settimeout(1.0)
                try:
                    probe.connect(address)
                except OSError:
                    return False
        return True

    def stop(self, timeout: float = STOP_TIMEOUT) -> Optional[int]:
        """SIGTERM, then the exit status, or None if it did not exit within `timeout` (then killed)."""
        if self.stopped:
            return self.stopped_returncode
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.stopped_returncode = None
                return None
        self.stopped_returncode = self.proc.returncode
        return self.proc.returncode


def write_policy(directory: Path, text: str, name: str = "policy.yaml") -> str:
    """A policy file the proxy can read after it dropped to uid 1000 (SIGHUP reloads)."""
    path = directory / name
    path.write_text(text)
    path.chmod(0o644)
    return str(path)


def answers_ping(path: str) -> bool:
    """Whether an engine (Docker's, podman's, a spare one) answers /_ping on this socket yet."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(2)
            probe.connect(path)
            probe.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
            return probe.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_environment() -> dict:
    """The test's environment without anything the proxy or docker CLI would read."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SOCKET_PROXY_", "DOCKER_")) and k != "DEBUG"}
    # The tests read the text format; test_logging.py checks the JSON lines a pipe gets by default.
    env["SOCKET_PROXY_LOG_FORMAT"] = "text"
    return env


def make_workdir() -> tuple:
    """A world-traversable work dir (the proxy may run as uid 1000) with a 0755 volume in it.

    Short path under /tmp: a unix socket path must fit in 108 bytes."""
    workdir = Path(tempfile.mkdtemp(prefix="spt-", dir="/tmp"))
    os.chmod(workdir, 0o755)
    volume = workdir / "volume"
    volume.mkdir(mode=0o755)
    os.chmod(volume, 0o755)
    return workdir, volume


def start_proxy(*extra_args: str, docker_socket: str = DOCKER_SOCKET, tcp: Union[bool, str] = True,
                use_env: bool = False, env: Optional[dict] = None,
                command_prefix: Sequence[str] = (), wait: bool = True,
                workdir: Optional[Path] = None, volume: Optional[Path] = None) -> Proxy:
    """Starts the proxy. With use_env, volume/socket/tcp are passed as SOCKET_PROXY_* variables.

    tcp: True for a free 127.0.0.1 port, False for "off", or a --tcp value as a string."""
    if workdir is None:
        workdir, volume = make_workdir()
    assert volume is not None
    if isinstance(tcp, str):  # an explicit --tcp value; only the unix socket is polled
        port, tcp_value = None, tcp
    else:
        port = free_tcp_port() if tcp else None
        tcp_value = f"127.0.0.1:{port}" if tcp else "off"
    process_env = clean_environment()
    args = []
    if use_env:
        process_env.update({
            "SOCKET_PROXY_VOLUME": str(volume),
            "SOCKET_PROXY_DOCKER_SOCKET": docker_socket,
            "SOCKET_PROXY_TCP": tcp_value,
        })
    else:
        args = ["--volume", str(volume), "--docker-socket", docker_socket, "--tcp", tcp_value]
    if env:
        process_env.update(env)
    argv = [*command_prefix, proxy_binary(), *args, *extra_args]
    stdout = open(workdir / "stdout.log", "wb")
    stderr = open(workdir / "stderr.log", "wb")
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                env=process_env)
    finally:
        stdout.close()
        stderr.close()
    proxy = Proxy(proc, workdir, volume, port, docker_socket, argv, process_env)
    if wait:
        try:
            proxy.wait_ready()
        except BaseException:
            proxy.stop()
            raise
    return proxy


def run_healthcheck(*args: str, env: Optional[dict] = None, timeout: float = 20.0):
    process_env = clean_environment()
    if env:
        process_env.update(env)
    return subprocess.run([proxy_binary(), "healthcheck", *args], env=process_env,
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)


# --------------------------------------------------------------------------- docker CLI

_docker_config_dir: Optional[str] = None


def docker_environment(host: str) -> dict:
    """The CLI talks only to `host`, with an empty config (no credential helpers, no contexts)."""
    global _docker_config_dir
    if _docker_config_dir is None:
        _docker_config_dir = tempfile.mkdtemp(prefix="spt-docker-config-")
        atexit.register(shutil.rmtree, _docker_config_dir, True)
    env = clean_environment()
    env["DOCKER_HOST"] = host
    env["DOCKER_CONFIG"] = _docker_config_dir
    return env


def docker(*args: str, host: str = f"unix://{DOCKER_SOCKET}", timeout: float = 60.0,
           check: bool = False, input: Optional[str] = None) -> subprocess.CompletedProcess:
    stdin = {"input": input} if input is not None else {"stdin": subprocess.DEVNULL}
    result = subprocess.run([docker_cli(), *args], env=docker_environment(host),
                            capture_output=True, text=True, timeout=timeout, **stdin)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} (DOCKER_HOST={host}) failed with "
                             f"{result.returncode}:\n{result.stderr}")
    return result


def docker_popen(*args: str, host: str) -> subprocess.Popen:
    return subprocess.Popen([docker_cli(), *args], env=docker_environment(host),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Containers:
    """Test containers made through the REAL socket, removed at the end of the session."""

    def __init__(self):
        self.session = random_suffix()
        self.names: list = []

    def run(self, prefix: str, command: Sequence[str], *, start: bool = True,
            labels: Optional[dict] = None) -> str:
        name = f"{prefix}-{random_suffix()}"
        label_args = ["--label", f"{TEST_LABEL}={self.session}"]
        for key, value in (labels or {}).items():
            label_args += ["--label", f"{key}={value}"]
        verb = ["run", "-d"] if start else ["create"]
        self.names.append(name)
        docker(*verb, "--name", name, "--network", "none", *label_args, TEST_IMAGE, *command,
               check=True)
        return name

    def remove_all(self) -> None:
        if self.names:
            docker("rm", "-f", *self.names, timeout=120)
        self.names.clear()

    @staticmethod
    def exists(name: str) -> bool:
        return docker("container", "inspect", name).returncode == 0

    @staticmethod
    def running(name: str) -> bool:
        result = docker("container", "inspect", "--format", "{{.State.Running}}", name)
        return result.returncode == 0 and result.stdout.strip() == "true"


# A container that prints a greeting, then a numbered tick every 0.5 s (for 30 minutes at most,
# so a run that dies before its teardown leaves nothing running for long).
def ticker_command(greeting: str) -> list:
    return ["sh", "-c",
            f"echo {greeting}; i=0; while [ $i -lt 3600 ]; do echo tick $i; i=$((i+1)); "
            f"sleep 0.5; done"]


def tick_number(line: str) -> Optional[int]:
    parts = line.split()
    if len(parts) == 2 and parts[0] == "tick" and parts[1].isdigit():
        return int(parts[1])
    return None
