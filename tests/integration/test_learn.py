"""Learning a policy from traffic (issue 9, part): `socket-proxy learn` turns the JSON request
log of a tool's real calls into a policy file; the proxy under that policy lets the same calls
through against the real engine, and nothing else."""

from __future__ import annotations

import subprocess

from proxytest import docker, proxy_binary, write_policy

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
