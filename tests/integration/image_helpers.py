"""Helpers for test_image.py: the socket-proxy image on the real engine.

Containers, volumes and host directories are made with unique names and removed by
ImageResources.remove_all(). Clients that must run as another user (uid 1000, the proxy
socket's owner) run this file's client part in a child python under setpriv: busybox-static's
wget and nc speak TCP only, not unix sockets.

Run as a script (what the child python does):
    request SOCKET METHOD TARGET [BODY]   one request; prints {"status", "content_type", "body"}
    stream SOCKET TARGET                  prints "status N", then each line of the body
A connection that fails prints {"error": "...", "errno": N} and exits 3.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

IMAGE = "socket-proxy:local"
CLIENT_UID = 1000
CONNECT_FAILED_EXIT = 3


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: str, timeout: float):
        super().__init__("docker", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.settimeout(self.timeout)
        client.connect(self.socket_path)
        self.sock = client


def _client_main(argv: Sequence[str]) -> int:
    command, socket_path = argv[0], argv[1]
    connection = UnixHTTPConnection(socket_path, timeout=20)
    try:
        connection.connect()
    except OSError as error:
        print(json.dumps({"error": str(error), "errno": error.errno}), flush=True)
        return CONNECT_FAILED_EXIT
    if command == "request":
        method, target = argv[2], argv[3]
        body = argv[4].encode() if len(argv) > 4 else None
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, target, body=body, headers=headers)
        response = connection.getresponse()
        print(json.dumps({"status": response.status,
                          "content_type": response.getheader("Content-Type"),
                          "body": response.read().decode("utf-8", "replace")}), flush=True)
        return 0
    if command == "stream":
        connection.sock.settimeout(None)  # events arrive when they happen; the parent kills us
        connection.request("GET", argv[2])
        response = connection.getresponse()
        print(f"status {response.status}", flush=True)
        while chunk := response.read1(65536):
            for line in chunk.decode("utf-8", "replace").splitlines():
                print(line, flush=True)
        return 0
    print(f"unknown command {command!r}", file=sys.stderr)
    return 2


def as_user_command(uid: int, gid: int, *client_args: str) -> list:
    """argv running this file's client part as uid:gid with no supplementary groups.

    The source goes in with -c, so the child needs no read access to the checkout."""
    source = Path(__file__).read_text()
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
            sys.executable, "-c", source, *client_args]


def request_as(uid: int, socket_path: str, method: str, target: str,
               body: Optional[str] = None) -> dict:
    argv = as_user_command(uid, uid, "request", socket_path, method, target,
                           *([body] if body is not None else []))
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd="/")
    if result.returncode not in (0, CONNECT_FAILED_EXIT):
        raise AssertionError(f"client as uid {uid} failed with {result.returncode}:\n"
                             f"{result.stdout}{result.stderr}")
    return json.loads(result.stdout)


def stream_as(uid: int, socket_path: str, target: str) -> subprocess.Popen:
    return subprocess.Popen(as_user_command(uid, uid, "stream", socket_path, target),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/")


# --------------------------------------------------------------------------- containers


class ImageResources:
    """Everything a test module makes on the engine and the host, removed by remove_all()."""

    def __init__(self, docker, label: str):
        self.docker = docker
        self.label = label
        self.containers: list = []
        self.volumes: list = []
        self.directories: list = []

    def name(self, prefix: str) -> str:
        return f"{prefix}-{os.urandom(4).hex()}"

    def volume(self) -> str:
        name = self.name("spt-image-volume")
        self.volumes.append(name)
        self.docker("volume", "create", "--label", self.label, name, check=True)
        return name

    def host_directory(self) -> Path:
        """A 0755 directory under a world-traversable parent; short, as socket paths must be."""
        parent = Path(tempfile.mkdtemp(prefix="spt-image-", dir="/tmp"))
        self.directories.append(parent)
        os.chmod(parent, 0o755)
        volume = parent / "proxy"
        volume.mkdir()
        os.chmod(volume, 0o755)
        return volume

    def run(self, prefix: str, *args: str, detach: bool = True,
            timeout: float = 60.0) -> tuple:
        """docker run --name <unique> --label ... args; returns (name, CompletedProcess)."""
        name = self.name(prefix)
        self.containers.append(name)
        result = self.docker("run", *(["-d"] if detach else []), "--name", name,
                             "--label", self.label, *args, timeout=timeout)
        return name, result

    def remove_all(self) -> None:
        if self.containers:
            self.docker("rm", "-f", "-v", *self.containers, timeout=120)
        if self.volumes:
            self.docker("volume", "rm", "-f", *self.volumes, timeout=60)
        for directory in self.directories:
            shutil.rmtree(directory, ignore_errors=True)
        self.containers.clear()
        self.volumes.clear()
        self.directories.clear()


def inspect(docker, name: str) -> dict:
    result = docker("inspect", name, check=True)
    return json.loads(result.stdout)[0]


def wait_for_health(docker, name: str, timeout: float = 25.0) -> str:
    """Polls .State.Health.Status until healthy, the container stops, or the timeout; returns
    the last status (or "exited"). The image checks every 5 s, so the first check is ~5 s in."""
    deadline = time.monotonic() + timeout
    while True:
        state = inspect(docker, name)["State"]
        status = (state.get("Health") or {}).get("Status", "none")
        if status == "healthy":
            return status
        if not state["Running"]:
            return "exited"
        if time.monotonic() > deadline:
            return status
        time.sleep(0.5)


def wait_for_exit(docker, name: str, timeout: float = 20.0) -> Optional[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = inspect(docker, name)["State"]
        if state["Status"] == "exited":
            return state
        time.sleep(0.2)
    return None


def logs(docker, name: str) -> str:
    result = docker("logs", name)
    return result.stdout + result.stderr


def process_status(pid: int) -> dict:
    """/proc/PID/status as a dict of its fields (Uid, Gid, Groups, CapEff, NoNewPrivs, ...)."""
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value.split()
    return fields


# --------------------------------------------------------------------------- image content


def image_files(docker_cli: str, env: dict, image: str) -> dict:
    """path -> (TarInfo, content or None) of the image's file system, layers applied in order
    (no whiteouts: a FROM scratch image only adds)."""
    saved = subprocess.run([docker_cli, "save", image], env=env, capture_output=True,
                           check=True, timeout=120).stdout
    archive = tarfile.open(fileobj=io.BytesIO(saved))
    manifest = json.load(archive.extractfile("manifest.json"))
    files: dict = {}
    for layer_name in manifest[0]["Layers"]:
        layer = tarfile.open(fileobj=archive.extractfile(layer_name))
        for member in layer.getmembers():
            content = layer.extractfile(member).read() if member.isfile() else None
            files[member.name.rstrip("/")] = (member, content)
    return files


def elf_facts(content: bytes) -> dict:
    """Whether a 64-bit little-endian ELF file asks for a loader or dynamic linking, and whether
    it still carries a symbol table (not stripped)."""
    assert content[:4] == b"\x7fELF" and content[4] == 2 and content[5] == 1, "not an ELF64 LE file"
    program_offset, section_offset = struct.unpack_from("<QQ", content, 0x20)
    program_size, program_count, section_size, section_count = struct.unpack_from(
        "<HHHH", content, 0x36)
    program_types = {struct.unpack_from("<I", content, program_offset + i * program_size)[0]
                     for i in range(program_count)}
    section_types = {struct.unpack_from("<I", content, section_offset + i * section_size + 4)[0]
                     for i in range(section_count)}
    pt_dynamic, pt_interp, sht_symtab = 2, 3, 2
    return {"interpreter": pt_interp in program_types, "dynamic": pt_dynamic in program_types,
            "symbols": sht_symtab in section_types}


if __name__ == "__main__":
    sys.exit(_client_main(sys.argv[1:]))
