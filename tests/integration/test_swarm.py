"""Docker Swarm behind the proxy, on a real engine in swarm mode: the spare dockerd of
spare_engine.py (its own data root), so the suite's main engine never joins a swarm.

Services, tasks, nodes and networks read through; secrets, configs and the unlock key are
refused; environment values in service and task specs are redacted and /swarm carries no join
token (issue 4), checked against what the engine itself answers."""

from __future__ import annotations

import json
import time
import types

import pytest

from proxytest import TEST_IMAGE, assert_json_error, docker, http, random_suffix
from spare_engine import spare_swarm

SECRET = f"hunter2-{random_suffix()}"


@pytest.fixture(scope="module")
def swarm(engine):
    with spare_swarm() as (spare, host):
        service = docker("service", "create", "--detach", "--name", f"spt-svc-{random_suffix()}",
                         "--env", f"DB_PASSWORD={SECRET}", "--env", "MODE=prod", TEST_IMAGE,
                         "sleep", "1800", host=host, check=True).stdout.strip()
        docker("secret", "create", f"spt-secret-{random_suffix()}", "-", host=host, check=True,
               input=SECRET)
        deadline = time.monotonic() + 60
        while not docker("service", "ps", "-q", service, host=host).stdout.strip():
            assert time.monotonic() < deadline, "the service got no task within 60 s"
            time.sleep(0.5)
        yield types.SimpleNamespace(engine=spare, host=host, service=service)


@pytest.fixture
def swarm_proxy(swarm, proxy_factory):
    return proxy_factory(docker_socket=swarm.engine.socket_path)


def direct(swarm, target: str):
    response = http(swarm.engine.socket_path, "GET", target)
    assert response.status == 200, response
    return response


def task_ids(swarm) -> list:
    return [task["ID"] for task in direct(swarm, "/v1.41/tasks").json()]


@pytest.mark.compat("Swarm (HTTP)",
                    "/services, /services/{id}, /tasks, /tasks/{id}: Env values redacted")
@pytest.mark.parametrize("route", ["/services", "/services/{service}", "/tasks", "/tasks/{task}"])
def test_service_and_task_specs_are_redacted(swarm, swarm_proxy, transport, route):
    target = "/v1.41" + route.format(service=swarm.service, task=task_ids(swarm)[0])
    assert SECRET.encode() in direct(swarm, target).body
    response = http(swarm_proxy.address(transport), "GET", target)
    assert response.status == 200, response
    assert SECRET.encode() not in response.body
    assert b"DB_PASSWORD=<redacted>" in response.body and b"MODE=<redacted>" in response.body


@pytest.mark.compat("Swarm (HTTP)", "/swarm without JoinTokens")
def test_swarm_answers_without_join_tokens(swarm, swarm_proxy, transport):
    raw = direct(swarm, "/v1.41/swarm")
    assert "JoinTokens" in raw.json() and b"SWMTKN-" in raw.body
    response = http(swarm_proxy.address(transport), "GET", "/v1.41/swarm")
    assert response.status == 200, response
    assert "JoinTokens" not in response.json() and b"SWMTKN-" not in response.body
    assert response.json()["ID"] == raw.json()["ID"]


@pytest.mark.compat("Swarm (HTTP)", "/nodes, /networks")
@pytest.mark.parametrize("target", ["/v1.41/nodes", "/v1.41/networks"])
def test_cluster_reads_pass(swarm, swarm_proxy, transport, target):
    response = http(swarm_proxy.address(transport), "GET", target)
    assert response.status == 200, response
    # The engine lists them in no fixed order, and a node's status moves: compare the ids.
    ids = sorted(item.get("ID") or item["Id"] for item in response.json())
    assert ids and ids == sorted(item.get("ID") or item["Id"] for item in
                                 direct(swarm, target).json())


@pytest.mark.compat("Swarm (HTTP)", "/secrets, /configs, /swarm/unlockkey refused")
@pytest.mark.parametrize("target", ["/v1.41/secrets", "/v1.41/configs", "/v1.41/swarm/unlockkey"])
def test_secrets_configs_and_the_unlock_key_are_refused(swarm, swarm_proxy, transport, target):
    assert_json_error(http(swarm_proxy.address(transport), "GET", target), 403, "socket-proxy denied")


@pytest.mark.compat("docker CLI (swarm)",
                    "service ls, inspect, ps; node ls; secret ls refused; join-token empty")
