"""Learning a policy from traffic (issue 9): `socket-proxy learn` turns the JSON request log of
a tool's real calls into a policy file, and the proxy under that policy lets the same calls
through against the real engine, and nothing else; audit mode forwards by the policy and logs
what a candidate policy would have decided."""

from __future__ import annotations

import json
import subprocess

from proxytest import assert_json_error, docker, http, make_workdir, proxy_binary, write_policy

# One tool's session: reads the docker CLI makes for a dashboard-like tool.
TRAFFIC = [
    ["version"],
    ["ps", "-a"],
    ["inspect", "{ticker}"],
    ["logs", "--tail", "2", "{ticker}"],
    ["events", "--since", "1s", "--until", "0s"],
]
NOT_SEEN = [
    ["images"],
    ["volume", "ls"],
    ["network", "ls"],
    ["top", "{ticker}"],
]


def run_all(commands, host, ticker):
    return [docker(*[part.replace("{ticker}", ticker) for part in command], host=host)
            for command in commands]


def test_learn_then_replay_allows_the_same_traffic_and_nothing_else(proxy_factory, policy_dir,
                                                                    ticker):
    recorder = proxy_factory(env={"SOCKET_PROXY_LOG_FORMAT": "json", "DEBUG": "1"})
    for command, result in zip(TRAFFIC, run_all(TRAFFIC, recorder.docker_host(), ticker.name)):
        assert result.returncode == 0, (command, result.stderr)
    recorder.stop()

    learned = subprocess.run([proxy_binary(), "learn", str(recorder.workdir / "stdout.log")],
                             capture_output=True, text=True, timeout=30)
    assert learned.returncode == 0, learned.stderr
    assert "learned from" in learned.stderr
    assert "/containers/{id}/json" in learned.stdout and "/events" in learned.stdout
    policy = write_policy(policy_dir, learned.stdout, "learned.yaml")
    check = subprocess.run([proxy_binary(), "check", "--policy", policy], capture_output=True,
                           text=True, timeout=30)
    assert check.returncode == 0 and check.stderr == "", check.stderr

    replay = proxy_factory("--policy", policy)
    for command, result in zip(TRAFFIC, run_all(TRAFFIC, replay.docker_host(), ticker.name)):
        assert result.returncode == 0, (command, result.stderr, learned.stdout)
    for command, result in zip(NOT_SEEN, run_all(NOT_SEEN, replay.docker_host(), ticker.name)):
        assert result.returncode != 0 and "no rule of the policy allows this request" in \
            result.stderr, (command, result.stderr)


def test_a_client_active_while_learning_cannot_plant_a_permission(proxy_factory, policy_dir,
                                                                   ticker):
    """Refused requests and routes the built-in policy blocks stay out of the learned rules,
    even when a permissive policy let them through while learning."""
    permissive = write_policy(policy_dir, "rules:\n  - {name: everything, action: allow}\n", "permissive.yaml")
    recorder = proxy_factory("--policy", permissive,
                             env={"SOCKET_PROXY_LOG_FORMAT": "json", "DEBUG": "1"})
    assert http(recorder.unix_path, "GET", f"/v1.41/containers/{ticker.name}/json").status == 200
    assert http(recorder.unix_path, "HEAD",
                f"/v1.41/containers/{ticker.name}/archive?path=/etc").status == 200
    assert http(recorder.unix_path, "GET", "/v1.41/swarm/unlockkey").status != 403
    recorder.stop()
    refusing = proxy_factory(env={"SOCKET_PROXY_LOG_FORMAT": "json", "DEBUG": "1"})
    assert http(refusing.unix_path, "POST", f"/v1.41/containers/{ticker.name}/kill").status == 403
    refusing.stop()
    log = (recorder.workdir / "stdout.log").read_text() + \
        (refusing.workdir / "stdout.log").read_text()
    (policy_dir / "both.log").write_text(log)

    learned = subprocess.run([proxy_binary(), "learn", str(policy_dir / "both.log")],
                             capture_output=True, text=True, timeout=30)
    assert learned.returncode == 0, learned.stderr
    assert "the built-in policy blocks it" in learned.stdout, learned.stdout
    assert "refused when logged (1 of 1 requests)" in learned.stdout, learned.stdout
    replay = proxy_factory("--policy", write_policy(policy_dir, learned.stdout, "learned.yaml"))
    assert http(replay.unix_path, "GET", f"/v1.41/containers/{ticker.name}/json").status == 200
    for method, target in [("HEAD", f"/v1.41/containers/{ticker.name}/archive?path=/etc"),
                           ("GET", "/v1.41/swarm/unlockkey"),
                           ("POST", f"/v1.41/containers/{ticker.name}/kill")]:
        assert http(replay.unix_path, method, target).status == 403, (method, learned.stdout)


