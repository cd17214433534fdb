"""The TLS listener (issue 21): SOCKET_PROXY_TLS_CERT/_KEY make the TCP listener TLS, and
SOCKET_PROXY_TLS_CA makes it mutual. Real clients (the docker CLI with DOCKER_TLS_VERIFY,
python3-docker, curl, openssl s_client) against the real engine; certificates from the binary's
own `certs` command, an expired one from `openssl ca`. Every refusal is checked to have
forwarded nothing: no `request` line in the proxy's log (which runs with DEBUG, so an allowed
request would be logged too)."""

from __future__ import annotations

import calendar
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from test_faults import LONG_BODY, FakeDaemon
from proxytest import (TEST_IMAGE, LineReader, docker, docker_cli, docker_environment,
                       free_tcp_port, proxy_binary, random_suffix, stop_process, tick_number,
                       write_policy)

PLAINTEXT_ANSWER = (b"HTTP/1.0 400 Bad Request\r\n\r\n"
                    b"Client sent an HTTP request to an HTTPS server.\n")

REQUEST_LINE = re.compile(r" request client=")


def run(*args, **options) -> subprocess.CompletedProcess:
    return subprocess.run([*map(str, args)], capture_output=True, text=True, timeout=60,
                          **options)


def make_certs(directory: Path, clients: str) -> Path:
    result = run(proxy_binary(), "certs", directory, "--host", "127.0.0.1", "--client", clients)
    assert result.returncode == 0, result.stderr
    return directory


def bundle(directory: Path, ca: Path, cert: Path, key: Path) -> Path:
    """A DOCKER_CERT_PATH: the CA the client trusts, and the certificate it presents."""
    directory.mkdir(parents=True)
    shutil.copy(ca, directory / "ca.pem")
    shutil.copy(cert, directory / "cert.pem")
    shutil.copy(key, directory / "key.pem")
    return directory


def expired_certificate(directory: Path, ca: Path, ca_key: Path) -> tuple:
    """A client certificate the CA signed, valid only in January 2020. `openssl ca` is the
    OpenSSL 3.0 tool that takes an end date in the past."""
    directory.mkdir(parents=True)
    (directory / "index.txt").write_text("")
    (directory / "serial").write_text("1000\n")
    config = directory / "ca.cnf"
    config.write_text(
        "[ca]\ndefault_ca = here\n"
        f"[here]\ndatabase = {directory}/index.txt\nnew_certs_dir = {directory}\n"
        f"serial = {directory}/serial\ndefault_md = sha256\npolicy = any\n"
        "[any]\ncommonName = supplied\n"
        "[client]\nbasicConstraints = CA:FALSE\nkeyUsage = digitalSignature\n"
        "extendedKeyUsage = clientAuth\n")
    key, request, cert = directory / "key.pem", directory / "req.csr", directory / "cert.pem"
    made = run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
               "-nodes", "-keyout", key, "-out", request, "-subj", "/CN=expired")
    assert made.returncode == 0, made.stderr
    signed = run("openssl", "ca", "-batch", "-config", config, "-cert", ca, "-keyfile", ca_key,
                 "-in", request, "-out", cert, "-notext", "-extensions", "client",
                 "-startdate", "20200101000000Z", "-enddate", "20200102000000Z")
    assert signed.returncode == 0, signed.stderr
    return cert, key


def der_sha256(pem_path: Path) -> str:
    der = run("openssl", "x509", "-in", pem_path, "-outform", "DER", "-noout", "-fingerprint",
              "-sha256")
    assert der.returncode == 0, der.stderr
    return der.stdout.split("=", 1)[1].strip().replace(":", "").lower()


@pytest.fixture(scope="module")
def pki():
    base = Path(tempfile.mkdtemp(prefix="spt-tls-", dir="/tmp"))
    base.chmod(0o755)
    main = make_certs(base / "pki", "alice,bob")
    other = make_certs(base / "other", "mallory")
    renewed = make_certs(base / "renewed", "carol")
    expired_cert, expired_key = expired_certificate(base / "expired", main / "ca.pem",
                                                    main / "ca-key.pem")
    paths = {
        "base": base,
        "main": main,
        "renewed": renewed,
        "alice": main / "clients/alice",
        "carol": renewed / "clients/carol",
        # Trusts the proxy's server certificate, presents one from another CA.
        "mallory": bundle(base / "mallory", main / "ca.pem",
                          other / "clients/mallory/cert.pem", other / "clients/mallory/key.pem"),
        "expired": bundle(base / "expired-bundle", main / "ca.pem", expired_cert, expired_key),
    }
    # The proxy drops to uid 1000 and reads the files again on SIGHUP.
    for path in base.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    yield paths
    shutil.rmtree(base, ignore_errors=True)