def test_the_cli_works_against_the_swarm_through_the_proxy(swarm, swarm_proxy, transport):
    host = swarm_proxy.docker_host(transport)
    listed = docker("service", "ls", "--format", "{{.ID}}", host=host)
    assert listed.returncode == 0 and swarm.service.startswith(listed.stdout.strip()), listed
    env = docker("service", "inspect", "--format",
                 "{{json .Spec.TaskTemplate.ContainerSpec.Env}}", swarm.service, host=host)
    assert env.returncode == 0 and "DB_PASSWORD=<redacted>" in env.stdout, env
    assert SECRET not in env.stdout
    nodes = docker("node", "ls", "--format", "{{.Self}}", host=host)
    assert nodes.returncode == 0 and nodes.stdout.strip() == "true", nodes
    tasks = docker("service", "ps", "--format", "{{.Name}}", swarm.service, host=host)
    assert tasks.returncode == 0 and tasks.stdout.strip(), tasks
    secrets = docker("secret", "ls", host=host)
    assert secrets.returncode != 0 and "socket-proxy denied" in secrets.stderr, secrets
    # The CLI reads the token from GET /swarm: it finds none and prints an empty one.
    token = docker("swarm", "join-token", "manager", host=host)
    assert "SWMTKN-" not in token.stdout + token.stderr, token
    assert "SWMTKN-" in docker("swarm", "join-token", "manager", host=swarm.host).stdout


SERVICE_WRITER = """
rules:
  - {name: reads, methods: [GET, HEAD], action: allow}
  - {name: services, methods: [POST, DELETE], path: /services/**, action: allow}
"""


def test_a_service_cannot_reach_the_host_network_by_id_or_prefix(swarm, proxy_factory,
                                                                 policy_dir):
    """The engine resolves a network target by name, id or id prefix (swarmkit's getNetwork,
    then the local predefined networks): the proxy asks it, and the host network by any name is
    refused. A secret mounted into a service needs the rule to name it."""
    from proxytest import write_policy
    proxy = proxy_factory("--policy", write_policy(policy_dir, SERVICE_WRITER),
                          docker_socket=swarm.engine.socket_path)
    networks = direct(swarm, "/v1.41/networks").json()
    host_ids = [network["Id"] for network in networks if network["Name"] == "host"]
    assert host_ids, networks
    overlay = f"spt-overlay-{random_suffix()}"
    docker("network", "create", "--driver", "overlay", overlay, host=swarm.host, check=True)

    def create(targets, extra=None, socket_path=None):
        spec = {"Name": f"spt-net-{random_suffix()}",
                "TaskTemplate": {"ContainerSpec": {"Image": TEST_IMAGE,
                                                   "Command": ["sleep", "60"], **(extra or {})},
                                 "Networks": [{"Target": target} for target in targets]}}
        return http(socket_path or proxy.unix_path, "POST", "/v1.41/services/create",
                    headers={"Content-Type": "application/json"},
                    body=json.dumps(spec).encode())

    swarm_host_id = None
    for target in [host_ids[0], host_ids[0][:6], "swarm's own"]:
        if target == "swarm's own":
            target = swarm_host_id
        else:
            # Control: the engine takes the local host network's id or prefix for the swarm's
            # predefined host network.
            control = create([target], socket_path=swarm.engine.socket_path)
            assert control.status == 201, control
            spec = direct(swarm, f"/v1.41/services/{control.json()['ID']}").json()["Spec"]
            swarm_host_id = spec["TaskTemplate"]["Networks"][0]["Target"]
            docker("service", "rm", control.json()["ID"], host=swarm.host)
        refused = create([target])
        assert_json_error(refused, 403, f"names network {target}, the host's network "
                                        "(body.host_namespaces)")
    allowed = create([overlay])
    assert allowed.status == 201, allowed
    docker("service", "rm", allowed.json()["ID"], host=swarm.host)
    secret = docker("secret", "ls", "--format", "{{.ID}} {{.Name}}", host=swarm.host,
                    check=True).stdout.split()
    mounted = create([], {"Secrets": [{"SecretID": secret[0], "SecretName": secret[1],
                                        "File": {"Name": "s", "UID": "0", "GID": "0",
                                                 "Mode": 292}}]})
    assert_json_error(mounted, 403, f"mounts {secret[1]}, which is not allowed (body.secrets)")
    assert not [s for s in direct(swarm, "/v1.41/services").json()
                if s["Spec"]["Name"].startswith("spt-net-") and s["ID"] != allowed.json()["ID"]]
    docker("network", "rm", overlay, host=swarm.host)
