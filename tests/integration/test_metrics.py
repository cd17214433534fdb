"""Prometheus metrics (issue 7): SOCKET_PROXY_METRICS serves /metrics on a listener of its
own; the page parses as the text exposition format and its counters match what was sent."""

from __future__ import annotations

import math
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field

import pytest

from proxytest import (REPO, HttpConnection, free_tcp_port, http, proxy_binary, random_suffix,
                       raw_exchange, start_proxy)

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


@dataclass
class Family:
    name: str
    type: str = "untyped"
    help: str = ""
    samples: list = field(default_factory=list)  # (sample name, labels dict, value)


def _parse_value(text: str) -> float:
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text):
        raise ValueError(f"not a sample value: {text!r}")
    return float(text)


def _parse_labels(text: str, line: str) -> dict:
    labels, at = {}, 0
    while at < len(text):
        match = LABEL_NAME.match(text, at)
        assert match and text[match.end()] == "=" and text[match.end() + 1] == '"', line
        name, at = match.group(), match.end() + 2
        value = []
        while text[at] != '"':
            if text[at] == "\\":
                escaped = text[at + 1]
                assert escaped in '\\"n', f"bad escape in {line!r}"
                value.append("\n" if escaped == "n" else escaped)
                at += 2
            else:
                assert text[at] != "\n", line
                value.append(text[at])
                at += 1
        assert name not in labels, f"label {name} twice in {line!r}"
        labels[name] = "".join(value)
        at += 1
        if at < len(text):
            assert text[at] == ",", line
            at += 1
    return labels


def _family_of(sample_name: str, families: dict) -> str:
    for suffix in ("_bucket", "_sum", "_count"):
        base = sample_name[: -len(suffix)] if sample_name.endswith(suffix) else None
        if base and families.get(base) and families[base].type in ("histogram", "summary"):
            return base
    return sample_name


def parse_exposition(page: str) -> dict:
    """The text format, version 0.0.4, strictly: HELP and TYPE before a family's samples, each
    family in one block, label values escaped, no series twice, histograms cumulative."""
    assert page.endswith("\n"), "the last line must end with a newline"
    families: dict = {}
    seen_series, finished, current = set(), set(), None
    for line in page.splitlines():
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                assert METRIC_NAME.fullmatch(name), line
                assert name not in finished, f"{name} appears in two blocks"
                family = families.setdefault(name, Family(name))
                if parts[1] == "TYPE":
                    assert not family.samples, f"TYPE after samples: {line!r}"
                    assert parts[3] in TYPES, line
                    family.type = parts[3]
                else:
                    family.help = parts[3] if len(parts) > 3 else ""
                if current and current != name:
                    finished.add(current)
                current = name
            continue
        match = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?", line)
        assert match, f"not a sample line: {line!r}"
        sample_name, labels_text, value_text = match.group(1), match.group(3), match.group(4)
        labels = _parse_labels(labels_text or "", line)
        base = _family_of(sample_name, families)
        assert base not in finished, f"{base} appears in two blocks"
        if current and current != base:
            finished.add(current)
        current = base
        series = (sample_name, tuple(sorted(labels.items())))
        assert series not in seen_series, f"series twice: {line!r}"
        seen_series.add(series)
        families.setdefault(base, Family(base)).samples.append(
            (sample_name, labels, _parse_value(value_text)))
    for family in families.values():
        if family.type == "counter":
            assert all(value >= 0 for _, _, value in family.samples), family
        if family.type == "histogram":
            _check_histogram(family)
    return families


def _check_histogram(family: Family) -> None:
    groups: dict = {}
    for name, labels, value in family.samples:
        key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        groups.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if name.endswith("_bucket"):
            groups[key]["buckets"].append((_parse_value(labels["le"]), value))
        elif name.endswith("_sum"):
            groups[key]["sum"] = value
        else:
            groups[key]["count"] = value
    for key, group in groups.items():
        bounds = [bound for bound, _ in group["buckets"]]
        counts = [count for _, count in group["buckets"]]
        assert bounds == sorted(bounds) and bounds[-1] == math.inf, (family.name, key)
        assert counts == sorted(counts), f"{family.name}{key}: buckets not cumulative"
        assert counts[-1] == group["count"] and group["sum"] is not None, (family.name, key)


def value_of(families: dict, sample_name: str, **labels) -> float:
    family = families[_family_of(sample_name, families)]
    matching = [value for name, sample_labels, value in family.samples
                if name == sample_name and sample_labels == labels]
    assert len(matching) == 1, f"{sample_name}{labels}: {len(matching)} samples"
    return matching[0]


def scrape(port: int) -> dict:
    with HttpConnection(("127.0.0.1", port)) as connection:
        response = connection.request("GET", "/metrics")
    assert response.status == 200, response
    assert response.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8"
    return parse_exposition(response.body.decode("utf-8"))


