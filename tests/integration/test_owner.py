"""Owner isolation (issue 22), against the real engine: two clients under one `owner` rule each
create containers, volumes and networks, and each sees, inspects, uses, prunes and removes only
its own."""

from __future__ import annotations

import json

import pytest

from image_helpers import request_as
from proxytest import (DOCKER_SOCKET, TEST_IMAGE, TEST_LABEL, assert_json_error, docker, http,
                       is_root,
                       random_suffix, write_policy)
from urllib.parse import quote

pytestmark = pytest.mark.skipif(not is_root(), reason="clients of two uids need root")

POLICY = """
rules:
  - name: runners
    methods: [GET, POST, DELETE]
    owner: spt.owner
    action: allow
"""


def create_body(forged_owner: str) -> str:
    return json.dumps({"Image": TEST_IMAGE, "Cmd": ["true"],
                       "Labels": {"spt.owner": forged_owner, TEST_LABEL: "owner"},
                       "HostConfig": {"NetworkMode": "none"}})


def engine_labels(name: str) -> dict:
    result = docker("container", "inspect", "--format", "{{json .Config.Labels}}", name)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def start_sleeper_as_root(proxy, name: str) -> None:
    """uid 0 creates and starts, through the proxy, a container that is uid 0's own."""
    made = http(proxy.unix_path, "POST", f"/v1.41/containers/create?name={name}",
                headers=[("Content-Type", "application/json")],
                body=json.dumps({"Image": TEST_IMAGE, "Cmd": ["sleep", "60"],
                                 "Labels": {TEST_LABEL: "owner"}}).encode())
    assert made.status == 201, made
    assert http(proxy.unix_path, "POST", f"/v1.41/containers/{name}/start").status == 204


@pytest.fixture
def names():
    suffix = random_suffix()
    made = {"runner": f"spt-owner-runner-{suffix}", "root": f"spt-owner-root-{suffix}"}
    yield made
    docker("rm", "-f", *made.values())


def test_each_client_sees_and_removes_only_what_it_created(proxy_factory, policy_dir, names):
    proxy = proxy_factory("--policy", write_policy(policy_dir, POLICY))
    runner, root = names["runner"], names["root"]

    # uid 1000 creates, pretending to be root: the proxy stamps its own identity.
    made = request_as(1000, proxy.unix_path, "POST", f"/v1.41/containers/create?name={runner}",
                      create_body("unix:uid=0"))
    assert made["status"] == 201, made
    assert engine_labels(runner)["spt.owner"] == "unix:uid=1000"
    response = http(proxy.unix_path, "POST", f"/v1.41/containers/create?name={root}",
                    headers=[("Content-Type", "application/json")],
                    body=create_body("").encode())
    assert response.status == 201, response
    assert engine_labels(root)["spt.owner"] == "unix:uid=0"

    def listed(as_uid: int) -> set:
        if as_uid == 0:
            answer = http(proxy.unix_path, "GET", "/v1.41/containers/json?all=1")
            assert answer.status == 200, answer
            body = answer.body
        else:
            answer = request_as(as_uid, proxy.unix_path, "GET", "/v1.41/containers/json?all=1")
            assert answer["status"] == 200, answer
            body = answer["body"]
        return {name.lstrip("/") for entry in json.loads(body) for name in entry["Names"]}

    assert runner in listed(1000) and root not in listed(1000)
    assert root in listed(0) and runner not in listed(0)

    # Another owner's container does not exist for root: not by name, not by id.
    runner_id = docker("container", "inspect", "--format", "{{.Id}}", runner).stdout.strip()
    for reference in (runner, runner_id, runner_id[:12]):
        assert http(proxy.unix_path, "GET", f"/v1.41/containers/{reference}/json").status == 404
        assert http(proxy.unix_path, "DELETE", f"/v1.41/containers/{reference}").status == 404
    assert docker("container", "inspect", runner).returncode == 0

    # Its owner removes it.
    removed = request_as(1000, proxy.unix_path, "DELETE", f"/v1.41/containers/{runner}")
    assert removed["status"] == 204, removed
    assert docker("container", "inspect", runner).returncode != 0


