"""Owner isolation (issue 22), against the real engine: two clients under one `owner` rule each
create containers, and each sees, inspects and removes only its own."""

from __future__ import annotations

import json

import pytest

from image_helpers import request_as
from proxytest import (TEST_IMAGE, TEST_LABEL, assert_json_error, docker, http, is_root,
                       random_suffix, write_policy)

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


def test_routes_that_cannot_be_narrowed_to_the_owner_are_refused(proxy_factory, policy_dir):
    proxy = proxy_factory("--policy", write_policy(policy_dir, POLICY))
    # The image list and the volume list name nothing the proxy can tell owners by.
    response = http(proxy.unix_path, "GET", "/v1.41/images/json")
    assert_json_error(response, 403, "only the containers it created")


def test_a_create_body_whose_labels_are_no_object_is_refused(proxy_factory, policy_dir):
    proxy = proxy_factory("--policy", write_policy(policy_dir, POLICY))
    body = json.dumps({"Image": TEST_IMAGE, "Labels": ["spt.owner=unix:uid=0"]})
    response = http(proxy.unix_path, "POST", f"/v1.41/containers/create?name=spt-owner-{random_suffix()}",
                    headers=[("Content-Type", "application/json")], body=body.encode())
    assert response.status in (400, 403), response


def test_a_create_cannot_join_another_owners_container(proxy_factory, policy_dir, names):
    proxy = proxy_factory("--policy", write_policy(policy_dir, POLICY))
    root, runner = names["root"], names["runner"]
    made = http(proxy.unix_path, "POST", f"/v1.41/containers/create?name={root}",
                headers=[("Content-Type", "application/json")],
                body=json.dumps({"Image": TEST_IMAGE, "Cmd": ["sleep", "60"],
                                 "Labels": {TEST_LABEL: "owner"}}).encode())
    assert made.status == 201, made
    assert http(proxy.unix_path, "POST", f"/v1.41/containers/{root}/start").status == 204
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
