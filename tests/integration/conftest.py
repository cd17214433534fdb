"""Fixtures: the built socket-proxy in front of the REAL Docker engine, and test containers.

SOCKET_PROXY_BINARY names the binary (ctest sets it; default: build/socket-proxy).
SOCKET_PROXY_TEST_DOCKER_SOCKET names the engine's socket (default: /var/run/docker.sock).
scripts/test-deps installs the packages, starts dockerd and builds the test image.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import types
from pathlib import Path

import pytest

import compat
from proxytest import (DOCKER_SOCKET, STOP_TIMEOUT, TEST_IMAGE, TEST_LABEL, Containers,
                       docker, proxy_binary, random_suffix, start_proxy, ticker_command)


def pytest_configure(config):
    config.addinivalue_line("markers", "compat(client, operation): a row of the "
                            "compatibility table in docs/compatibility.md (compat.py)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    marker = item.get_closest_marker("compat")
    if marker is None or (report.when != "call" and not (report.skipped or report.failed)):
        return
    params = getattr(item, "callspec", None)
    transport = params.params.get("transport", "unix") if params else "unix"
    compat.record(*marker.args, transport,
                  "skipped" if report.skipped else "failed" if report.failed else "passed")


def pytest_sessionfinish(session):
    path = compat.write_table()
    if path is not None:
        print(f"\ncompatibility table: {path}")
    # The suite leaves the machine's engine as it found it: still able to run a container on
    # its default network (a spare dockerd once deleted docker0 from under it).
    if _engine_problem() is None:
        result = docker("run", "--rm", "--network", "bridge", "--label", TEST_LABEL,
                        TEST_IMAGE, "true", timeout=120)
        if result.returncode != 0:
            print(f"\nthe host's engine can no longer run a container on its default network: "
                  f"{result.stderr.strip()}")
            session.exitstatus = 1


def _engine_problem() -> str | None:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(5)
            probe.connect(DOCKER_SOCKET)
    except OSError as error:
        return f"the Docker engine does not answer at {DOCKER_SOCKET} ({error}): run scripts/test-deps"
    if docker("image", "inspect", TEST_IMAGE).returncode != 0:
        return f"the test image {TEST_IMAGE} is missing: run scripts/test-deps"
    return None


@pytest.fixture(scope="session")
def engine() -> str:
    """The real engine's socket; fails (not skips) when it is missing: CI must have it."""
    problem = _engine_problem()
    if problem:
        pytest.fail(problem, pytrace=False)
    return DOCKER_SOCKET


@pytest.fixture(scope="session")
def binary() -> str:
    path = proxy_binary()
    if not os.access(path, os.X_OK):
        pytest.fail(f"socket-proxy binary {path!r} is missing or not executable: build it and "
                    f"set SOCKET_PROXY_BINARY", pytrace=False)
    return path


@pytest.fixture
def proxy_factory(binary, engine):
    """start(*extra_args, docker_socket=..., tcp=True, use_env=False, env=None) -> Proxy.

    Every proxy started is stopped at teardown with SIGTERM; it must exit 0 within 2 s and
    remove its socket file."""
    started = []

    def start(*extra_args, **options):
        proxy = start_proxy(*extra_args, **options)
        started.append(proxy)
        return proxy

    yield start

    problems = []
    for proxy in started:
        stopped_by_test = proxy.stopped
        already_exited = not stopped_by_test and proxy.proc.poll() is not None
        returncode = proxy.stop()
        print(f"--- socket-proxy {proxy.argv} ---\n--- stdout ---\n{proxy.stdout}"
              f"--- stderr ---\n{proxy.stderr}")
        if stopped_by_test:
            pass  # the test checked how it ended
        elif already_exited:
            problems.append(f"socket-proxy exited on its own with {returncode} before teardown")
        elif returncode is None:
            problems.append(f"socket-proxy did not exit within {STOP_TIMEOUT} s of SIGTERM")
        elif returncode != 0:
            problems.append(f"socket-proxy exited with {returncode} after SIGTERM, expected 0")
        if os.path.lexists(proxy.unix_path):
            problems.append(f"socket file {proxy.unix_path} still exists after exit")
        shutil.rmtree(proxy.workdir, ignore_errors=True)
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


@pytest.fixture
def proxy(proxy_factory):
    """The proxy with its defaults, on a fresh volume and a free 127.0.0.1 port."""
    return proxy_factory()


@pytest.fixture(params=["unix", "tcp"])
def transport(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def containers(engine):
    factory = Containers()
    yield factory
    factory.remove_all()


@pytest.fixture(scope="session")
def ticker(containers):
    """A running container: prints `hello-<suffix>`, then `tick N` every 0.5 s."""
    greeting = f"hello-{random_suffix()}"
    name = containers.run("spt-ticker", ticker_command(greeting))

    return types.SimpleNamespace(name=name, greeting=greeting)


@pytest.fixture(scope="session")
def victim(containers) -> str:
    """A running container for write attempts, so one the proxy wrongly lets through harms no
    other test."""
    return containers.run("spt-victim", ["sleep", "1800"])


@pytest.fixture
def policy_dir():
    """A directory for policy files that the proxy can still read after it dropped to uid 1000."""
    directory = Path(tempfile.mkdtemp(prefix="spt-policy-", dir="/tmp"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def spare_engine(engine):
    """A second real dockerd of the test's own, which it may stop and restart (spare_engine.py).

    Not started: the test calls start(), so it can also start a proxy before the engine."""
    from spare_engine import SpareEngine

    spare = SpareEngine()
    bridge_before = SpareEngine.host_bridge_exists()
    yield spare
    if spare.proc is not None and spare.proc.poll() is not None:
        print(f"--- spare dockerd exited with {spare.proc.returncode} ---\n{spare.log_tail()}")
    spare.remove()
    # The suite must leave the developer's Docker as it found it.
    if bridge_before and not SpareEngine.host_bridge_exists():
        pytest.fail("the spare engine deleted the host's docker0 bridge", pytrace=False)