def test_exec_works_in_ones_own_container_and_not_in_anothers(proxy_factory, policy_dir, names):
    """An exec instance carries no labels: the proxy asks which container it runs in."""
    with_ping = "rules:\n  - {name: ping, methods: [GET, HEAD], path: /_ping, action: allow}\n" + \
        POLICY.split("rules:\n", 1)[1]
    proxy = proxy_factory("--policy", write_policy(policy_dir, with_ping))
    root = names["root"]
    start_sleeper_as_root(proxy, root)
    # The CLI creates the exec, starts it on a hijacked connection and inspects it for the code.
    ran = docker("exec", root, "sh", "-c", "echo owned; exit 3", host=proxy.docker_host())
    assert ran.returncode == 3 and ran.stdout.strip() == "owned", (ran.stdout, ran.stderr)

    # An exec of root's container, made behind the proxy's back: not uid 1000's to see or run.
    made = http(DOCKER_SOCKET, "POST", f"/v1.41/containers/{root}/exec",
                headers=[("Content-Type", "application/json")],
                body=json.dumps({"Cmd": ["touch", "/tmp/ran"]}).encode())
    assert made.status == 201, made
    exec_id = made.json()["Id"]
    for method, target, body in (("GET", f"/v1.41/exec/{exec_id}/json", None),
                                 ("POST", f"/v1.41/exec/{exec_id}/start", '{"Detach": true}'),
                                 ("POST", f"/v1.12/exec/{exec_id}/resize?h=10&w=10", None)):
        answer = request_as(1000, proxy.unix_path, method, target, body)
        assert answer["status"] == 404 and f"No such exec instance: {exec_id}" in answer["body"], \
            (target, answer)
    assert docker("exec", root, "test", "-e", "/tmp/ran").returncode == 1
    # Its owner may.
    inspected = http(proxy.unix_path, "GET", f"/v1.41/exec/{exec_id}/json")
    assert inspected.status == 200 and inspected.json()["ContainerID"].startswith(
        docker("container", "inspect", "--format", "{{.Id}}", root).stdout.strip()), inspected
    missing = http(proxy.unix_path, "GET", "/v1.41/exec/" + "0" * 64 + "/json")
    assert_json_error(missing, 404, "No such exec instance")


def test_routes_that_cannot_be_narrowed_to_the_owner_are_refused(proxy_factory, policy_dir):
    proxy = proxy_factory("--policy", write_policy(policy_dir, POLICY))
    # The image list and the volume list name nothing the proxy can tell owners by.
    response = http(proxy.unix_path, "GET", "/v1.41/images/json")
    assert_json_error(response, 403, "only the containers, volumes and networks it created")
    # Podman's own routes read other shapes: refused, never let through unnarrowed.
    for method, target in (("GET", "/v4.0.0/libpod/volumes/json"),
                           ("POST", "/v4.0.0/libpod/networks/create"),
                           ("POST", "/v4.0.0/libpod/volumes/prune")):
        assert http(proxy.unix_path, method, target).status == 403, target


def test_a_create_body_whose_labels_are_no_object_is_refused(proxy_factory, policy_dir):
    proxy = proxy_factory("--policy", write_policy(policy_dir, POLICY))
    body = json.dumps({"Image": TEST_IMAGE, "Labels": ["spt.owner=unix:uid=0"]})
    response = http(proxy.unix_path, "POST", f"/v1.41/containers/create?name=spt-owner-{random_suffix()}",
                    headers=[("Content-Type", "application/json")], body=body.encode())
    assert response.status in (400, 403), response


def test_a_create_cannot_join_another_owners_container(proxy_factory, policy_dir, names):
    proxy = proxy_factory("--policy", write_policy(policy_dir, POLICY))
    root, runner = names["root"], names["runner"]
    start_sleeper_as_root(proxy, root)
    body = json.dumps({"Image": TEST_IMAGE, "Cmd": ["true"], "Labels": {TEST_LABEL: "owner"},
                       "HostConfig": {"NetworkMode": f"container:{root}"}})
    joined = request_as(1000, proxy.unix_path, "POST", f"/v1.41/containers/create?name={runner}",
                        body)
    assert joined["status"] == 403, joined
    assert "a container this client did not create" in joined["body"], joined
    assert docker("container", "inspect", runner).returncode != 0
    # Its own: joined.
    mine = http(proxy.unix_path, "POST", f"/v1.41/containers/create?name={runner}",
                headers=[("Content-Type", "application/json")], body=body.encode())
    assert mine.status == 201, mine


# --------------------------------------------------------------------------- volumes, networks


