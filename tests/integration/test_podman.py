"""Podman as the upstream: Debian's podman runs `podman system service` on a socket of the
test's own (own storage root, vfs). The docker CLI reads its Docker-compatible API through the
proxy as it reads Docker (issue 6), and podman-remote its libpod API; the libpod reads that
return files or secret values are refused under every prefix Podman routes, and each of them is
shown to return the data when Podman is asked directly (issue 20). Each CLI test is a row of the
compatibility table."""

from __future__ import annotations

import os
import subprocess
import time
import types

import pytest

from podman_service import ULIMITS, podman_service
from proxytest import (TEST_IMAGE, LineReader, assert_json_error, docker, docker_popen, http,
                       proxy_binary, random_suffix, stop_process, tick_number)

SECRET = f"hunter2-{random_suffix()}"


@pytest.fixture(scope="module")
def podman(engine):
    with podman_service("spt-podman-") as service:
        run = service.run
        greeting = f"hello-{random_suffix()}"
        ticker = f"spt-podman-{random_suffix()}"
        secret = f"spt-secret-{random_suffix()}"
        run("secret", "create", secret, "-", input=SECRET)
        # A health check that runs only when asked (no systemd timer): GET .../healthcheck runs it.
        run("run", "-d", "--name", ticker, "--network", "none", *ULIMITS, "-e",
            f"DB_PASSWORD={SECRET}", "--health-cmd", "echo healthy", "--health-interval",
            "disable", TEST_IMAGE, "sh", "-c",
            f"echo {greeting}; i=0; while [ $i -lt 3600 ]; do echo tick $i; i=$((i+1)); "
            f"sleep 0.5; done")
        yield types.SimpleNamespace(socket_path=service.socket_path, host=service.host,
                                    run=run, ticker=ticker, greeting=greeting, secret=secret,
                                    image=f"localhost/{TEST_IMAGE}")


@pytest.fixture
def podman_proxy(podman, proxy_factory):
    return proxy_factory(docker_socket=podman.socket_path)


CLI_READS = {
    "version": ["version", "--format", "{{.Server.Version}}"],
    "info": ["info", "--format", "{{.ServerVersion}} {{.OperatingSystem}}"],
    "ps -a": ["ps", "-a", "--format", "{{.ID}} {{.Names}}"],
    "images": ["images", "--format", "{{.ID}}"],
    "network ls": ["network", "ls", "--format", "{{.ID}} {{.Name}}"],
    "volume ls": ["volume", "ls", "--format", "{{.Name}}"],
    "system df": ["system", "df", "--format", "{{.Type}}"],
}


@pytest.mark.parametrize("operation", [
    pytest.param(name, marks=pytest.mark.compat("docker CLI → podman 4.3", name))
    for name in CLI_READS])
def test_reads_match_podman(podman, podman_proxy, transport, operation):
    args = CLI_READS[operation]
    through = docker(*args, host=podman_proxy.docker_host(transport))
    assert through.returncode == 0, through.stderr
    direct = docker(*args, host=podman.host, check=True)
    assert sorted(through.stdout.splitlines()) == sorted(direct.stdout.splitlines())
    assert through.stdout.strip() or operation == "volume ls"


@pytest.mark.compat("docker CLI → podman 4.3", "inspect (Env values redacted)")
def test_inspect_is_redacted(podman, podman_proxy, transport):
    result = docker("inspect", "--format", "{{json .Config.Env}}", podman.ticker,
                    host=podman_proxy.docker_host(transport))
    assert result.returncode == 0, result.stderr
    assert "DB_PASSWORD=<redacted>" in result.stdout and SECRET not in result.stdout
    assert SECRET in docker("inspect", "--format", "{{json .Config.Env}}", podman.ticker,
                            host=podman.host, check=True).stdout


