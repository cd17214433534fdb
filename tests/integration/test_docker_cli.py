"""The real docker CLI through the proxy, over its unix socket and its TCP listener."""

from __future__ import annotations

import json
import time

import pytest

from proxytest import (TEST_IMAGE, Containers, LineReader, docker, docker_popen,
                       random_suffix, stop_process, tick_number)


@pytest.mark.compat("docker CLI", "version")
def test_version_shows_the_server(proxy, transport):
    result = docker("version", host=proxy.docker_host(transport))
    assert result.returncode == 0, result.stderr
    assert "Server:" in result.stdout, result.stdout
    direct = docker("version", "--format", "{{.Server.Version}}", check=True).stdout.strip()
    through = docker("version", "--format", "{{.Server.Version}}",
                     host=proxy.docker_host(transport), check=True).stdout.strip()
    assert through == direct


@pytest.mark.compat("docker CLI", "ps -a")
def test_ps_lists_the_test_container(proxy, transport, ticker):
    result = docker("ps", "-a", "--format", "{{.Names}}", host=proxy.docker_host(transport))
    assert result.returncode == 0, result.stderr
    assert ticker.name in result.stdout.split()


@pytest.mark.compat("docker CLI", "inspect")
def test_inspect(proxy, transport, ticker):
    result = docker("inspect", ticker.name, host=proxy.docker_host(transport))
    assert result.returncode == 0, result.stderr
    [document] = json.loads(result.stdout)
    assert document["Name"] == f"/{ticker.name}"
    assert document["State"]["Running"] is True


@pytest.mark.compat("docker CLI", "logs")
def test_logs(proxy, transport, ticker):
    result = docker("logs", ticker.name, host=proxy.docker_host(transport))
    assert result.returncode == 0, result.stderr
    assert ticker.greeting in result.stdout.splitlines()
    assert any(tick_number(line) is not None for line in result.stdout.splitlines())


@pytest.mark.compat("docker CLI", "logs -f --tail (live)")
def test_logs_follow_streams_new_lines(proxy, transport, ticker):
    follower = docker_popen("logs", "-f", "--tail", "1", ticker.name,
                            host=proxy.docker_host(transport))
    try:
        reader = LineReader(follower.stdout)
        first = reader.wait_for(lambda line: tick_number(line) is not None, timeout=10)
        assert first is not None, (
            f"no log line through the proxy within 10 s; "
            f"stderr: {follower.stderr.read1().decode() if follower.poll() is not None else ''}")
        start = tick_number(first)
        # The container ticks every 0.5 s: three more ticks must arrive while -f still runs.
        later = reader.wait_for(lambda line: (tick_number(line) or -1) >= start + 3, timeout=6)
        assert later is not None, f"logs -f delivered {reader.seen} and then nothing new"
        assert follower.poll() is None, "docker logs -f ended although the container still runs"
    finally:
        stop_process(follower)


@pytest.mark.compat("docker CLI", "events (live)")
def test_events_stream_live(proxy, transport, containers):
    tag = random_suffix()
    since = str(int(time.time()) - 1)
    # --since makes the test independent of when the daemon subscribes; the second event is
    # caused only after the first arrived, so it can only come through a live stream.
    watcher = docker_popen("events", "--since", since, "--filter", f"label=spt-event={tag}",
                           "--format", "{{json .}}", host=proxy.docker_host(transport))
    try:
        reader = LineReader(watcher.stdout)
        name = containers.run("spt-events", ["true"], start=False, labels={"spt-event": tag})

        def action_is(action):
            def matches(line):
                try:
                    event = json.loads(line)
                except ValueError:
                    return False
                return event.get("Action") == action and \
                    event.get("Actor", {}).get("Attributes", {}).get("name") == name
            return matches

        assert reader.wait_for(action_is("create"), timeout=15) is not None, \
            f"no create event through the proxy; got {reader.seen}"
        docker("start", name, check=True)
        assert reader.wait_for(action_is("start"), timeout=15) is not None, \
            f"no start event through the proxy; got {reader.seen}"
        assert watcher.poll() is None, "docker events ended on its own"
    finally:
        stop_process(watcher)


@pytest.mark.compat("docker CLI", "stats --no-stream")
def test_stats_no_stream(proxy, transport, ticker):
    result = docker("stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}}", ticker.name,
                    host=proxy.docker_host(transport), timeout=60)
    assert result.returncode == 0, result.stderr
    assert ticker.name in result.stdout


DENIED_COMMANDS = {
    "run": lambda victim, tmp: ["run", "--rm", "--network", "none", TEST_IMAGE, "true"],
    "rm": lambda victim, tmp: ["rm", "-f", victim],
    "stop": lambda victim, tmp: ["stop", "-t", "1", victim],
    "exec": lambda victim, tmp: ["exec", victim, "true"],
    "export": lambda victim, tmp: ["export", "-o", str(tmp / "export.tar"), victim],
    "cp": lambda victim, tmp: ["cp", f"{victim}:/etc/passwd", str(tmp / "passwd")],
    "save": lambda victim, tmp: ["save", "-o", str(tmp / "image.tar"), TEST_IMAGE],
    "volume-create": lambda victim, tmp: ["volume", "create", f"spt-denied-{random_suffix()}"],
}


@pytest.mark.compat("docker CLI", "refused, printing the proxy's message: run, rm, stop, exec, "
                    "export, cp, save, volume create")
@pytest.mark.parametrize("command", sorted(DENIED_COMMANDS))
def test_writes_and_sensitive_reads_are_denied(proxy, transport, victim, command, tmp_path):
    args = DENIED_COMMANDS[command](victim, tmp_path)
    result = docker(*args, host=proxy.docker_host(transport), timeout=60)
    assert result.returncode != 0, f"docker {command} succeeded through the proxy: {result.stdout}"
    assert "socket-proxy denied" in result.stderr, result.stderr
    assert Containers.running(victim), f"docker {command} through the proxy changed the container"
    for leaked in tmp_path.iterdir():
        assert leaked.stat().st_size == 0, f"docker {command} wrote {leaked} through the proxy"
    if command == "volume-create":
        assert docker("volume", "inspect", args[-1]).returncode != 0, "the volume was created"