class Client:
    """Requests through the proxy as one uid: 0 directly, others with setpriv."""

    def __init__(self, proxy, uid: int):
        self.proxy, self.uid = proxy, uid

    def __call__(self, method: str, target: str, body=None) -> tuple:
        text = json.dumps(body) if body is not None else None
        if self.uid == 0:
            headers = [("Content-Type", "application/json")] if text is not None else []
            answer = http(self.proxy.unix_path, method, target, headers=headers,
                          body=(text or "").encode())
            return answer.status, answer.body.decode()
        answer = request_as(self.uid, self.proxy.unix_path, method, target, text)
        return answer["status"], answer["body"]

    def json(self, method: str, target: str, body=None, status: int = 200):
        got, text = self(method, target, body)
        assert got == status, (method, target, got, text)
        return json.loads(text) if text.strip() else None


@pytest.fixture
def made():
    """Names for volumes, networks and containers, all removed at the end."""
    suffix = random_suffix()
    names = {"volumes": [], "networks": [], "containers": []}

    def name(kind: str, who: str) -> str:
        made_name = f"spt-owner-{who}-{kind[:-1]}{len(names[kind])}-{suffix}"
        names[kind].append(made_name)
        return made_name

    yield name
    if names["containers"]:
        docker("rm", "-f", *names["containers"])
    if names["networks"]:
        docker("network", "rm", *names["networks"])
    if names["volumes"]:
        docker("volume", "rm", "-f", *names["volumes"])


def volume_labels(name: str) -> dict:
    result = docker("volume", "inspect", "--format", "{{json .Labels}}", name)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def network_id(name: str) -> str:
    result = docker("network", "inspect", "--format", "{{.Id}}", name)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def owner_proxy(proxy_factory, policy_dir):
    proxy = proxy_factory("--policy", write_policy(policy_dir, POLICY))
    return Client(proxy, 1000), Client(proxy, 0)


def test_each_client_sees_and_removes_only_its_own_volumes_and_networks(
        proxy_factory, policy_dir, made):
    runner, root = owner_proxy(proxy_factory, policy_dir)
    names = {}
    for who, client in (("runner", runner), ("root", root)):
        volume, network = made("volumes", who), made("networks", who)
        names[who] = (volume, network)
        # The runner pretends to be root: the proxy writes its own identity over it.
        forged = {"spt.owner": "unix:uid=0", TEST_LABEL: "owner"}
        client.json("POST", "/v1.41/volumes/create", {"Name": volume, "Labels": forged},
                    status=201)
        client.json("POST", "/v1.41/networks/create", {"Name": network, "Labels": forged},
                    status=201)
    runner_volume, runner_network = names["runner"]
    root_volume, root_network = names["root"]
    # The filtered volume list is redacted as the whole one is.
    secret = made("volumes", "runner")
    runner.json("POST", "/v1.41/volumes/create",
                {"Name": secret, "DriverOpts": {"type": "tmpfs", "device": "tmpfs",
                                                "o": "size=1m,password=hunter2"}}, status=201)
    listed = runner.json("GET", "/v1.41/volumes")["Volumes"]
    options = next(v for v in listed if v["Name"] == secret)["Options"]
    assert "hunter2" not in json.dumps(listed) and "size=1m" in options["o"], options
    assert volume_labels(runner_volume)["spt.owner"] == "unix:uid=1000"
    assert volume_labels(root_volume)["spt.owner"] == "unix:uid=0"
    # The engine answers a create of an existing volume with that one's description.
    status, text = runner("POST", "/v1.41/volumes/create", {"Name": root_volume})
    assert status == 403 and "a volume this client did not create" in text, (status, text)
    runner.json("POST", "/v1.41/volumes/create", {"Name": runner_volume}, status=201)

    for who, client in (("runner", runner), ("root", root)):
        other = "root" if who == "runner" else "runner"
        volumes = {v["Name"] for v in client.json("GET", "/v1.41/volumes")["Volumes"] or []}
        assert names[who][0] in volumes and names[other][0] not in volumes, volumes
        networks = {n["Name"] for n in client.json("GET", "/v1.41/networks")}
        assert networks == {names[who][1]}, networks  # not bridge, host, none either
        assert {n["Name"] for n in client.json("GET", "/networks/")} == networks

    # Another owner's volume and network do not exist for root: by name, id, id prefix, escaped.
    runner_network_id = network_id(runner_network)
    for reference in (runner_network, runner_network_id, runner_network_id[:12],
                      quote(runner_network, safe="").replace("-", "%2D")):
        status, text = root("GET", f"/v1.41/networks/{reference}")
        assert status == 404 and "not found" in text, (reference, status, text)
        assert root("DELETE", f"/v1.12/networks/{reference}")[0] == 404
    for reference in (runner_volume, runner_volume.upper()):
        status, text = root("GET", f"/v1.41/volumes/{reference}")
        assert status == 404 and "no such volume" in text, (status, text)
        assert root("DELETE", f"/v1.41/volumes/{reference}?force=1")[0] == 404
    assert docker("volume", "inspect", runner_volume).returncode == 0
    assert docker("network", "inspect", runner_network).returncode == 0

    # Its owner sees and removes them, the network by an id prefix.
    assert runner.json("GET", f"/v1.41/networks/{runner_network_id[:12]}")["Id"] == \
        runner_network_id
    assert runner.json("GET", f"/v1.41/volumes/{runner_volume}")["Name"] == runner_volume
    assert runner("DELETE", f"/v1.41/networks/{runner_network_id[:12]}")[0] == 204
    assert runner("DELETE", f"/v1.41/volumes/{runner_volume}")[0] == 204
    assert docker("volume", "inspect", runner_volume).returncode != 0
    assert docker("network", "inspect", runner_network).returncode != 0