@pytest.mark.compat("docker CLI → podman 4.3", "logs, logs -f --tail (live)")
def test_logs_and_follow(podman, podman_proxy, transport):
    host = podman_proxy.docker_host(transport)
    logs = docker("logs", podman.ticker, host=host)
    assert logs.returncode == 0 and podman.greeting in logs.stdout, logs
    follower = docker_popen("logs", "-f", "--tail", "1", podman.ticker, host=host)
    try:
        reader = LineReader(follower.stdout)
        first = reader.wait_for(lambda line: tick_number(line) is not None, timeout=10)
        assert first is not None, "no tick through the proxy"
        later = reader.wait_for(lambda line: (tick_number(line) or -1) >= tick_number(first) + 2,
                                timeout=10)
        assert later is not None, "the followed log did not flow"
    finally:
        stop_process(follower)


@pytest.mark.compat("docker CLI → podman 4.3", "events (live), stats --no-stream")
def test_events_and_stats(podman, podman_proxy, transport):
    host = podman_proxy.docker_host(transport)
    watcher = docker_popen("events", "--format", "{{.Action}} {{.Actor.Attributes.name}}",
                           host=host)
    try:
        reader = LineReader(watcher.stdout)
        time.sleep(1)
        podman.run("pause", podman.ticker)
        podman.run("unpause", podman.ticker)
        assert reader.wait_for(lambda line: line.strip() == f"unpause {podman.ticker}",
                               timeout=15) is not None, "no event through the proxy"
    finally:
        stop_process(watcher)
    stats = docker("stats", "--no-stream", "--format", "{{.Name}}", podman.ticker, host=host)
    assert stats.returncode == 0 and stats.stdout.strip(), stats


@pytest.mark.compat("docker CLI → podman 4.3", "refused, printing the proxy's message: run, "
                    "exec, export, rm")
@pytest.mark.parametrize("args", [["run", "--rm", TEST_IMAGE, "true"], ["exec", "{t}", "true"],
                                  ["export", "{t}"], ["rm", "-f", "{t}"]],
                         ids=["run", "exec", "export", "rm"])
def test_writes_are_refused(podman, podman_proxy, transport, args):
    result = docker(*[arg.format(t=podman.ticker) for arg in args],
                    host=podman_proxy.docker_host(transport))
    assert result.returncode != 0 and "socket-proxy denied" in result.stderr, result
    assert podman.run("ps", "--format", "{{.Names}}").stdout.split().count(podman.ticker) == 1


# --------------------------------------------------------------------------- libpod (issue 20)

# The version podman-remote 4.3.1 puts in front of every libpod path; Podman routes any
# "/v{version:[0-9][0-9A-Za-z.-]*}" (pkg/api/server/handler_api.go), so the others too.
LIBPOD_PREFIX = "/v4.3.1"
ODD_PREFIXES = ["/v4.0.0-rc1", "/v5x", "/v1.41-x"]


def escape_last_letter(path: str) -> str:
    """`/libpod/containers/c/export` -> `/libpod/containers/c/expor%74`: Podman itself answers
    404 (it routes on the escaped path), but a proxy that decoded and forwarded it canonically
    would hand Podman the export route."""
    route, _, query = path.partition("?")
    index = max(i for i, c in enumerate(route) if c.isalpha())
    escaped = f"{route[:index]}%{ord(route[index]):02X}{route[index + 1:]}"
    return escaped + (f"?{query}" if query else "")


