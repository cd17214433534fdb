#!/usr/bin/env python3
"""What the held-body check costs other clients: one connection sends the worst allowed-shape
body of 1 MiB (objects of 9,999 distinct keys, refused only at the end for Privileged, so the
whole check runs and the engine gets nothing) over and over, while another connection sends
GET /_ping every 10 ms. Prints /_ping latency without and with that load, and the body's round
trip. Run by bench/body-check --proxy BINARY; prints numbers, asserts nothing."""

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

POLICY = """rules:
  - {name: ping, methods: [GET, HEAD], path: /_ping, action: allow}
  - {name: create, methods: [POST], path: /containers/create, action: allow}
"""


def worst_body() -> bytes:
    tail = ',"HostConfig":{"Privileged":true}}'
    body, obj = "{", 0
    while True:
        members, size = [], len(body)
        for i in range(9_999):
            members.append(f'"k{i}":""')
            size += len(members[-1]) + 1
            if size + 64 > 1024 * 1024:
                return (body + f'"o{obj}":{{' + ",".join(members) + "}" + tail).encode()
        body += f'"o{obj}":{{' + ",".join(members) + "},"
        obj += 1


def connect(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(path)
    return sock


def exchange(sock: socket.socket, request: bytes) -> bytes:
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    while len(rest) < length:
        rest += sock.recv(65536)
    return head


def pings(path: str, seconds: float) -> list:
    sock = connect(path)
    latencies = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        start = time.monotonic()
        exchange(sock, b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
        latencies.append((time.monotonic() - start) * 1000)
        time.sleep(0.01)
    sock.close()
    return latencies


def summary(values: list) -> str:
    ordered = sorted(values)
    return (f"n={len(ordered)} p50={statistics.median(ordered):.1f}ms "
            f"p99={ordered[int(len(ordered) * 0.99) - 1]:.1f}ms max={ordered[-1]:.1f}ms")


def main() -> None:
    binary, docker_socket = sys.argv[1], sys.argv[2]
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 5.0
    work = tempfile.mkdtemp(prefix="body-check-")
    os.chmod(work, 0o755)
    policy = os.path.join(work, "policy.yaml")
    with open(policy, "w") as out:
        out.write(POLICY)
    volume = os.path.join(work, "volume")
    os.mkdir(volume)
    proc = subprocess.Popen([binary, "--volume", volume, "--docker-socket", docker_socket,
                             "--tcp", "off", "--uid", "0", "--gid", "0", "--policy", policy],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    path = os.path.join(volume, "docker.sock")
    try:
        for _ in range(100):
            if os.path.exists(path):
                break
            time.sleep(0.05)
        print(f"/_ping alone:            {summary(pings(path, seconds))}")
        body = worst_body()
        request = (f"POST /v1.41/containers/create HTTP/1.1\r\nHost: docker\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                   ).encode() + body
        stop = threading.Event()
        rounds = []

        def load() -> None:
            sock = connect(path)
            while not stop.is_set():
                start = time.monotonic()
                head = exchange(sock, request)
                rounds.append((time.monotonic() - start) * 1000)
                assert b" 403 " in head.split(b"\r\n")[0], head
            sock.close()

        loader = threading.Thread(target=load)
        loader.start()
        latencies = pings(path, seconds)
        stop.set()
        loader.join()
        print(f"/_ping under body load:  {summary(latencies)}")
        print(f"1 MiB body round trip:   {summary(rounds)} ({len(body)} bytes, refused 403)")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
