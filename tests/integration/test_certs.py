"""`socket-proxy certs` (issue 21): a CA, a server certificate and client bundles in Docker's
layout, checked with the openssl CLI, and accepted by a real dockerd with --tlsverify and the
real docker CLI, while a bundle from another CA and a server certificate for another host are
refused."""

from __future__ import annotations

import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from proxytest import docker_cli, docker_environment, proxy_binary
from spare_engine import SpareEngine

TLS_PORT = 2376


def certs(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([proxy_binary(), "certs", *map(str, args)], capture_output=True,
                          text=True, timeout=60, cwd=cwd)


def openssl(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True,
                          timeout=30)


def certificate_text(path: Path) -> str:
    result = openssl("x509", "-in", path, "-noout", "-text")
    assert result.returncode == 0, result.stderr
    return result.stdout


def contents(directory: Path) -> dict:
    return {path.relative_to(directory): path.read_bytes()
            for path in sorted(directory.rglob("*")) if path.is_file()}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def one_line(text: str) -> str:
    lines = text.splitlines()
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture
def workdir():
    directory = Path(tempfile.mkdtemp(prefix="spt-certs-", dir="/tmp"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def test_writes_a_ca_a_server_certificate_and_client_bundles(binary, workdir):
    result = certs("out", "--host", "docker.example.com,127.0.0.1,[::1]", "--client", "alice,ci",
                   cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out = workdir / "out"

    # Keys only for their owner, from the moment they exist; certificates for everyone.
    for key in [out / "ca-key.pem", out / "server/key.pem", out / "clients/alice/key.pem",
                out / "clients/ci/key.pem"]:
        assert mode(key) == 0o600, key
    for certificate in [out / "ca.pem", out / "server/cert.pem", out / "server/ca.pem",
                        out / "clients/alice/cert.pem", out / "clients/ci/ca.pem"]:
        assert mode(certificate) == 0o644, certificate
    for directory in [out, out / "server", out / "clients", out / "clients/alice"]:
        assert mode(directory) == 0o700, directory
    ca = (out / "ca.pem").read_bytes()
    assert (out / "server/ca.pem").read_bytes() == ca
    assert (out / "clients/alice/ca.pem").read_bytes() == ca

    # The chain verifies, and each leaf for its purpose only.
    for leaf, purpose in [("server", "sslserver"), ("clients/alice", "sslclient"),
                          ("clients/ci", "sslclient")]:
        verified = openssl("verify", "-purpose", purpose, "-CAfile", out / "ca.pem",
                           out / leaf / "cert.pem")
        assert verified.returncode == 0, (leaf, verified.stdout, verified.stderr)
    wrong_purpose = openssl("verify", "-purpose", "sslclient", "-CAfile", out / "ca.pem",
                            out / "server/cert.pem")
    assert wrong_purpose.returncode != 0

    ca_text = certificate_text(out / "ca.pem")
    assert "CA:TRUE" in ca_text and "Certificate Sign, CRL Sign" in ca_text
    server_text = certificate_text(out / "server/cert.pem")
    assert ("DNS:docker.example.com, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"
            in server_text), server_text
    assert "TLS Web Server Authentication" in server_text
    assert "TLS Web Client Authentication" not in server_text
    assert "CA:FALSE" in server_text
    assert "X509v3 Subject Key Identifier" in server_text
    assert "X509v3 Authority Key Identifier" in server_text
    assert "ecdsa-with-SHA256" in server_text
    client_text = certificate_text(out / "clients/alice/cert.pem")
    assert "Subject: CN = alice" in client_text
    assert "TLS Web Client Authentication" in client_text
    assert "TLS Web Server Authentication" not in client_text
    key_text = openssl("pkey", "-in", out / "clients/alice/key.pem", "-noout", "-text").stdout
    assert "NIST CURVE: P-256" in key_text

    serials = {openssl("x509", "-in", out / path, "-noout", "-serial").stdout
               for path in ["ca.pem", "server/cert.pem", "clients/alice/cert.pem"]}
    assert len(serials) == 3
    assert all(len(serial.strip().split("=")[1]) == 32 for serial in serials), serials

    # The lines to use name absolute paths, whatever directory certs ran in.
    lines = result.stdout.splitlines()
    assert f"SOCKET_PROXY_TLS_CERT={out}/server/cert.pem" in lines
    assert f"SOCKET_PROXY_TLS_KEY={out}/server/key.pem" in lines
    assert f"SOCKET_PROXY_TLS_CA={out}/server/ca.pem" in lines
    assert lines.count("DOCKER_HOST=tcp://docker.example.com:2376") == 2
    assert lines.count("DOCKER_TLS_VERIFY=1") == 2
    assert f"DOCKER_CERT_PATH={out}/clients/alice" in lines
    assert f"DOCKER_CERT_PATH={out}/clients/ci" in lines


def test_an_ipv6_first_host_is_bracketed_in_docker_host(binary, workdir):
    result = certs(workdir / "out", "--host", "::1", "--client", "alice")
    assert result.returncode == 0, result.stderr
    assert "DOCKER_HOST=tcp://[::1]:2376" in result.stdout.splitlines()


def test_a_rerun_keeps_the_ca_and_replaces_certificates_only_with_force(binary, workdir):
    out = workdir / "out"
    assert certs(out, "--host", "127.0.0.1", "--client", "alice").returncode == 0
    before = contents(out)

    again = certs(out, "--host", "127.0.0.1", "--client", "alice")
    assert again.returncode == 1
    assert "--force" in one_line(again.stderr) and "server/cert.pem exists" in again.stderr
    assert contents(out) == before

    # A new client is refused too (the server certificate would be replaced), and nothing of
    # it is written.
    new_client = certs(out, "--host", "127.0.0.1", "--client", "bob")
    assert new_client.returncode == 1, new_client.stdout
    assert not (out / "clients/bob").exists()
    assert contents(out) == before

    forced = certs(out, "--host", "127.0.0.1", "--client", "alice,bob", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "existing CA" in forced.stdout
    after = contents(out)
    assert after[Path("ca-key.pem")] == before[Path("ca-key.pem")]
    assert after[Path("ca.pem")] == before[Path("ca.pem")]
    for leaf in ["server/cert.pem", "server/key.pem", "clients/alice/cert.pem",
                 "clients/alice/key.pem"]:
        assert after[Path(leaf)] != before[Path(leaf)], leaf
    assert mode(out / "server/key.pem") == 0o600
    for leaf in ["server", "clients/alice", "clients/bob"]:
        verified = openssl("verify", "-CAfile", out / "ca.pem", out / leaf / "cert.pem")
        assert verified.returncode == 0, verified.stderr
    assert not [path.name for path in out.rglob(".*")], "temporary files left behind"


@pytest.mark.parametrize("present", ["ca-key.pem", "ca.pem"])
def test_half_a_ca_is_refused_and_the_key_never_overwritten(binary, workdir, present):
    out = workdir / "out"
    out.mkdir()
    (out / present).write_text("precious\n")
    result = certs(out, "--host", "127.0.0.1", "--client", "alice", "--force")
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert "ca.pem" in line and "ca-key.pem" in line, line
    assert (out / present).read_text() == "precious\n"
    assert sorted(path.name for path in out.iterdir()) == [present]


def test_a_ca_key_that_does_not_match_the_ca_is_refused(binary, workdir):
    first, second = workdir / "first", workdir / "second"
    for directory in (first, second):
        assert certs(directory, "--host", "127.0.0.1", "--client", "alice").returncode == 0
    shutil.copy(second / "ca-key.pem", first / "ca-key.pem")
    result = certs(first, "--host", "127.0.0.1", "--client", "alice", "--force")
    assert result.returncode == 1
    assert "is not the key of" in one_line(result.stderr)


def test_a_ca_that_is_not_pem_is_refused_and_kept(binary, workdir):
    out = workdir / "out"
    out.mkdir()
    (out / "ca.pem").write_text("not a certificate\n")
    (out / "ca-key.pem").write_text("not a key\n")
    result = certs(out, "--host", "127.0.0.1", "--client", "alice", "--force")
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert "holds no PEM certificate" in line and "choose another directory" in line, line
    assert (out / "ca-key.pem").read_text() == "not a key\n"
    assert sorted(path.name for path in out.iterdir()) == ["ca-key.pem", "ca.pem"]


@pytest.mark.parametrize("args, fragment", [
    (["--client", "alice"], "--host"),
    (["--host", "127.0.0.1"], "--client"),
    (["--host", "127.0.0.1", "--client", "../escape"], '"../escape"'),
    (["--host", "127.0.0.1", "--client", ".hidden"], '".hidden"'),
    (["--host", "127.0.0.1", "--client", "a/b"], '"a/b"'),
    (["--host", "127.0.0.1", "--client", "alice,,bob"], "empty name"),
    (["--host", "under_score", "--client", "alice"], "not a DNS name or an IP address"),
    (["--host", "1.2.3.400", "--client", "alice"], "not a DNS name or an IP address"),
    (["--host"], "--host needs a value"),
    (["--host", "127.0.0.1", "--client", "alice", "--bogus"], '"--bogus"'),
])
def test_usage_errors_say_what_to_change_in_one_line_and_write_nothing(binary, workdir, args,
                                                                       fragment):
    result = certs(workdir / "out", *args)
    assert result.returncode == 2, result.stdout
    line = one_line(result.stderr)
    assert line.startswith("socket-proxy certs: ") and fragment in line, line
    assert result.stdout == ""
    assert not (workdir / "out").exists()


def test_a_directory_that_cannot_be_made_is_one_line(binary, workdir):
    (workdir / "file").write_text("")
    result = certs(workdir / "file/out", "--host", "127.0.0.1", "--client", "alice")
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert f"{workdir}/file/out" in line and "choose a directory you can write to" in line, line


def test_help(binary):
    result = certs("--help")
    assert result.returncode == 0
    assert result.stdout.startswith("Usage: socket-proxy certs DIR --host")
    assert "DOCKER_CERT_PATH" in result.stdout and "--force" in result.stdout


# --------------------------------------------------------------------------- a real engine


@pytest.fixture(scope="module")
def tls_engine(binary):
    """A spare dockerd with --tlsverify on 127.0.0.1:2376 of its own network namespace, using
    the server certificate of `certs DIR --host 127.0.0.1 --client alice`. Yields (engine,
    directory): directory/good holds those certificates, directory/other the same from
    another CA, directory/elsewhere a server certificate for docker.example.com only. The
    DOCKER_* lines certs printed for directory/good are the engine's `printed_settings`."""
    directory = Path(tempfile.mkdtemp(prefix="spt-certs-", dir="/tmp"))
    printed = {}
    for name, host in [("good", "127.0.0.1"), ("other", "127.0.0.1"),
                       ("elsewhere", "docker.example.com")]:
        result = certs(directory / name, "--host", host, "--client", "alice")
        assert result.returncode == 0, result.stderr
        printed[name] = result.stdout
    server = directory / "good/server"
    engine = SpareEngine(["--tlsverify", "--tlscacert", str(server / "ca.pem"),
                          "--tlscert", str(server / "cert.pem"),
                          "--tlskey", str(server / "key.pem"),
                          "--host", f"tcp://127.0.0.1:{TLS_PORT}"])
    bridge_before = SpareEngine.host_bridge_exists()
    try:
        engine.start()
        engine.printed_settings = dict(line.split("=", 1) for line in printed["good"].splitlines()
                                       if line.startswith("DOCKER_"))
        yield engine, directory
    finally:
        if engine.proc is not None and engine.proc.poll() is not None:
            print(f"--- spare dockerd exited with {engine.proc.returncode} ---\n"
                  f"{engine.log_tail()}")
        engine.remove()
        shutil.rmtree(directory, ignore_errors=True)
    assert not bridge_before or SpareEngine.host_bridge_exists(), \
        "the spare engine deleted the host's docker0 bridge"


def docker_over_tls(engine: SpareEngine, cert_path: Path, host: str = "127.0.0.1",
                    port: int = TLS_PORT) -> subprocess.CompletedProcess:
    env = docker_environment(f"tcp://{host}:{port}")
    env["DOCKER_TLS_VERIFY"] = "1"
    env["DOCKER_CERT_PATH"] = str(cert_path)
    return subprocess.run(engine.in_network(docker_cli(), "version", "--format",
                                            "{{.Server.Version}}"),
                          env=env, capture_output=True, text=True, timeout=60)


def test_the_docker_cli_reaches_a_tls_engine_with_the_printed_settings(tls_engine):
    engine, directory = tls_engine
    settings = engine.printed_settings
    assert settings == {"DOCKER_HOST": f"tcp://127.0.0.1:{TLS_PORT}", "DOCKER_TLS_VERIFY": "1",
                        "DOCKER_CERT_PATH": str(directory / "good/clients/alice")}
    env = {**docker_environment(settings["DOCKER_HOST"]), **settings}
    result = subprocess.run(engine.in_network(docker_cli(), "version", "--format",
                                              "{{.Server.Version}}"),
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip(), "no server version"


def test_a_bundle_from_another_ca_does_not_trust_the_engine(tls_engine):
    engine, directory = tls_engine
    result = docker_over_tls(engine, directory / "other/clients/alice")
    assert result.returncode != 0
    assert "certificate signed by unknown authority" in result.stderr, result.stderr


def test_the_engine_refuses_a_client_certificate_from_another_ca(tls_engine, tmp_path):
    """The client trusts the engine's CA but shows a certificate of another: the engine says
    no, so a stranger's CA cannot mint access."""
    engine, directory = tls_engine
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copy(directory / "good/clients/alice/ca.pem", mixed / "ca.pem")
    shutil.copy(directory / "other/clients/alice/cert.pem", mixed / "cert.pem")
    shutil.copy(directory / "other/clients/alice/key.pem", mixed / "key.pem")
    result = docker_over_tls(engine, mixed)
    assert result.returncode != 0
    assert "bad certificate" in result.stderr, result.stderr


def test_a_server_certificate_for_another_host_fails_verification(tls_engine):
    """`--host docker.example.com` does not cover 127.0.0.1: the CLI refuses the server, and
    also refuses the good certificate (IP 127.0.0.1 only) when it dials `localhost`."""
    engine, directory = tls_engine
    dialled_by_name = docker_over_tls(engine, directory / "good/clients/alice", host="localhost")
    assert dialled_by_name.returncode != 0
    assert "wanted to match localhost" in dialled_by_name.stderr, dialled_by_name.stderr

    # The same CA and client, a server certificate without 127.0.0.1: served by openssl in the
    # engine's namespace, so no second engine has to start.
    elsewhere = directory / "elsewhere"
    port = TLS_PORT + 1
    server = subprocess.Popen(
        engine.in_network("openssl", "s_server", "-quiet", "-accept", f"127.0.0.1:{port}",
                          "-cert", str(elsewhere / "server/cert.pem"),
                          "-key", str(elsewhere / "server/key.pem"),
                          "-CAfile", str(elsewhere / "server/ca.pem"), "-Verify", "1"),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        result = None
        for _ in range(50):
            result = docker_over_tls(engine, elsewhere / "clients/alice", port=port)
            # openssl may not listen yet; the CLI says so in words of its own.
            if "connection refused" not in result.stderr and \
                    "Cannot connect to the Docker daemon" not in result.stderr:
                break
            time.sleep(0.1)
        assert result.returncode != 0
        assert "cannot validate certificate for 127.0.0.1" in result.stderr, \
            result.stderr
    finally:
        server.kill()
        server.wait()