# (id, method, path on the podman fixture, rule, what Podman's direct answer shows)
LIBPOD_BLOCKED = [
    ("container-export", "GET", "/libpod/containers/{t}/export", "deny-libpod-container-export",
     b"ustar"),
    ("container-archive", "GET", "/libpod/containers/{t}/archive?path=/etc/hostname",
     "deny-libpod-container-archive", b"hostname"),
    ("container-archive-head", "HEAD", "/libpod/containers/{t}/archive?path=/etc/hostname",
     "deny-libpod-container-archive", "X-Docker-Container-Path-Stat"),
    ("images-export", "GET", "/libpod/images/export?references={image}",
     "deny-libpod-images-export", b"ustar"),
    ("image-get", "GET", "/libpod/images/{image}/get", "deny-libpod-image-export",
     b"ustar"),
    ("generate-kube", "GET", "/libpod/generate/kube?names={t}", "deny-libpod-generate-kube",
     SECRET.encode()),
    ("kube-generate", "GET", "/libpod/kube/generate?names={t}", "deny-libpod-kube-generate",
     SECRET.encode()),
    ("generate-systemd", "GET", "/libpod/generate/{t}/systemd?new=true",
     "deny-libpod-generate-systemd", SECRET.encode()),
    # Podman 4.3 lists and inspects secrets without their value; showsecret=true (4.5 and
    # later) adds it. Refused whole, as Docker's /secrets.
    ("secrets-list", "GET", "/libpod/secrets/json", "deny-libpod-secrets", "{secret}"),
    ("secret-inspect", "GET", "/libpod/secrets/{secret}/json?showsecret=true",
     "deny-libpod-secrets", "{secret}"),
    ("healthcheck", "GET", "/libpod/containers/{t}/healthcheck",
     "deny-libpod-container-healthcheck", b"healthy"),
    # Docker's paths, which Podman routes behind its own prefixes too.
    ("compat-export", "GET", "/containers/{t}/export", "deny-container-export", b"ustar"),
    ("compat-images-get", "GET", "/images/get?names={image}", "deny-images-export",
     b"ustar"),
]


def fill(podman, text: str) -> str:
    """Names the fixture's objects; Go templates ({{.Name}}) stay as they are."""
    return (text.replace("{t}", podman.ticker).replace("{image}", podman.image)
            .replace("{secret}", podman.secret))


def assert_direct_answer_leaks(podman, method: str, target: str, shows) -> None:
    direct = http(podman.socket_path, method, target, timeout=120)
    assert direct.status == 200, (target, direct)
    if isinstance(shows, str) and method == "HEAD":
        assert direct.header(shows), (target, direct.headers)
    else:
        marker = fill(podman, shows).encode() if isinstance(shows, str) else shows
        assert marker in direct.body, (target, direct.body[:300])


@pytest.mark.parametrize("row", LIBPOD_BLOCKED, ids=[row[0] for row in LIBPOD_BLOCKED])
def test_libpod_reads_that_leak_are_refused(podman, podman_proxy, row):
    _, method, template, rule, shows = row
    path = fill(podman, template)
    # Podman answers the data under its client's prefix and under prefixes Docker would 404.
    for prefix in [LIBPOD_PREFIX, ODD_PREFIXES[0]]:
        assert_direct_answer_leaks(podman, method, prefix + path, shows)
    targets = [LIBPOD_PREFIX + path, path, *[prefix + path for prefix in ODD_PREFIXES],
               LIBPOD_PREFIX + escape_last_letter(path), "http://docker" + LIBPOD_PREFIX + path]
    for target in targets:
        refused = http(podman_proxy.unix_path, method, target)  # Host: docker
        if method == "HEAD":
            assert refused.status == 403 and refused.body == b"", (target, refused)
        else:
            assert_json_error(refused, 403, "socket-proxy denied", f"(rule {rule})")