def tls_args(directory: Path, ca: bool = True) -> list:
    args = ["--tls-cert", str(directory / "server/cert.pem"),
            "--tls-key", str(directory / "server/key.pem")]
    if ca:
        args += ["--tls-ca", str(directory / "ca.pem")]
    return args


@pytest.fixture
def tls_proxy(proxy_factory, pki):
    return proxy_factory(*tls_args(pki["main"]), env={"DEBUG": "1"})


def tls_docker(proxy, cert_path: Path, *args: str, host: str = "127.0.0.1",
               timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([docker_cli(), *args], env=tls_docker_env(proxy, cert_path, host),
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def tls_docker_env(proxy, cert_path: Path, host: str = "127.0.0.1") -> dict:
    env = docker_environment(f"tcp://{host}:{proxy.tcp_port}")
    env["DOCKER_TLS_VERIFY"] = "1"
    env["DOCKER_CERT_PATH"] = str(cert_path)
    return env


def tls_docker_popen(proxy, cert_path: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([docker_cli(), *args], env=tls_docker_env(proxy, cert_path),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def request_lines(proxy) -> list:
    return [line for line in proxy.log.splitlines() if REQUEST_LINE.search(line)]


def wait_for_request_lines(proxy, count: int, timeout: float = 5.0) -> list:
    """The request lines, once `count` are there: a line is written as its answer ends, which
    may be after the client has read it."""
    deadline = time.monotonic() + timeout
    while len(lines := request_lines(proxy)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return lines


def wait_for_event(proxy, event: str, timeout: float = 5.0) -> str:
    line = proxy.wait_for_log(lambda text: f" {event} " in text, timeout=timeout)
    assert line is not None, f"no {event} line in the log:\n{proxy.log}"
    return line


def server_certificate_sha256(port: int) -> str:
    """The SHA-256 of the certificate the server presents, without verifying anything."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    # TLS 1.3: the client's side of the handshake ends before the server asks for the
    # certificate this client does not have, so the server's is seen all the same.
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw) as tls:
            der = tls.getpeercert(binary_form=True)
    return hashlib.sha256(der).hexdigest()


def s_client(port: int, *args: str, cert_path: Path | None = None,
             stdin: str = "") -> subprocess.CompletedProcess:
    command = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername",
               "127.0.0.1", *args]
    if cert_path is not None:
        command += ["-CAfile", str(cert_path / "ca.pem"), "-cert", str(cert_path / "cert.pem"),
                    "-key", str(cert_path / "key.pem")]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=30)


# --------------------------------------------------------------------------- real clients


def test_docker_cli_over_mutual_tls(tls_proxy, pki, ticker, containers):
    alice = pki["alice"]
    listing = tls_docker(tls_proxy, alice, "ps", "--format", "{{.Names}}")
    assert listing.returncode == 0, listing.stderr
    assert ticker.name in listing.stdout.split()

    inspected = tls_docker(tls_proxy, alice, "inspect", "--format", "{{.Name}}", ticker.name)
    assert inspected.returncode == 0, inspected.stderr
    assert inspected.stdout.strip() == f"/{ticker.name}"

    # A stream of unknown length: new lines keep arriving through TLS.
    follower = tls_docker_popen(tls_proxy, alice, "logs", "-f", "--tail", "1", ticker.name)
    try:
        reader = LineReader(follower.stdout)
        first = reader.wait_for(lambda line: tick_number(line) is not None, timeout=10)
        assert first is not None, f"logs -f over TLS delivered {reader.seen}"
        later = reader.wait_for(
            lambda line: (tick_number(line) or -1) >= tick_number(first) + 3, timeout=6)
        assert later is not None, f"logs -f over TLS delivered {reader.seen} and then nothing"
    finally:
        stop_process(follower)

    tag = random_suffix()
    watcher = tls_docker_popen(tls_proxy, alice, "events", "--since", str(int(time.time()) - 1),
                               "--filter", f"label=spt-event={tag}", "--format",
                               "{{.Action}} {{.Actor.Attributes.name}}")
    try:
        reader = LineReader(watcher.stdout)
        name = containers.run("spt-tls-events", ["true"], start=False, labels={"spt-event": tag})
        assert reader.wait_for(lambda line: line == f"create {name}", timeout=15), \
            f"no create event over TLS; got {reader.seen}"
        docker("start", name, check=True)
        assert reader.wait_for(lambda line: line == f"start {name}", timeout=15), \
            f"no start event over TLS; got {reader.seen}"
    finally:
        stop_process(watcher)
    # The client left a silent stream: the hang-up watch, reading through TLS, ends it.
    ended = tls_proxy.wait_for_log(
        lambda line: "route=/events" in line and "stream=ended" in line, timeout=5)
    assert ended is not None, f"the events stream did not end with its client:\n{tls_proxy.log}"

    # The request log names the client by its certificate, and the address it came from.
    # Quoted: "=" is not a plain token character of the text log.
    assert any('client="tls:cn=alice,address=127.0.0.1:' in line
               for line in request_lines(tls_proxy)), tls_proxy.log


def test_denied_write_prints_the_proxys_message(tls_proxy, pki, victim):
    result = tls_docker(tls_proxy, pki["alice"], "stop", "-t", "1", victim)
    assert result.returncode != 0
    assert "socket-proxy denied" in result.stderr, result.stderr


def test_exec_tunnels_both_ways_and_ends_over_tls(proxy_factory, pki, policy_dir, ticker):
    """After a 101 the connection is a raw pipe inside TLS: stdin reaches the process, its
    output comes back, and the end of the output (a close_notify) ends the CLI."""
    policy = write_policy(policy_dir, "default: deny\nrules:\n  - name: all\n    action: allow\n")
    proxy = proxy_factory(*tls_args(pki["main"]), "--policy", policy, env={"DEBUG": "1"})
    result = subprocess.run(
        [docker_cli(), "exec", "-i", ticker.name, "sh", "-c", "cat; echo done"],
        env=tls_docker_env(proxy, pki["alice"]), input="through-the-tunnel\n",
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "through-the-tunnel\ndone\n"
    # A long chunked answer arrives whole through TLS.
    saved = subprocess.run([docker_cli(), "save", TEST_IMAGE],
                           env=tls_docker_env(proxy, pki["alice"]), capture_output=True,
                           timeout=60)
    assert saved.returncode == 0, saved.stderr
    direct = subprocess.run([docker_cli(), "save", TEST_IMAGE], capture_output=True, timeout=60,
                            env=docker_environment("unix:///var/run/docker.sock"))
    assert len(saved.stdout) == len(direct.stdout) > 256 * 1024


def test_a_long_answer_of_known_length_is_encrypted_whole(proxy_factory, pki):
    """A plain client gets it spliced socket to socket; a TLS client through the relay."""
    daemon = FakeDaemon()
    try:
        proxy = proxy_factory(*tls_args(pki["main"]), docker_socket=daemon.path)
        alice = pki["alice"]
        context = ssl.create_default_context(cafile=str(alice / "ca.pem"))
        context.load_cert_chain(str(alice / "cert.pem"), str(alice / "key.pem"))
        with socket.create_connection(proxy.tcp_address, timeout=15) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"GET /v1.41/containers/long/logs HTTP/1.1\r\nHost: docker\r\n\r\n"
                            b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
                received = b""
                while chunk := tls.recv(65536):
                    received += chunk
        head, _, rest = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK"), head
        assert f"Content-Length: {len(LONG_BODY)}".encode() in head, head
        assert rest[:len(LONG_BODY)] == LONG_BODY
        assert rest[len(LONG_BODY):].startswith(b"HTTP/1.1 200 OK")
        assert rest.endswith(b"\r\n\r\nOK")
    finally:
        daemon.close()


def test_python_docker_client(tls_proxy, pki, ticker, monkeypatch):
    import docker as docker_sdk
    # requests lets these replace the CA the client was given (requests issue 3829).
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    alice = pki["alice"]
    tls = docker_sdk.tls.TLSConfig(client_cert=(str(alice / "cert.pem"), str(alice / "key.pem")),
                                   ca_cert=str(alice / "ca.pem"), verify=True)
    client = docker_sdk.DockerClient(base_url=f"https://127.0.0.1:{tls_proxy.tcp_port}", tls=tls,
                                     timeout=30)
    try:
        assert client.ping()
        assert ticker.name in [container.name for container in client.containers.list()]
    finally:
        client.close()


def test_dockerode(tls_proxy, pki, ticker):
    """dockerode with {protocol: 'https', ca, cert, key}, as Homepage and other dashboards
    configure it: a list, and a followed log stream through TLS."""
    from test_clients import dockerode
    host = f"https://127.0.0.1:{tls_proxy.tcp_port}"
    env = {**os.environ, "DOCKER_CERT_PATH": str(pki["alice"])}
    listed = dockerode(host, "list", env=env)
    assert listed.returncode == 0, listed
    assert f"/{ticker.name}" in json.loads(listed.stdout)
    followed = dockerode(host, "logs", ticker.name, env=env)
    assert followed.returncode == 0, followed
    ticks = json.loads(followed.stdout.splitlines()[-1])
    assert len(ticks) >= 3 and ticks == sorted(ticks), ticks
    assert any("tls:cn=alice," in line for line in wait_for_request_lines(tls_proxy, 2))

    refused = dockerode(host, "list", env={**os.environ, "DOCKER_CERT_PATH": str(pki["mallory"])})
    assert refused.returncode != 0, refused
    assert tls_proxy.wait_for_log(lambda text: " tls-handshake-failed " in text and
                                  "the client's certificate was refused" in text), tls_proxy.log


def test_curl(tls_proxy, pki):
    alice = pki["alice"]
    result = run("curl", "-sS", "--cacert", alice / "ca.pem", "--cert", alice / "cert.pem",
                 "--key", alice / "key.pem", f"https://127.0.0.1:{tls_proxy.tcp_port}/_ping")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "OK"


def test_a_request_pipelined_behind_a_stream_is_answered_after_it(tls_proxy, pki):
    """The hang-up watch reads through TLS while a stream flows: what it reads is the next
    request, kept for after the stream, not a hang-up."""
    alice = pki["alice"]
    context = ssl.create_default_context(cafile=str(alice / "ca.pem"))
    context.load_cert_chain(str(alice / "cert.pem"), str(alice / "key.pem"))
    until = int(time.time()) + 2
    with socket.create_connection(tls_proxy.tcp_address, timeout=15) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(f"GET /events?since={until - 2}&until={until} HTTP/1.1\r\n"
                        f"Host: docker\r\n\r\n".encode())
            time.sleep(0.5)  # the events stream is open when the next request arrives
            tls.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
            received = b""
            while chunk := tls.recv(65536):
                received += chunk
    assert received.count(b"HTTP/1.1 200 OK") == 2, received
    assert received.endswith(b"\r\n\r\nOK"), received
    lines = wait_for_request_lines(tls_proxy, 2)
    assert "route=/events" in lines[0] and "route=/_ping" in lines[1], lines


def test_without_a_ca_any_tls_client_is_served_by_its_address(proxy_factory, pki):
    proxy = proxy_factory(*tls_args(pki["main"], ca=False), env={"DEBUG": "1"})
    assert "tls=on" in wait_for_event(proxy, "listening")
    result = run("curl", "-sS", "--cacert", pki["alice"] / "ca.pem",
                 f"https://127.0.0.1:{proxy.tcp_port}/_ping")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "OK"
    lines = wait_for_request_lines(proxy, 1)
    assert len(lines) == 1 and "client=127.0.0.1:" in lines[0], lines


# --------------------------------------------------------------------------- refusals


def assert_refused_in_handshake(proxy, reason: str) -> None:
    line = proxy.wait_for_log(lambda text: " tls-handshake-failed " in text and reason in text)
    assert line is not None, f"no tls-handshake-failed line with {reason!r}:\n{proxy.log}"
    assert request_lines(proxy) == [], "a refused client's request was forwarded"


def test_no_client_certificate_is_refused(tls_proxy, pki):
    result = run("curl", "-sS", "--cacert", pki["alice"] / "ca.pem",
                 f"https://127.0.0.1:{tls_proxy.tcp_port}/_ping")
    assert result.returncode != 0
    assert result.stdout == ""
    assert_refused_in_handshake(tls_proxy, "the client sent no certificate")


def test_certificate_from_another_ca_is_refused(tls_proxy, pki):
    result = tls_docker(tls_proxy, pki["mallory"], "version")
    assert result.returncode != 0
    assert "Server:" not in result.stdout
    assert_refused_in_handshake(tls_proxy, "the client's certificate was refused")


def test_expired_certificate_is_refused(tls_proxy, pki):
    result = tls_docker(tls_proxy, pki["expired"], "ps")
    assert result.returncode != 0
    assert_refused_in_handshake(tls_proxy, "expired")


def test_client_refuses_a_server_certificate_for_another_host(tls_proxy, pki):
    # The server certificate names 127.0.0.1 only.
    result = tls_docker(tls_proxy, pki["alice"], "ps", host="localhost")
    assert result.returncode != 0
    assert "certificate" in result.stderr, result.stderr
    assert request_lines(tls_proxy) == []


def test_protocols_and_suites(tls_proxy, pki):
    port = tls_proxy.tcp_port
    alice = pki["alice"]
    for version in ["-tls1_2", "-tls1_3"]:
        accepted = s_client(port, version, "-brief", cert_path=alice,
                            stdin="GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert "Verification: OK" in accepted.stderr, accepted.stderr
    for refused in [["-tls1_1"], ["-tls1"], ["-tls1_2", "-cipher", "AES128-SHA"],
                    ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"]]:
        result = s_client(port, *refused, cert_path=alice)
        assert "Cipher is (NONE)" in result.stdout or result.returncode != 0, \
            f"{refused} was accepted: {result.stdout}"
    assert len(wait_for_request_lines(tls_proxy, 2)) == 2, "only the accepted clients' requests"
    assert tls_proxy.wait_for_log(
        lambda line: " tls-handshake-failed " in line and "version" in line), tls_proxy.log


def test_renegotiation_is_refused(tls_proxy, pki):
    alice = pki["alice"]
    # s_client reads "R" at the start of an input line as: renegotiate now.
    script = (f"(sleep 1; printf 'R\\n'; sleep 1; "
              f"printf 'GET /_ping HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'; sleep 1) | "
              f"openssl s_client -connect 127.0.0.1:{tls_proxy.tcp_port} -tls1_2 "
              f"-CAfile {alice}/ca.pem -cert {alice}/cert.pem -key {alice}/key.pem")
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30)
    output = result.stdout + result.stderr
    assert "RENEGOTIATING" in output, output
    assert "alert unexpected message" in output, output
    assert "HTTP/1.1 200" not in output, "the request after a renegotiation was answered"


def test_plaintext_request_gets_400_and_a_log_line(tls_proxy):
    with socket.create_connection(tls_proxy.tcp_address, timeout=10) as client:
        client.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
        received = b""
        while chunk := client.recv(4096):
            received += chunk
    assert received == PLAINTEXT_ANSWER
    line = wait_for_event(tls_proxy, "tls-plaintext")
    assert "127.0.0.1" in line
    assert request_lines(tls_proxy) == []


def test_silent_client_is_cut_at_the_handshake_timeout(proxy_factory, pki):
    proxy = proxy_factory(*tls_args(pki["main"]), "--head-timeout", "1s", env={"DEBUG": "1"})
    with socket.create_connection(proxy.tcp_address, timeout=10) as client:
        started = time.monotonic()
        assert client.recv(1) == b""
        waited = time.monotonic() - started
    assert 0.8 < waited < 5, waited
    assert proxy.wait_for_log(lambda line: " tls-handshake-failed " in line and
                              "no handshake within 1s (SOCKET_PROXY_HEAD_TIMEOUT)" in line), \
        proxy.log


def test_handshakes_in_flight_are_bounded(proxy_factory, pki):
    metrics_port = free_tcp_port()
    proxy = proxy_factory(*tls_args(pki["main"]), "--head-timeout", "30s", "--metrics",
                          f"127.0.0.1:{metrics_port}")
    time.sleep(0.2)  # the readiness probes' handshakes end
    silent = []
    try:
        for _ in range(64):
            silent.append(socket.create_connection(proxy.tcp_address, timeout=10))
        with socket.create_connection(proxy.tcp_address, timeout=10) as extra:
            extra.settimeout(3)
            assert extra.recv(1) == b"", "the 65th handshake was not closed at once"
        line = wait_for_event(proxy, "connection-refused")
        assert "64 TLS handshakes are in flight already" in line
    finally:
        for connection in silent:
            connection.close()
    # The slots free up as the silent clients go.
    deadline = time.monotonic() + 5
    while True:
        curl = run("curl", "-sS", "--cacert", pki["alice"] / "ca.pem", "--cert",
                   pki["alice"] / "cert.pem", "--key", pki["alice"] / "key.pem",
                   f"https://127.0.0.1:{proxy.tcp_port}/_ping")
        if curl.stdout == "OK" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert curl.stdout == "OK", curl.stderr
    scraped = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics",
                                     timeout=10).read().decode()
    assert 'socket_proxy_tls_handshake_failures_total{reason="busy"} 1' in scraped, scraped


def test_sighup_reloads_the_certificate_and_streams_keep_flowing(proxy_factory, pki, containers):
    live = pki["base"] / f"live-{random_suffix()}"
    shutil.copytree(pki["main"], live)
    for path in live.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    live.chmod(0o755)
    proxy = proxy_factory(*tls_args(live), env={"DEBUG": "1"})
    assert server_certificate_sha256(proxy.tcp_port) == der_sha256(pki["main"] / "server/cert.pem")

    tag = random_suffix()
    watcher = tls_docker_popen(proxy, pki["alice"], "events", "--since",
                               str(int(time.time()) - 1), "--filter", f"label=spt-event={tag}",
                               "--format", "{{.Action}} {{.Actor.Attributes.name}}")
    try:
        reader = LineReader(watcher.stdout)
        before = containers.run("spt-tls-reload", ["true"], start=False,
                                labels={"spt-event": tag})
        assert reader.wait_for(lambda line: line == f"create {before}", timeout=15), reader.seen

        # New files with a new CA: new connections get them, this stream keeps its own.
        for name in ["server/cert.pem", "server/key.pem", "ca.pem"]:
            shutil.copy(pki["renewed"] / name, live / name)
        proxy.proc.send_signal(signal.SIGHUP)
        assert proxy.wait_for_log(lambda line: " reload " in line and "tls_cert=" in line,
                                  timeout=5), proxy.log
        assert "no policy file to reload" not in proxy.log, "SIGHUP did reload the TLS files"
        assert server_certificate_sha256(proxy.tcp_port) == \
            der_sha256(pki["renewed"] / "server/cert.pem")
        carol = tls_docker(proxy, pki["carol"], "version", "--format", "{{.Server.Version}}")
        assert carol.returncode == 0, carol.stderr
        assert tls_docker(proxy, pki["alice"], "version").returncode != 0

        after = containers.run("spt-tls-reload", ["true"], start=False, labels={"spt-event": tag})
        assert reader.wait_for(lambda line: line == f"create {after}", timeout=15), \
            f"the stream opened before the reload stopped flowing: {reader.seen}"
        assert watcher.poll() is None

        # Files that do not load leave the previous ones in force.
        (live / "server/key.pem").write_text("not a key\n")
        proxy.proc.send_signal(signal.SIGHUP)
        failed = wait_for_event(proxy, "reload-failed")
        assert "SOCKET_PROXY_TLS_KEY" in failed
        carol = tls_docker(proxy, pki["carol"], "version", "--format", "{{.Server.Version}}")
        assert carol.returncode == 0, carol.stderr
    finally:
        stop_process(watcher)


# --------------------------------------------------------------------------- what a client certificate is for


def openssl_certificate(directory: Path, name: str, extensions: str, issuer: tuple | None = None,
                        days: int = 30) -> tuple:
    """A P-256 certificate with these X.509v3 extensions (openssl's config syntax), signed by
    issuer (cert, key) or by itself; returns (cert, key)."""
    directory.mkdir(parents=True, exist_ok=True)
    key, request, cert = (directory / f"{name}-key.pem", directory / f"{name}.csr",
                          directory / f"{name}.pem")
    (directory / f"{name}.ext").write_text(extensions)
    made = run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
               "-nodes", "-keyout", key, "-out", request, "-subj", f"/CN={name}")
    assert made.returncode == 0, made.stderr
    signer = (["-CA", issuer[0], "-CAkey", issuer[1], "-CAcreateserial"] if issuer
              else ["-signkey", key])
    signed = run("openssl", "x509", "-req", "-in", request, *signer, "-days", days,
                 "-extfile", directory / f"{name}.ext", "-out", cert)
    assert signed.returncode == 0, signed.stderr
    for path in (key, cert):
        path.chmod(0o644)
    return cert, key


def curl_with(proxy, pki, cert: Path, key: Path) -> subprocess.CompletedProcess:
    return run("curl", "-sS", "--cacert", pki["main"] / "ca.pem", "--cert", cert, "--key", key,
               f"https://127.0.0.1:{proxy.tcp_port}/_ping")


def test_a_server_certificate_is_no_client_certificate(tls_proxy, pki):
    """The certificate `certs` writes for the proxy has the right CA but extendedKeyUsage
    serverAuth only: wolfSSL refuses it as a client's, as OpenSSL's and Go's purpose checks do."""
    result = tls_docker(tls_proxy, pki["main"] / "server", "version")
    assert result.returncode != 0
    assert "Server:" not in result.stdout
    assert_refused_in_handshake(tls_proxy, "extendedKeyUsage lacks clientAuth")


@pytest.mark.parametrize("name, extensions, accepted", [
    # No extendedKeyUsage: any purpose, for Go's crypto/tls and OpenSSL alike.
    ("no-eku", "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n", True),
    ("any-eku", "basicConstraints=CA:FALSE\nextendedKeyUsage=anyExtendedKeyUsage\n", True),
    ("code-signing", "basicConstraints=CA:FALSE\nextendedKeyUsage=codeSigning\n", False),
    ("server-and-client", "extendedKeyUsage=serverAuth,clientAuth\n", True),
])
def test_extended_key_usage_decides(tls_proxy, pki, name, extensions, accepted):
    cert, key = openssl_certificate(pki["base"] / "purposes", name, extensions,
                                    issuer=(pki["main"] / "ca.pem", pki["main"] / "ca-key.pem"))
    result = curl_with(tls_proxy, pki, cert, key)
    if accepted:
        assert result.returncode == 0 and result.stdout == "OK", result.stderr
        assert f"tls:cn={name}," in wait_for_request_lines(tls_proxy, 1)[0]
    else:
        assert result.returncode != 0
        assert_refused_in_handshake(tls_proxy, "extendedKeyUsage lacks clientAuth")


def test_a_client_signed_by_an_intermediate_needs_to_send_it(tls_proxy, pki):
    """SOCKET_PROXY_TLS_CA holds the root only: a leaf signed by an intermediate CA is refused
    when the client sends the leaf alone, and accepted when it sends the intermediate after it
    (as Docker's clients do when cert.pem holds the chain)."""
    directory = pki["base"] / "intermediate"
    intermediate = openssl_certificate(
        directory, "intermediate",
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n",
        issuer=(pki["main"] / "ca.pem", pki["main"] / "ca-key.pem"))
    leaf, key = openssl_certificate(directory, "leaf",
                                    "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
                                    issuer=intermediate)
    alone = curl_with(tls_proxy, pki, leaf, key)
    assert alone.returncode != 0
    assert_refused_in_handshake(tls_proxy, "not signed by a CA in SOCKET_PROXY_TLS_CA")

    chain = directory / "chain.pem"
    chain.write_text(leaf.read_text() + intermediate[0].read_text())
    chain.chmod(0o644)
    with_chain = curl_with(tls_proxy, pki, chain, key)
    assert with_chain.returncode == 0 and with_chain.stdout == "OK", with_chain.stderr


def test_the_ca_certificate_itself_is_accepted_as_a_client(tls_proxy, pki):
    """Whoever holds the CA's key can sign any client certificate, so refusing the CA's own
    certificate protects nothing; Go's crypto/tls accepts it too (it has no extendedKeyUsage).
    Its common name is what rules see."""
    result = curl_with(tls_proxy, pki, pki["main"] / "ca.pem", pki["main"] / "ca-key.pem")
    assert result.returncode == 0 and result.stdout == "OK", result.stderr
    assert "tls:cn=" in wait_for_request_lines(tls_proxy, 1)[0]


# --------------------------------------------------------------------------- certificate expiry


def enddate(cert: Path, index: int = 0) -> int:
    """notAfter as Unix seconds, as openssl reads it."""
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?",
                        cert.read_text(), re.S)
    result = subprocess.run(["openssl", "x509", "-noout", "-enddate", "-dateopt", "iso_8601"],
                            input=blocks[index], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    text = result.stdout.strip().split("=", 1)[1]  # 2026-12-08 04:50:07Z
    return calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M:%SZ"))


def common_name(cert: Path) -> str:
    result = run("openssl", "x509", "-in", cert, "-noout", "-subject", "-nameopt", "RFC2253")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().split("CN=", 1)[1].split(",")[0]


def expiry_samples(port: int) -> dict:
    """{(certificate, subject): (sha256 label, value)} of the expiry gauge."""
    from test_metrics import scrape
    family = scrape(port)["socket_proxy_certificate_expiry_timestamp_seconds"]
    assert family.type == "gauge"
    return {(labels["certificate"], labels["subject"]): (labels["sha256"], value)
            for _, labels, value in family.samples}


@pytest.fixture
def short_lived(pki):
    """A server certificate for 127.0.0.1 that ends in 3 days, self-signed, in a directory
    of its own that the proxy's user can read (SIGHUP reads it again)."""
    directory = pki["base"] / f"short-{random_suffix()}"
    cert, key = openssl_certificate(
        directory, "short-lived",
        "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n",
        days=3)
    shutil.copy(cert, directory / "cert.pem")
    shutil.copy(key, directory / "key.pem")
    for path in directory.iterdir():
        path.chmod(0o644)
    directory.chmod(0o755)
    return directory


def test_a_certificate_near_its_end_is_logged_and_its_end_is_a_metric(proxy_factory, pki,
                                                                      short_lived):
    metrics_port = free_tcp_port()
    proxy = proxy_factory("--tls-cert", str(short_lived / "cert.pem"),
                          "--tls-key", str(short_lived / "key.pem"),
                          "--tls-ca", str(pki["main"] / "ca.pem"),
                          "--metrics", f"127.0.0.1:{metrics_port}")
    warning = wait_for_event(proxy, "certificate-expires-soon")
    assert " warning certificate-expires-soon " in warning
    assert "certificate=tls_cert" in warning and f"file={short_lived}/cert.pem" in warning
    assert "subject=short-lived" in warning and "days_left=2" in warning, warning
    # The CA lasts ten years: no line for it.
    assert proxy.log.count("certificate-expires-soon") == 1, proxy.log
    assert " certificate-expired " not in proxy.log

    samples = expiry_samples(metrics_port)
    ca_name = common_name(pki["main"] / "ca.pem")
    assert set(samples) == {("tls_cert", "short-lived"), ("tls_ca", ca_name)}, samples
    assert samples[("tls_cert", "short-lived")] == \
        (der_sha256(short_lived / "cert.pem")[:16], enddate(short_lived / "cert.pem"))
    assert samples[("tls_ca", ca_name)] == \
        (der_sha256(pki["main"] / "ca.pem")[:16], enddate(pki["main"] / "ca.pem"))

    # Renewed and reloaded: the gauge follows, the warning is not repeated.
    shutil.copy(pki["main"] / "server/cert.pem", short_lived / "cert.pem")
    shutil.copy(pki["main"] / "server/key.pem", short_lived / "key.pem")
    proxy.proc.send_signal(signal.SIGHUP)
    assert proxy.wait_for_log(lambda line: " reload " in line and "tls_cert=" in line), proxy.log
    samples = expiry_samples(metrics_port)
    assert samples[("tls_cert", "127.0.0.1")][1] == enddate(pki["main"] / "server/cert.pem")
    assert ("tls_cert", "short-lived") not in samples
    assert proxy.log.count("certificate-expires-soon") == 1, proxy.log


def test_a_certificate_past_its_end_in_the_ca_bundle_is_an_error(proxy_factory, pki, tmp_path):
    """A bundle of the CA and a certificate that ended in 2020: every certificate of the file
    is watched, and the ended one is named."""
    bundle_path = pki["base"] / f"bundle-{random_suffix()}.pem"
    bundle_path.write_text((pki["main"] / "ca.pem").read_text() +
                           (pki["expired"] / "cert.pem").read_text())
    bundle_path.chmod(0o644)
    metrics_port = free_tcp_port()
    proxy = proxy_factory("--tls-cert", str(pki["main"] / "server/cert.pem"),
                          "--tls-key", str(pki["main"] / "server/key.pem"),
                          "--tls-ca", str(bundle_path), "--metrics", f"127.0.0.1:{metrics_port}")
    line = wait_for_event(proxy, "certificate-expired")
    assert " error certificate-expired " in line
    assert "certificate=tls_ca" in line and "subject=expired" in line
    assert "not_after=2020-01-02T00:00:00Z" in line and "days_left=-" in line, line
    samples = expiry_samples(metrics_port)
    assert samples[("tls_ca", "expired")][1] == enddate(bundle_path, 1) == 1577923200
    assert samples[("tls_ca", common_name(pki["main"] / "ca.pem"))][1] == enddate(bundle_path, 0)


# --------------------------------------------------------------------------- start-up


def test_plaintext_listener_off_loopback_warns_at_start(proxy_factory):
    port = free_tcp_port()
    proxy = proxy_factory(tcp=f"0.0.0.0:{port}")
    line = wait_for_event(proxy, "plaintext-tcp")
    for setting in ["SOCKET_PROXY_TLS_CERT", "SOCKET_PROXY_TLS_KEY", "SOCKET_PROXY_TLS_CA"]:
        assert setting in line


def test_no_warning_on_loopback_or_with_tls(proxy_factory, pki):
    plain = proxy_factory()
    tls = proxy_factory(*tls_args(pki["main"]), tcp=f"0.0.0.0:{free_tcp_port()}")
    for proxy in [plain, tls]:
        wait_for_event(proxy, "listening")
        assert " plaintext-tcp " not in proxy.log
    assert "tls=mutual" in tls.log


@pytest.mark.parametrize("args, message", [
    (["--tls-cert", "/nonexistent/cert.pem"], "SOCKET_PROXY_TLS_CERT is set without"),
    (["--tls-ca", "/nonexistent/ca.pem"], "SOCKET_PROXY_TLS_CA is set without"),
    (["--tls-cert", "cert.pem", "--tls-key", "/k.pem"], "is not an absolute path"),
    (["--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem"],
     "SOCKET_PROXY_TLS_CERT=/nonexistent/cert.pem cannot be read"),
])
def test_settings_that_cannot_serve_tls_stop_the_proxy(args, message, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOCKET_PROXY_", "DOCKER_"))}
    result = subprocess.run([proxy_binary(), "--volume", str(tmp_path), *args], env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_mismatched_key_stops_the_proxy(pki, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOCKET_PROXY_", "DOCKER_"))}
    result = subprocess.run(
        [proxy_binary(), "--volume", str(tmp_path), "--tcp", f"127.0.0.1:{free_tcp_port()}",
         "--tls-cert", str(pki["main"] / "server/cert.pem"),
         "--tls-key", str(pki["renewed"] / "server/key.pem")],
        env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "is not the key of the certificate" in result.stderr, result.stderr
