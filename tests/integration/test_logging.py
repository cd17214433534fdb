"""Log formats (issue 7, part): JSON lines by default when stdout is not a terminal, valid
JSON whatever bytes clients send; text on a terminal; SOCKET_PROXY_LOG_FORMAT chooses."""

from __future__ import annotations

import json
import random
import re
import subprocess

from proxytest import HttpConnection, PeerClosed, http, proxy_binary, raw_exchange

TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d (debug|info|warning|"
                       r"error) [\w.-]+( |$)")


def json_lines(text: str) -> list:
    lines = text.splitlines()
    assert lines, "nothing was logged"
    return [json.loads(line) for line in lines]


def test_a_pipe_gets_json_lines_by_default(proxy_factory, ticker):
    proxy = proxy_factory(env={"SOCKET_PROXY_LOG_FORMAT": "auto", "DEBUG": "1"})
    assert http(proxy.unix_path, "GET", f"/v1.41/containers/{ticker.name}/json").status == 200
    assert http(proxy.unix_path, "POST", "/v1.41/containers/create").status == 403
    proxy.wait_for_log(lambda line: "/containers/create" in line)
    events = json_lines(proxy.stdout)
    assert events[0]["time"].endswith("+00:00") and {"time", "level", "event"} <= events[0].keys()
    listening = next(event for event in events if event["event"] == "listening")
    assert listening["unix"] == proxy.unix_path
    allowed = next(event for event in events if event["event"] == "request" and
                   event.get("decision") == "allow")
    assert allowed["status"] == 200 and isinstance(allowed["bytes_out"], int) and allowed["bytes_out"] > 0
    assert isinstance(allowed["ms"], int) and allowed["method"] == "GET"
    assert allowed["client"].startswith("unix:uid=")
    denied = next(event for event in events if event.get("decision") == "deny")
    assert (denied["level"], denied["status"], denied["rule"]) == \
        ("warning", 403, "read-only-methods"), denied


def _hostile_target(rng: random.Random) -> bytes:
    alphabet = [b'"', b"\\", b"%", b"%22", b"%5C", b"%00", b"%0A", b"%FF", b"\xc3\x28", b"\xff",
                b"\x7f", b"{", b"}", b"=", b" x=y", b"\t", b"/", b"..", b"\xe2\x82\xac", b"a"]
    return b"/v1.41/" + b"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24)))


def test_the_log_stays_json_under_fuzzed_paths(proxy_factory):
    proxy = proxy_factory(env={"SOCKET_PROXY_LOG_FORMAT": "json"})
    rng = random.Random(20261201)
    sent = 300
    for _ in range(sent):
        target = _hostile_target(rng)
        method = rng.choice([b"GET", b"POST", b"DELETE", b"G\"T"])
        raw_exchange(proxy.unix_path, method + b" " + target + b" HTTP/1.1\r\nHost: docker\r\n"
                     b"Connection: close\r\n\r\n", seconds=2)
    # Every request is refused (read-only, a bad target, or a bad request line) and logged.
    # Strictly UTF-8: the proxy replaces bytes that are not, so nothing here may fail to decode.
    events = json_lines((proxy.workdir / "stdout.log").read_bytes().decode("utf-8"))
    refused = [e for e in events if e["event"] in ("request", "bad-request")]
    assert len(refused) >= sent * 0.9, f"{len(refused)} of {sent} requests logged"
    assert all(e["level"] == "warning" for e in refused)


def test_a_terminal_gets_text(tmp_path):
    command = (f"{proxy_binary()} --volume {tmp_path} --tcp off "
               f"--docker-socket /nonexistent/docker.sock")
    env = {"PATH": "/usr/bin:/bin", "SOCKET_PROXY_UID": str(0), "SOCKET_PROXY_GID": str(0)}
    # script(1) gives the proxy a pty for stdout; timeout ends it after its start-up lines.
    result = subprocess.run(["script", "-qec", f"timeout -s TERM 2 {command}", "/dev/null"],
                            capture_output=True, text=True, timeout=30, env=env,
                            stdin=subprocess.DEVNULL)
    lines = [line for line in result.stdout.replace("\r", "").splitlines() if line]
    assert lines and all(TEXT_LINE.match(line) for line in lines), result.stdout
    assert any(" listening " in line for line in lines), result.stdout


def test_a_bad_log_format_is_one_clear_line():
    result = subprocess.run([proxy_binary(), "--log-format", "xml"], capture_output=True,
                            text=True, timeout=10)
    assert result.returncode == 2
    assert result.stderr == ('socket-proxy: --log-format="xml" is not a log format: use text, '
                             'json or auto\n'), result.stderr


def test_text_can_be_chosen_for_a_pipe(proxy_factory):
    proxy = proxy_factory(env={"SOCKET_PROXY_LOG_FORMAT": "text"})
    with HttpConnection(proxy.unix_path) as connection:
        try:
            connection.request("GET", "/_ping")
        except PeerClosed:
            pass
    lines = proxy.stdout.splitlines()
    assert lines and all(TEXT_LINE.match(line) for line in lines), proxy.stdout