LIBPOD_PLAIN_READS = [
    ("GET", "/libpod/_ping"),
    ("HEAD", "/libpod/_ping"),
    ("GET", LIBPOD_PREFIX + "/libpod/_ping"),
    ("GET", LIBPOD_PREFIX + "/libpod/info"),
    ("GET", LIBPOD_PREFIX + "/libpod/version"),
    ("GET", LIBPOD_PREFIX + "/libpod/containers/json?all=true"),
    ("GET", LIBPOD_PREFIX + "/libpod/containers/{t}/exists"),
    ("GET", LIBPOD_PREFIX + "/libpod/containers/{t}/changes"),
    ("GET", LIBPOD_PREFIX + "/libpod/containers/{t}/logs?stdout=true"),
    ("GET", LIBPOD_PREFIX + "/libpod/containers/{t}/stats?stream=false"),
    ("GET", LIBPOD_PREFIX + "/libpod/images/json"),
    ("GET", LIBPOD_PREFIX + "/libpod/images/{image}/exists"),
    ("GET", LIBPOD_PREFIX + "/libpod/pods/json"),
    ("GET", LIBPOD_PREFIX + "/libpod/networks/json"),
    ("GET", LIBPOD_PREFIX + "/libpod/volumes/json"),
    ("GET", LIBPOD_PREFIX + "/libpod/system/df"),
    ("GET", "/v4.0.0-rc1/libpod/info"),
]


@pytest.mark.parametrize("method,template", LIBPOD_PLAIN_READS,
                         ids=[f"{m} {t}" for m, t in LIBPOD_PLAIN_READS])
def test_plain_libpod_reads_pass(podman, podman_proxy, method, template):
    target = fill(podman, template)
    direct = http(podman.socket_path, method, target)
    through = http(podman_proxy.unix_path, method, target)
    assert direct.status < 300, (target, direct)
    assert through.status == direct.status, (target, through, direct)
    if target.endswith("_ping") and method == "GET":
        assert through.body == direct.body == b"OK"