def container_body(**host_config) -> dict:
    return {"Image": TEST_IMAGE, "Cmd": ["true"], "Labels": {TEST_LABEL: "owner"},
            "HostConfig": host_config}


def test_a_create_uses_only_the_clients_own_volumes_and_networks(proxy_factory, policy_dir,
                                                                 made):
    runner, root = owner_proxy(proxy_factory, policy_dir)
    root_volume, root_network = made("volumes", "root"), made("networks", "root")
    root.json("POST", "/v1.41/volumes/create", {"Name": root_volume}, status=201)
    root.json("POST", "/v1.41/networks/create", {"Name": root_network}, status=201)
    mine_volume, mine_network = made("volumes", "runner"), made("networks", "runner")
    runner.json("POST", "/v1.41/volumes/create", {"Name": mine_volume}, status=201)
    runner.json("POST", "/v1.41/networks/create", {"Name": mine_network}, status=201)
    root_network_id = network_id(root_network)

    refused = {
        "a bind of its volume": container_body(Binds=[f"{root_volume}:/data"]),
        "a mount of its volume": container_body(
            Mounts=[{"Type": "volume", "Source": root_volume, "Target": "/data"}]),
        "a volume that does not exist": container_body(Binds=[f"spt-owner-absent-{random_suffix()}:/d"]),
        "its network": container_body(NetworkMode=root_network),
        "its network by id prefix": container_body(NetworkMode=root_network_id[:12]),
        "its network as an endpoint's NetworkID": {
            **container_body(),
            "NetworkingConfig": {"EndpointsConfig": {"bridge": {"NetworkID": root_network_id}}}},
        "its network as an endpoint": {
            **container_body(NetworkMode=mine_network),
            "NetworkingConfig": {"EndpointsConfig": {root_network: {}}}},
    }
    for what, body in refused.items():
        name = made("containers", "runner")
        status, text = runner("POST", f"/v1.41/containers/create?name={name}", body)
        assert status == 403, (what, status, text)
        assert "this client did not create" in text or "does not know" in text, (what, text)
        assert docker("container", "inspect", name).returncode != 0, what

    # Its own volume and network, and the default bridge: created, the network pinned by id.
    name = made("containers", "runner")
    status, text = runner("POST", f"/v1.41/containers/create?name={name}",
                          {**container_body(Binds=[f"{mine_volume}:/data"],
                                            NetworkMode=mine_network),
                           "NetworkingConfig": {"EndpointsConfig": {mine_network: {}}}})
    assert status == 201, text
    endpoints = json.loads(docker("container", "inspect", "--format",
                                  "{{json .NetworkSettings.Networks}}", name).stdout)
    assert endpoints[mine_network]["NetworkID"] == network_id(mine_network), endpoints
    assert runner("POST", f"/v1.41/containers/create?name={made('containers', 'runner')}",
                  container_body())[0] == 201

    # A connect names the client's own network and container.
    theirs = made("containers", "root")
    assert root("POST", f"/v1.41/containers/create?name={theirs}", container_body())[0] == 201
    status, text = runner("POST", f"/v1.41/networks/{mine_network}/connect",
                          {"Container": theirs})
    assert status == 403 and "a container this client did not create" in text, text
    assert runner("POST", f"/v1.41/networks/{root_network}/connect", {"Container": name})[0] == 404
    status, text = runner("POST", f"/v1.41/networks/{mine_network}/disconnect",
                          {"Container": name, "Force": True})
    assert status == 200, text
    status, text = runner("POST", f"/v1.41/networks/{mine_network}/connect",
                          {"Container": name, "EndpointConfig": {"NetworkID": root_network_id}})
    assert status == 403, text
    assert runner("POST", f"/v1.41/networks/{mine_network}/connect", {"Container": name})[0] == 200


