"""The deployment examples with TLS, run for real: examples/compose-tls.yaml under
docker-compose on the real engine, examples/swarm-tls.yaml as a stack with Docker secrets on the
spare engine's swarm (spare_engine.py), each reached over mutual TLS by the docker CLI with
--tlsverify and a certificate from `socket-proxy certs`; and the policy docs/many-hosts.md gives
each tool's certificate. The image is socket-proxy:local as scripts/build-image makes it from
this checkout (test_image.py's fixture); the examples are used unchanged, with their variables
pointing at this run's port, image and certificates."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from proxytest import (DOCKER_SOCKET, REPO, docker, docker_cli, docker_environment,
                       docker_socket_gid, free_tcp_port, image_tests, is_root, proxy_binary,
                       random_suffix)
from spare_engine import spare_swarm
from test_image import image  # noqa: F401  (the fixture that builds socket-proxy:local)

pytestmark = pytest.mark.timeout(900)

COMPOSE_EXAMPLE = REPO / "examples" / "compose-tls.yaml"
SWARM_EXAMPLE = REPO / "examples" / "swarm-tls.yaml"
MANY_HOSTS = REPO / "docs" / "many-hosts.md"
READY_TIMEOUT = 90

needs_root = pytest.mark.skipif(not is_root(), reason="needs root: the proxy drops to uid 1000, "
                                                      "which must own the key it reads again")


def run(*args, **options) -> subprocess.CompletedProcess:
    options.setdefault("timeout", 180)
    return subprocess.run([*map(str, args)], capture_output=True, text=True, **options)


@pytest.fixture(scope="module")
def image_id(image) -> str:  # noqa: F811
    """The id, not the tag: other builds may move socket-proxy:local while this module runs."""
    result = docker("image", "inspect", "--format", "{{.Id}}", image, check=True)
    return result.stdout.strip()


def give_server_files_to_1000(certs: Path) -> None:
    """As the example says: the proxy reads them again as uid 1000 on SIGHUP."""
    for path in [certs / "server", *(certs / "server").iterdir()]:
        os.chown(path, 1000, -1)


@pytest.fixture(scope="module")
def certs():
    base = Path(tempfile.mkdtemp(prefix="spt-deploy-", dir="/tmp"))
    base.chmod(0o755)
    made = run(proxy_binary(), "certs", base / "certs", "--host", "127.0.0.1",
               "--client", "homepage,portainer")
    assert made.returncode == 0, made.stderr
    if is_root():
        give_server_files_to_1000(base / "certs")
    yield base / "certs"
    shutil.rmtree(base, ignore_errors=True)


def tls_cli(host: str, bundle: Path, *args: str, prefix: tuple = ()) -> subprocess.CompletedProcess:
    """The docker CLI with --tlsverify and a client bundle (ca.pem, cert.pem, key.pem)."""
    env = docker_environment(host)
    return run(*prefix, docker_cli(), "--tlsverify", "--tlscacert", bundle / "ca.pem",
               "--tlscert", bundle / "cert.pem", "--tlskey", bundle / "key.pem", *args, env=env,
               stdin=subprocess.DEVNULL, timeout=60)


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


def assert_mutual_tls(host: str, certs: Path, prefix: tuple = ()) -> None:
    """The client's certificate gets the read-only policy; the server's own is refused as a
    client's; the CA the proxy does not trust is refused."""
    listing = tls_cli(host, certs / "clients/homepage", "ps", "--format", "{{.ID}}",
                      prefix=prefix)
    assert listing.returncode == 0, listing.stderr
    version = tls_cli(host, certs / "clients/homepage", "version", "--format",
                      "{{.Server.Version}}", prefix=prefix)
    assert version.returncode == 0 and version.stdout.strip(), version.stderr
    write = tls_cli(host, certs / "clients/homepage", "network", "create",
                    f"spt-refused-{random_suffix()}", prefix=prefix)
    assert write.returncode != 0 and "socket-proxy denied" in write.stderr, write.stderr
    as_server = tls_cli(host, certs / "server", "ps", prefix=prefix)
    assert as_server.returncode != 0, "the server's certificate passed as a client's"