def podman_remote(proxy_socket: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", "--remote", "--url", f"unix://{proxy_socket}", *args],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


REMOTE_READS = {
    "ps -a": ["ps", "-a", "--format", "{{.Names}}"],
    "inspect": ["inspect", "--format", "{{.Name}} {{.State.Status}}", "{t}"],
    "images": ["images", "--format", "{{.Repository}}:{{.Tag}}"],
    "info": ["info", "--format", "{{.Host.Arch}} {{.Version.Version}}"],
    "logs": ["logs", "{t}"],
    "pod ps": ["pod", "ps", "--format", "{{.Name}}"],
    "volume ls": ["volume", "ls", "--format", "{{.Name}}"],
    "container exists": ["container", "exists", "{t}"],
}


@pytest.mark.parametrize("operation", [
    pytest.param(name, marks=pytest.mark.compat("podman --remote 4.3", name))
    for name in REMOTE_READS])
def test_podman_remote_reads(podman, podman_proxy, operation):
    args = [fill(podman, arg) for arg in REMOTE_READS[operation]]
    through = podman_remote(podman_proxy.unix_path, *args)
    assert through.returncode == 0, through.stderr
    direct = podman_remote(podman.socket_path, *args)
    assert direct.returncode == 0, direct.stderr
    if operation == "logs":
        assert podman.greeting in through.stdout
        assert through.stdout.startswith(direct.stdout.splitlines()[0])
    else:
        assert through.stdout == direct.stdout


# How podman-remote 4.3 shows the refusal: the proxy's message; only the status where it asks
# with HEAD (no body to carry a message); nothing at all for secrets, whose list and inspect
# print an empty answer on any error.
REMOTE_REFUSED = {
    "export": (["export", "-o", "/dev/null", "{t}"], "socket-proxy denied"),
    "generate kube": (["generate", "kube", "{t}"], "socket-proxy denied"),
    "generate systemd": (["generate", "systemd", "--new", "{t}"], "socket-proxy denied"),
    "image save": (["image", "save", "-o", "/dev/null", "{image}"], "socket-proxy denied"),
    "healthcheck run": (["healthcheck", "run", "{t}"], "socket-proxy denied"),
    "cp out": (["cp", "{t}:/etc/hostname", "{tmp}"], "403 Forbidden"),
    "secret ls": (["secret", "ls", "--format", "{{.Name}}"], None),
    "secret inspect": (["secret", "inspect", "{secret}"], None),
}


@pytest.mark.parametrize("operation", [
    pytest.param(name, marks=pytest.mark.compat("podman --remote 4.3", f"refused: {name}"))
    for name in REMOTE_REFUSED])
def test_podman_remote_leaking_reads_are_refused(podman, podman_proxy, operation, tmp_path):
    template, shown = REMOTE_REFUSED[operation]
    args = [fill(podman, arg).replace("{tmp}", str(tmp_path)) for arg in template]
    through = podman_remote(podman_proxy.unix_path, *args)
    direct = podman_remote(podman.socket_path, *args)
    assert direct.returncode == 0, direct.stderr
    if shown is None:
        assert podman.secret in direct.stdout, direct.stdout
        assert podman.secret not in through.stdout + through.stderr, through
    else:
        assert through.returncode != 0, through
        assert shown in through.stderr, through.stderr


def test_explain_names_the_libpod_route(podman):
    path = f"/libpod/containers/{podman.ticker}/export"
    explained = subprocess.run([proxy_binary(), "explain", "GET", "/v4.0.0-rc1" + path],
                               capture_output=True, text=True, timeout=30,
                               stdin=subprocess.DEVNULL, env={"PATH": os.environ["PATH"]})
    assert explained.returncode == 1, explained
    assert "decision: deny\nrule: deny-libpod-container-export\n" in explained.stdout
    assert f"route: {path}\n" in explained.stdout
    allowed = subprocess.run([proxy_binary(), "explain", "GET", LIBPOD_PREFIX + "/libpod/info"],
                             capture_output=True, text=True, timeout=30,
                             stdin=subprocess.DEVNULL, env={"PATH": os.environ["PATH"]})
    assert allowed.returncode == 0 and "rule: read-only\nroute: /libpod/info\n" in \
        allowed.stdout, allowed


@pytest.mark.compat("podman --remote 4.3", "LIBPOD_CONTAINERS=1: ps, inspect; export refused")
def test_libpod_switches(podman, proxy_factory):
    proxy = proxy_factory(docker_socket=podman.socket_path,
                          env={"LIBPOD_CONTAINERS": "1", "LIBPOD_ALLOW_RESTARTS": "1"})
    listed = podman_remote(proxy.unix_path, "ps", "-a", "--format", "{{.Names}}")
    assert listed.returncode == 0 and podman.ticker in listed.stdout.split(), listed
    inspected = podman_remote(proxy.unix_path, "inspect", "--format", "{{.Name}}", podman.ticker)
    assert inspected.returncode == 0 and inspected.stdout.strip() == podman.ticker, inspected
    exported = podman_remote(proxy.unix_path, "export", "-o", "/dev/null", podman.ticker)
    assert exported.returncode != 0 and "deny-libpod-container-export" in exported.stderr
    # Sections stay reads; an action switch needs POST=1, as in the LinuxServer fork.
    assert http(proxy.unix_path, "POST", f"{LIBPOD_PREFIX}/libpod/containers/{podman.ticker}/kill"
                ).status == 403
    images = podman_remote(proxy.unix_path, "images")
    assert images.returncode != 0 and "socket-proxy denied" in images.stderr, images


def test_a_policy_file_names_libpod_routes(podman, proxy_factory, tmp_path):
    policy = tmp_path / "libpod.yaml"
    policy.write_text(
        "rules:\n"
        "  - {name: ping, methods: [GET, HEAD], path: /libpod/_ping, action: allow}\n"
        "  - {name: list, methods: GET, path: /libpod/containers/json, action: allow}\n")
    proxy = proxy_factory("--policy", str(policy), docker_socket=podman.socket_path)
    listed = podman_remote(proxy.unix_path, "ps", "-a", "--format", "{{.Names}}")
    assert listed.returncode == 0 and podman.ticker in listed.stdout.split(), listed
    inspected = podman_remote(proxy.unix_path, "inspect", podman.ticker)
    assert inspected.returncode != 0 and "(rule default)" in inspected.stderr, inspected