def test_a_prune_removes_only_the_clients_own(proxy_factory, policy_dir, made):
    runner, root = owner_proxy(proxy_factory, policy_dir)
    names = {}
    for who, client in (("runner", runner), ("root", root)):
        names[who] = {kind: made(kind, who) for kind in ("volumes", "networks", "containers")}
        client.json("POST", "/v1.41/volumes/create", {"Name": names[who]["volumes"]},
                    status=201)
        client.json("POST", "/v1.41/networks/create", {"Name": names[who]["networks"]},
                    status=201)
        container = names[who]["containers"]
        assert client("POST", f"/v1.41/containers/create?name={container}",
                      container_body())[0] == 201
    deleted = {"volumes": "VolumesDeleted", "networks": "NetworksDeleted",
               "containers": "ContainersDeleted"}
    forged = quote(json.dumps({"label": {"spt.owner=unix:uid=0": True}}), safe="")
    for kind, key in deleted.items():
        # The client's filters are kept and ANDed with the owner's: a forged owner label then
        # matches nothing.
        pruned = runner.json("POST", f"/v1.41/{kind}/prune?filters={forged}")
        assert not pruned.get(key), pruned
        pruned = runner.json("POST", f"/v1.41/{kind}/prune")
        gone = pruned.get(key) or []
        assert names["root"][kind] not in gone, pruned
        inspected = docker(kind[:-1], "inspect", names["root"][kind])
        assert inspected.returncode == 0, (kind, inspected.stderr)
        assert docker(kind[:-1], "inspect", names["runner"][kind]).returncode != 0, (kind, pruned)
    # A form-encoded body would override the filters the proxy wrote; Go lowercases the type
    # with Unicode's mappings ("\xc4\xb0" is U+0130, which becomes "i") and trims it.
    # The body's filters match nothing, in case one got through to the shared engine.
    harmless = "filters=" + quote(json.dumps({"label": {f"spt-none-{random_suffix()}": True}}))
    for content_type in ("application/x-www-form-urlencoded",
                         "appl\xc4\xb0cation/x-www-form-urlencoded",
                         "application/x-www-form-urlencoded ;a=b"):
        response = http(runner.proxy.unix_path, "POST", "/v1.41/volumes/prune",
                        headers=[("Content-Type", content_type)], body=harmless.encode())
        assert_json_error(response, 403, "form-encoded")


CLI_POLICY = """
rules:
  - {name: ping, methods: [GET, HEAD], path: /_ping, action: allow}
  - name: runners
    methods: [GET, POST, DELETE]
    owner: spt.owner
    action: allow
"""


def test_the_docker_cli_runs_on_its_own_volume_and_network(proxy_factory, policy_dir, made):
    proxy = proxy_factory("--policy", write_policy(policy_dir, CLI_POLICY))
    host = proxy.docker_host()
    volume, network, container = (made("volumes", "cli"), made("networks", "cli"),
                                  made("containers", "cli"))
    docker("volume", "create", volume, host=host, check=True)
    docker("network", "create", network, host=host, check=True)
    docker("run", "-d", "--name", container, "--label", f"{TEST_LABEL}=owner",
           "--network", network, "-v", f"{volume}:/data", TEST_IMAGE, "sleep", "60",
           host=host, check=True)
    attached = docker("inspect", "--format", "{{json .NetworkSettings.Networks}}", container,
                      host=host, check=True)
    assert json.loads(attached.stdout)[network]["NetworkID"] == network_id(network), attached
    listed = docker("volume", "ls", "-q", host=host, check=True).stdout.split()
    assert listed == [volume], listed
    networks = docker("network", "ls", "--format", "{{.Name}}", host=host, check=True)
    assert networks.stdout.split() == [network], networks.stdout
    docker("rm", "-f", container, host=host, check=True)
    docker("network", "rm", network, host=host, check=True)
    docker("volume", "rm", volume, host=host, check=True)