# --------------------------------------------------------------------------- compose


def compose_env(certs: Path, image_id: str, port: int) -> dict:
    env = docker_environment(f"unix://{DOCKER_SOCKET}")
    env.update({"DOCKER_GID": str(docker_socket_gid()), "SOCKET_PROXY_IMAGE": image_id,
                "SOCKET_PROXY_CERTS": str(certs),
                # Loopback only: the test reaches it from this host and nothing else may.
                "SOCKET_PROXY_PUBLISH": f"127.0.0.1:{port}"})
    return env


def test_compose_files_validate_and_name_what_is_missing(certs, tmp_path):
    env = compose_env(certs, "socket-proxy:local", 2376)
    for example in (COMPOSE_EXAMPLE, SWARM_EXAMPLE):
        config = run("docker-compose", "-f", example, "config", env=env)
        assert config.returncode == 0, config.stderr
        assert "/run/docker.sock:ro" in config.stdout or "/run/docker.sock" in config.stdout
    del env["DOCKER_GID"]
    missing = run("docker-compose", "-f", COMPOSE_EXAMPLE, "config", env=env)
    assert missing.returncode != 0
    assert "set DOCKER_GID to the group of /var/run/docker.sock" in missing.stderr


@image_tests
@needs_root
def test_compose_example_serves_mutual_tls(certs, image_id):
    port = free_tcp_port()
    project = f"spt-compose-tls-{random_suffix()}"
    env = compose_env(certs, image_id, port)
    compose = ("docker-compose", "-p", project, "-f", COMPOSE_EXAMPLE)
    up = run(*compose, "up", "-d", env=env)
    try:
        assert up.returncode == 0, up.stderr
        container = run(*compose, "ps", "-q", "socket-proxy", env=env).stdout.strip()
        assert container, up.stderr

        def healthy():
            state = json.loads(docker("inspect", container, check=True).stdout)[0]["State"]
            assert state["Status"] == "running", docker("logs", container).stdout
            return state.get("Health", {}).get("Status") == "healthy"

        wait_until(healthy, READY_TIMEOUT, f"{container} did not become healthy")
        logs = docker("logs", container).stdout
        assert re.search(r"\blistening\b.*\btls\W+mutual\b", logs), logs
        assert_mutual_tls(f"tcp://127.0.0.1:{port}", certs)

        # Renewed certificates and SIGHUP, as the example's comment says.
        renewed = run(proxy_binary(), "certs", certs.parent / "certs", "--host", "127.0.0.1",
                      "--client", "homepage", "--force")
        assert renewed.returncode == 0, renewed.stderr
        give_server_files_to_1000(certs)
        docker("kill", "-s", "HUP", container, check=True)
        wait_until(lambda: re.search(r'"event":"reload","tls_cert"',
                                     docker("logs", container).stdout), 15, "no reload line")
        assert_mutual_tls(f"tcp://127.0.0.1:{port}", certs)
    finally:
        print(run(*compose, "logs", "--no-color", env=env).stdout)
        down = run(*compose, "down", "-v", "--remove-orphans", env=env)
        assert down.returncode == 0, down.stderr


# --------------------------------------------------------------------------- swarm