@pytest.fixture
def metrics_proxy(proxy_factory):
    port = free_tcp_port()
    proxy = proxy_factory("--metrics", f"127.0.0.1:{port}")
    proxy.metrics_port = port
    return proxy


def test_counters_match_the_requests_sent(metrics_proxy, ticker):
    proxy = metrics_proxy
    relayed = 0
    for _ in range(5):
        response = http(proxy.unix_path, "GET", f"/v1.41/containers/{ticker.name}/json")
        assert response.status == 200
        relayed += len(response.body)
    for _ in range(3):
        response = http(proxy.tcp_address, "GET", "/v1.40/containers/spt-no-such-thing/json")
        assert response.status == 404
        relayed += len(response.body)
    for _ in range(2):
        assert http(proxy.unix_path, "POST", "/v1.41/containers/create").status == 403
    assert http(proxy.unix_path, "GET", "/containers/a%2Fb/json").status == 403
    assert raw_exchange(proxy.unix_path, b"GET /_ping HTTP/1.1\r\nNo colon here\r\n\r\n"
                        ).startswith(b"HTTP/1.1 400")
    assert raw_exchange(proxy.unix_path, b"BREW /v1.41/_ping HTTP/1.1\r\nHost: d\r\n\r\n"
                        ).startswith(b"HTTP/1.1 403")
    assert http(proxy.unix_path, "HEAD", "/_ping").status == 200

    families = scrape(proxy.metrics_port)
    requests = "socket_proxy_requests_total"
    inspect = "/containers/{id}/json"
    assert value_of(families, requests, decision="allow", method="GET", route=inspect,
                    status="200") == 5
    assert value_of(families, requests, decision="allow", method="GET", route=inspect,
                    status="404") == 3
    assert value_of(families, requests, decision="deny", method="POST",
                    route="/containers/create", status="403") == 2
    assert value_of(families, requests, decision="allow", method="HEAD", route="/_ping",
                    status="200") == 1
    assert value_of(families, requests, decision="deny", method="other", route="/_ping",
                    status="403") == 1
    denied_unread = sum(value for name, labels, value in families[requests].samples
                        if labels["route"] == "invalid")
    assert denied_unread == 2, families[requests].samples
    # Nothing the clients wrote became a label.
    assert not any("a/b" in str(labels) or "BREW" in str(labels) or "spt-no-such" in str(labels)
                   for _, labels, _ in families[requests].samples)
    assert value_of(families, "socket_proxy_request_duration_seconds_count", route=inspect) == 8
    assert value_of(families, "socket_proxy_relayed_bytes_total", direction="to_client") == relayed
    assert value_of(families, "socket_proxy_relayed_bytes_total", direction="to_daemon") == 0
    assert value_of(families, "socket_proxy_engine_up") == 1
    assert 0 < value_of(families, "socket_proxy_engine_ping_seconds") < 5
    assert value_of(families, "socket_proxy_daemon_connect_errors_total") == 0
    build = families["socket_proxy_build_info"].samples
    version = subprocess.run([proxy_binary(), "--version"], capture_output=True,
                             text=True).stdout.split()[-1]
    assert build == [("socket_proxy_build_info", {"version": version}, 1)]
    assert value_of(families, "process_resident_memory_bytes") > 0
    assert value_of(families, "process_open_fds") > 0


def test_streams_and_connections_are_gauges(metrics_proxy):
    proxy = metrics_proxy
    with HttpConnection(proxy.unix_path) as events:
        events.send(b"GET /v1.41/events HTTP/1.1\r\nHost: docker\r\n\r\n")
        assert events.read_head().status == 200
        families = scrape(proxy.metrics_port)
        assert value_of(families, "socket_proxy_open_streams") == 1
        assert value_of(families, "socket_proxy_requests_in_flight") == 1
        assert value_of(families, "socket_proxy_client_connections") == 1
        time.sleep(0.3)
    deadline = time.monotonic() + 5
    while True:
        families = scrape(proxy.metrics_port)
        if value_of(families, "socket_proxy_open_streams") == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert value_of(families, "socket_proxy_open_streams") == 0
    assert value_of(families, "socket_proxy_client_connections") == 0
    assert value_of(families, "socket_proxy_streams_ended_total", route="/events") == 1
    assert value_of(families, "socket_proxy_stream_seconds_total", route="/events") >= 0.3
    # A stream is not a slow answer: it stays out of the latency histogram.
    assert not [labels for name, labels, _ in
                families["socket_proxy_request_duration_seconds"].samples
                if labels.get("route") == "/events"]
    # Its log line carries how long it flowed.
    line = proxy.wait_for_log(lambda text: "stream_ms=" in text and "/events" in text)
    assert line and int(re.search(r"stream_ms=(\d+)", line).group(1)) >= 300, proxy.log


