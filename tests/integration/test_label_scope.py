"""Label-scoped visibility (issue 4), against the real engine and the docker CLI: a rule with
container_labels makes every other container absent for its clients, in the list, in the
event stream, and by name, id prefix or id."""

from __future__ import annotations

import json
import time

import pytest

from proxytest import (HttpConnection, assert_json_error, docker, http, random_suffix,
                       write_policy)

SCOPED = """
rules:
  - {{name: ping, methods: [GET, HEAD], path: /_ping, action: allow}}
  - {{name: version, methods: GET, path: /version, action: allow}}
  - name: labelled-restarts
    methods: POST
    path: /containers/{{id}}/restart
    container_labels: spt.visible={value}
    action: allow
  - name: labelled-only
    methods: GET
    container_labels: [spt.visible={value}]
    action: allow
"""


@pytest.fixture
def scoped(proxy_factory, policy_dir, containers):
    """A proxy that shows only containers labelled spt.visible=<value>, a visible and a hidden
    running container (the hidden one carries the label with another value)."""
    value = random_suffix()
    visible = containers.run("spt-visible", ["sleep", "1800"], labels={"spt.visible": value})
    hidden = containers.run("spt-hidden", ["sleep", "1800"], labels={"spt.visible": "other"})
    proxy = proxy_factory("--policy", write_policy(policy_dir, SCOPED.format(value=value)),
                          env={"DEBUG": "1"})
    ids = {name: docker("container", "inspect", "--format", "{{.Id}}", name,
                        check=True).stdout.strip() for name in (visible, hidden)}
    return proxy, visible, hidden, ids


def names_listed(host: str) -> set:
    result = docker("ps", "-a", "--format", "{{.Names}}", host=host)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_the_list_shows_only_labelled_containers(scoped):
    proxy, visible, hidden, _ = scoped
    through_proxy = names_listed(proxy.docker_host())
    assert visible in through_proxy and hidden not in through_proxy, through_proxy
    direct = names_listed(f"unix://{proxy.docker_socket}")
    assert {visible, hidden} <= direct, direct
    # Every container the proxy lists carries the label: the filter is not by name.
    raw = http(proxy.unix_path, "GET", "/v1.41/containers/json?all=1")
    assert raw.status == 200, raw
    values = {c["Labels"].get("spt.visible") for c in raw.json()}
    assert len(values) == 1 and "other" not in values and None not in values, values


@pytest.mark.parametrize("reference", ["name", "id prefix", "id"])
def test_a_hidden_container_is_absent_by_every_reference(scoped, reference):
    proxy, visible, hidden, ids = scoped
    pick = {"name": lambda n: n, "id prefix": lambda n: ids[n][:12], "id": lambda n: ids[n]}
    host = proxy.docker_host()
    shown = docker("container", "inspect", "--format", "{{.Name}}", pick[reference](visible),
                   host=host)
    assert shown.returncode == 0 and shown.stdout.strip() == f"/{visible}", shown
    gone = docker("container", "inspect", pick[reference](hidden), host=host)
    assert gone.returncode != 0, gone.stdout
    assert f"No such container: {pick[reference](hidden)}" in gone.stderr, gone.stderr
    logs = docker("logs", pick[reference](hidden), host=host)
    assert logs.returncode != 0 and "No such container" in logs.stderr, logs.stderr


def test_hidden_looks_exactly_like_absent(scoped):
    proxy, _, hidden, _ = scoped
    absent = f"spt-never-{random_suffix()}"
    answers = [http(proxy.unix_path, "GET", f"/v1.41/containers/{name}/json")
               for name in (hidden, absent)]
    for name, answer in zip((hidden, absent), answers):
        assert_json_error(answer, 404, f"No such container: {name}")
    hidden_body, absent_body = (a.json()["message"] for a in answers)
    assert hidden_body.replace(hidden, "X") == absent_body.replace(absent, "X")


def test_requests_are_forwarded_under_the_full_id(scoped):
    proxy, visible, _, ids = scoped
    answer = http(proxy.unix_path, "GET", f"/v1.41/containers/{visible}/top")
    assert answer.status == 200, answer
    full = f"forwarded=/v1.41/containers/{ids[visible]}/top"
    assert proxy.wait_for_log(lambda line: full in line), proxy.log


def test_a_scoped_write_rule_reaches_only_labelled_containers(scoped):
    proxy, visible, hidden, _ = scoped
    host = proxy.docker_host()
    refused = docker("restart", "-t", "0", hidden, host=host)
    assert refused.returncode != 0 and f"No such container: {hidden}" in refused.stderr, refused
    started_before = docker("container", "inspect", "--format", "{{.State.StartedAt}}", hidden,
                            check=True).stdout
    restarted = docker("restart", "-t", "0", visible, host=host)
    assert restarted.returncode == 0, restarted.stderr
    assert docker("container", "inspect", "--format", "{{.State.StartedAt}}", hidden,
                  check=True).stdout == started_before


def test_routes_the_rule_cannot_narrow_are_refused(scoped):
    proxy = scoped[0]
    for target in ("/v1.41/images/json", "/v1.41/networks", "/v1.41/system/df", "/v1.41/info"):
        assert_json_error(http(proxy.unix_path, "GET", target), 403,
                          "cannot narrow this route", "(rule labelled-only)")


def _event_lines(proxy, since: int, until: int) -> list:
    result = docker("events", "--since", str(since), "--until", str(until), "--format",
                    "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}", host=proxy.docker_host())
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_events_show_only_labelled_containers(scoped):
    proxy, visible, hidden, _ = scoped
    since = int(time.time()) - 1
    for name in (hidden, visible):
        docker("pause", name, check=True)
        docker("unpause", name, check=True)
    until = int(time.time()) + 1
    time.sleep(1.2)  # --until in the past: the daemon replays and ends the stream
    through_proxy = _event_lines(proxy, since, until)
    assert f"container pause {visible}" in through_proxy, through_proxy
    assert not any(hidden in line for line in through_proxy), through_proxy
    assert all(line.startswith("container ") for line in through_proxy), through_proxy
    direct = docker("events", "--since", str(since), "--until", str(until), "--format",
                    "{{.Action}} {{.Actor.Attributes.name}}", check=True).stdout
    assert f"pause {hidden}" in direct, direct


def test_a_live_event_stream_is_filtered_as_it_flows(scoped):
    proxy, visible, hidden, _ = scoped
    with HttpConnection(proxy.unix_path, timeout=20) as stream:
        stream.send(b"GET /v1.41/events HTTP/1.1\r\nHost: docker\r\n\r\n")
        head = stream.read_head()
        assert head.status == 200 and HttpConnection.is_chunked(head), head
        docker("pause", hidden, check=True)
        docker("unpause", hidden, check=True)
        docker("pause", visible, check=True)
        docker("unpause", visible, check=True)
        seen = []
        while True:
            chunk = stream.read_chunk()
            assert chunk is not None, "the stream ended"
            for line in chunk.splitlines():
                event = json.loads(line)
                seen.append(event)
                assert event["Type"] == "container" and \
                    event["Actor"]["Attributes"]["name"] != hidden, event
            if any(e["Action"] == "unpause" and e["Actor"]["Attributes"]["name"] == visible
                   for e in seen):
                break
    assert proxy.wait_for_log(lambda line: "hidden_events=" in line and
                              "hidden_events=0" not in line), proxy.log