@image_tests
@needs_root
def test_swarm_example_deploys_with_secrets(certs, image_id, engine):
    with spare_swarm() as (spare, host):
        loaded = subprocess.run(f"docker save {image_id} | docker -H {host} load", shell=True,
                                capture_output=True, text=True, timeout=180)
        assert loaded.returncode == 0, loaded.stderr
        # The spare engine's own image store: the example's default image name is safe there.
        docker("tag", image_id, "socket-proxy:local", host=host, check=True)
        for name, path in (("socket-proxy-cert", "server/cert.pem"),
                           ("socket-proxy-key", "server/key.pem"),
                           ("socket-proxy-ca", "ca.pem")):
            docker("secret", "create", name, str(certs / path), host=host, check=True)
        port = free_tcp_port()
        env = docker_environment(host)
        env.update({"DOCKER_GID": str(docker_socket_gid()), "SOCKET_PROXY_PORT": str(port)})
        stack = f"spt{random_suffix()}"
        # No registry: the image is the one loaded above.
        deployed = run(docker_cli(), "stack", "deploy", "--resolve-image", "never", "-c",
                       SWARM_EXAMPLE, stack, env=env)
        assert deployed.returncode == 0, deployed.stderr
        service = f"{stack}_socket-proxy"
        try:
            def running():
                tasks = docker("service", "ps", "--no-trunc", "--format",
                               "{{.CurrentState}} {{.Error}}", service, host=host).stdout
                assert "Rejected" not in tasks and "Failed" not in tasks, tasks
                return tasks.startswith("Running")

            wait_until(running, READY_TIMEOUT, f"{service} did not run")
            # The engine's own network namespace: its 127.0.0.1 is where the port is published.
            mode = docker("service", "inspect", "--format",
                          "{{json .Spec.Mode}} {{json .Endpoint.Ports}}", service,
                          host=host).stdout
            assert '"Global"' in mode and '"PublishMode":"host"' in mode, mode
            target = f"tcp://127.0.0.1:{port}"
            wait_until(lambda: tls_cli(target, certs / "clients/homepage", "version",
                                       prefix=tuple(spare.in_network())).returncode == 0,
                       READY_TIMEOUT, "the stack's proxy did not answer over TLS")
            assert_mutual_tls(target, certs, prefix=tuple(spare.in_network()))
        finally:
            print(docker("service", "logs", "--raw", service, host=host).stdout[-4000:])
            docker("stack", "rm", stack, host=host)


# --------------------------------------------------------------------------- docs/many-hosts.md


def many_hosts_policy() -> str:
    blocks = re.findall(r"```yaml\n(default: deny\n.*?)```", MANY_HOSTS.read_text(), re.S)
    assert len(blocks) == 1, "docs/many-hosts.md should hold one policy file"
    return blocks[0]


@pytest.mark.parametrize("method, target, client, decision", [
    ("GET", "/v1.41/containers/json", "tls:cn=homepage,address=192.0.2.1", "allow"),
    ("GET", "/v1.41/containers/c1/stats?stream=false", "tls:cn=homepage,address=192.0.2.1",
     "allow"),
    ("GET", "/v1.41/containers/c1/stats", "tls:cn=homepage,address=192.0.2.1", "deny"),
    ("GET", "/v1.41/events", "tls:cn=homepage,address=192.0.2.1", "deny"),
    ("GET", "/v1.41/events", "tls:cn=traefik,address=192.0.2.1", "allow"),
    ("GET", "/v1.41/containers/c1/logs", "tls:cn=portainer,address=192.0.2.1", "allow"),
    ("GET", "/v1.41/containers/c1/export", "tls:cn=portainer,address=192.0.2.1", "deny"),
    ("DELETE", "/v1.41/containers/web", "tls:cn=homepage,address=192.0.2.1", "deny"),
    ("GET", "/v1.41/containers/json", "tcp:192.0.2.1", "deny"),
    ("GET", "/v1.41/version", "tls:cn=Traefik,address=192.0.2.1", "deny"),
])
def test_many_hosts_policy_gives_each_certificate_its_rules(tmp_path, method, target, client,
                                                          decision):
    policy = tmp_path / "policy.yaml"
    policy.write_text(many_hosts_policy())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOCKET_PROXY_", "DOCKER_"))}
    result = run(proxy_binary(), "explain", method, target, "--client", client,
                 "--policy", policy, env=env)
    assert f"decision: {decision}" in result.stdout, result.stdout + result.stderr