def test_an_engine_that_is_down_shows(proxy_factory):
    port = free_tcp_port()
    proxy = proxy_factory("--metrics", f"127.0.0.1:{port}",
                          docker_socket=f"/tmp/spt-no-engine-{random_suffix()}.sock")
    assert http(proxy.unix_path, "GET", "/v1.41/info").status == 502
    families = scrape(port)
    assert value_of(families, "socket_proxy_engine_up") == 0
    assert "socket_proxy_engine_ping_seconds" not in families
    # The request and the scrape's own ping each failed to connect.
    assert value_of(families, "socket_proxy_daemon_connect_errors_total") == 2
    assert value_of(families, "socket_proxy_requests_total", decision="allow", method="GET",
                    route="/info", status="502") == 1


def test_refused_connections_are_counted(proxy_factory):
    port = free_tcp_port()
    proxy = proxy_factory("--metrics", f"127.0.0.1:{port}", "--max-connections", "1")
    # The start-up probe of the unix socket and the TCP port may have met the limit already.
    before = value_of(scrape(port), "socket_proxy_refused_connections_total",
                      reason="connection_limit")
    with HttpConnection(proxy.unix_path) as held:
        held.send(b"GET /v1.41/events HTTP/1.1\r\nHost: docker\r\n\r\n")
        assert held.read_head().status == 200
        assert http(proxy.unix_path, "GET", "/_ping").status == 503
        families = scrape(port)
    assert value_of(families, "socket_proxy_refused_connections_total",
                    reason="connection_limit") == before + 1
    assert value_of(families, "socket_proxy_refused_connections_total", reason="allow_from") == 0


def test_the_metrics_port_is_no_way_to_the_daemon(metrics_proxy):
    address = ("127.0.0.1", metrics_proxy.metrics_port)
    for method, target in [("GET", "/containers/json"), ("GET", "/v1.41/info"),
                           ("POST", "/metrics"), ("GET", "/metrics/../containers/json")]:
        response = http(address, method, target)
        assert response.status == 404 and b"only GET /metrics" in response.body, (target, response)
    with HttpConnection(address) as connection:  # keep-alive: Prometheus reuses its connection
        for _ in range(3):
            assert connection.request("GET", "/metrics").status == 200


def test_off_by_default(proxy):
    assert proxy.wait_for_log(lambda line: " listening " in line and "metrics=off" in line), \
        proxy.log


def test_a_bad_metrics_address_is_one_clear_line(tmp_path):
    result = subprocess.run([proxy_binary(), "--metrics", "localhost:9102"], capture_output=True,
                            text=True, timeout=10)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--metrics" in result.stderr and \
        "numeric" in result.stderr, result.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proxy = start_proxy("--metrics", f"127.0.0.1:{port}", wait=False)
        try:
            assert proxy.proc.wait(timeout=10) == 1
            assert "SOCKET_PROXY_METRICS" in proxy.stderr and str(port) in proxy.stderr, proxy.log
        finally:
            proxy.stop()
            shutil.rmtree(proxy.workdir, ignore_errors=True)


def test_every_metric_on_the_page_is_in_the_docs(proxy_factory, tmp_path):
    """docs/logs-and-metrics.md lists each family a proxy with TLS and a CA serves (the
    certificate gauge appears only then), and names no family the page lacks."""
    certs = tmp_path / "certs"
    made = subprocess.run([proxy_binary(), "certs", str(certs), "--host", "127.0.0.1",
                           "--client", "alice"], capture_output=True, text=True, timeout=30)
    assert made.returncode == 0, made.stderr
    for path in [tmp_path, *tmp_path.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    port = free_tcp_port()
    proxy = proxy_factory("--metrics", f"127.0.0.1:{port}",
                          "--tls-cert", str(certs / "server/cert.pem"),
                          "--tls-key", str(certs / "server/key.pem"),
                          "--tls-ca", str(certs / "ca.pem"))
    # A request with alice's certificate names her in the metrics as in the request log.
    alice = certs / "clients" / "alice"
    curl = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                           "--cacert", str(alice / "ca.pem"), "--cert", str(alice / "cert.pem"),
                           "--key", str(alice / "key.pem"),
                           f"https://127.0.0.1:{proxy.tcp_port}/_ping"],
                          capture_output=True, text=True, timeout=30)
    assert curl.stdout == "200", curl
    page = scrape(port)
    assert value_of(page, "socket_proxy_tls_client_requests_total", client="tls:cn=alice") == 1
    served = set(page)
    doc = (REPO / "docs" / "logs-and-metrics.md").read_text()
    documented = set(re.findall(r"`((?:socket_proxy|process)_[a-z_]+)`", doc))
    assert served - documented == set(), "metrics missing from docs/logs-and-metrics.md"
    assert documented - served == set(), "docs/logs-and-metrics.md names metrics not served"
    assert proxy.proc.poll() is None