def test_each_tools_listener_learns_only_what_that_tool_asked(proxy_factory, policy_dir):
    """Two tools on their own sockets while learning: the learned file gives each listener its
    own routes, and a replay under it refuses each tool what only the other one used."""
    permissive = write_policy(policy_dir, "rules:\n  - {name: everything, action: allow}\n",
                              "permissive.yaml")

    def start(policy):
        workdir, volume = make_workdir()
        paths = {name: str(workdir / name / "docker.sock") for name in ("board", "router")}
        proxy = proxy_factory("--policy", policy, "--listen",
                              f"board=unix:{paths['board']},router=unix:{paths['router']}",
                              workdir=workdir, volume=volume,
                              env={"SOCKET_PROXY_LOG_FORMAT": "json", "DEBUG": "1"})
        return proxy, paths

    recorder, paths = start(permissive)
    assert http(paths["board"], "GET", "/v1.41/containers/json?all=1").status == 200
    assert http(paths["board"], "GET", "/v1.41/info").status == 200
    assert http(paths["router"], "GET", "/v1.41/version").status == 200
    recorder.stop()

    learned = subprocess.run([proxy_binary(), "learn", str(recorder.workdir / "stdout.log")],
                             capture_output=True, text=True, timeout=30)
    assert learned.returncode == 0, learned.stderr
    assert 'clients: [{listener: "board"}]' in learned.stdout, learned.stdout
    replay, paths = start(write_policy(policy_dir, learned.stdout, "learned.yaml"))
    assert http(paths["board"], "GET", "/v1.41/containers/json").status == 200
    assert http(paths["board"], "GET", "/v1.41/info").status == 200
    assert http(paths["router"], "GET", "/v1.41/version").status == 200
    assert_json_error(http(paths["router"], "GET", "/v1.41/containers/json"), 403, "no rule")
    assert_json_error(http(paths["board"], "GET", "/v1.41/version"), 403, "no rule")
    assert_json_error(http(replay.unix_path, "GET", "/v1.41/info"), 403, "no rule")


def test_learn_explains_a_log_it_cannot_use(tmp_path):
    text_log = tmp_path / "text.log"
    text_log.write_text("2026-12-02T01:00:00.000+00:00 info listening unix=/run/proxy/docker.sock\n")
    result = subprocess.run([proxy_binary(), "learn", str(text_log)], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "SOCKET_PROXY_LOG_FORMAT=json" in result.stderr and \
        "DEBUG=1" in result.stderr, result.stderr
    result = subprocess.run([proxy_binary(), "learn", str(tmp_path / "missing.log")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "cannot read the log" in result.stderr
    result = subprocess.run([proxy_binary(), "learn"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "learn needs the log file" in result.stderr


CANDIDATE = """
rules:
  - {name: ping, methods: [GET, HEAD], path: /_ping, action: allow}
  - {name: list, methods: GET, path: /containers/json, action: allow}
"""


def test_audit_mode_forwards_by_the_policy_and_logs_the_candidates_verdict(proxy_factory,
                                                                         policy_dir):
    candidate = write_policy(policy_dir, CANDIDATE, "candidate.yaml")
    proxy = proxy_factory(env={"SOCKET_PROXY_MODE": "audit",
                               "SOCKET_PROXY_AUDIT_POLICY": candidate,
                               "SOCKET_PROXY_LOG_FORMAT": "json"})
    assert http(proxy.unix_path, "GET", "/v1.41/containers/json").status == 200
    # The live (built-in) policy still decides: /info is answered though the candidate refuses.
    assert http(proxy.unix_path, "GET", "/v1.41/info").status == 200
    assert http(proxy.unix_path, "POST", "/v1.41/containers/create").status == 403
    proxy.wait_for_log(lambda line: "/containers/create" in line)
    lines = [json.loads(line) for line in proxy.stdout.splitlines()]
    requests = {line["route"]: line for line in lines if line.get("event") == "request"}
    assert (requests["/containers/json"]["level"], requests["/containers/json"]["audit"],
            requests["/containers/json"]["audit_rule"]) == ("info", "allow", "list")
    assert (requests["/info"]["level"], requests["/info"]["decision"],
            requests["/info"]["audit"], requests["/info"]["audit_rule"]) == \
        ("warning", "allow", "deny", "default")
    assert requests["/containers/create"]["audit"] == "deny"
    listening = next(line for line in lines if line["event"] == "listening")
    assert listening["audit_policy"] == candidate


def test_audit_mode_needs_its_candidate(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "SOCKET_PROXY_MODE": "audit"}
    result = subprocess.run([proxy_binary(), "check"], capture_output=True, text=True,
                            timeout=30, env=env)
    assert result.returncode == 2 and "SOCKET_PROXY_AUDIT_POLICY" in result.stderr, result.stderr
    env = {"PATH": "/usr/bin:/bin", "SOCKET_PROXY_MODE": "spy"}
    result = subprocess.run([proxy_binary(), "check"], capture_output=True, text=True,
                            timeout=30, env=env)
    assert result.returncode == 2 and "use enforce or audit" in result.stderr, result.stderr
