"""What concurrent logins cost every other request.

Starts a real `schoolbell dev --demo` on a free port (rate limits lifted, so every login
hashes), measures the p50/p95 of two everyday reads — a parent's inbox and a child's grade
summary — alone, then again while 4 clients log in as fast as they can, and prints the
ratio. Argon2 is slow on purpose; the figure to watch is that the other routes stay within
2x of their time alone. It also prints the hashing capacity it measured, which the per-client
login limit is set from.

    uv run python bench/logins.py [--project PATH] [--requests 60] [--logins 4]

--project runs the server from another checkout (say, an older commit), for a before/after
comparison on the same machine in one sitting.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PARENT = "parent.ivanova@demo.example.org"
LOGIN_ACCOUNTS = [
    "admin@demo.example.org",
    "teacher.math@demo.example.org",
    "masha@demo.example.org",
    "parent.smirnov@demo.example.org",
]
PASSWORD = "schoolbell-demo"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(project: Path, data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SCHOOLBELL_DATA_DIR": str(data_dir),
        "LOGIN_RATE_PER_ACCOUNT": "100000/minute",
        "LOGIN_RATE_PER_CLIENT": "100000/minute",
    }
    for name in ("MONGODB_URL", "REDIS_URL", "SMTP_HOST", "PUBLIC_BASE_URL"):
        env.pop(name, None)
    process = subprocess.Popen(
        ["uv", "run", "--quiet", "schoolbell", "dev", "--demo", "--port", str(port)],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("schoolbell dev did not answer within 120 s")


def login(client: httpx.Client, email: str) -> str:
    response = client.post("/api/v1/auth/login", data={"username": email, "password": PASSWORD})
    response.raise_for_status()
    return str(response.json()["access_token"])


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def measure(client: httpx.Client, paths: dict[str, str], token: str, count: int) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    timings: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(count):
        for name, path in paths.items():
            started = time.perf_counter()
            client.get(path, headers=headers).raise_for_status()
            timings[name].append((time.perf_counter() - started) * 1000)
    return {name: percentiles(samples) for name, samples in timings.items()}


def hammer_logins(base: str, email: str, stop: threading.Event, done: list[float]) -> None:
    with httpx.Client(base_url=base, timeout=60) as client:
        while not stop.is_set():
            started = time.perf_counter()
            login(client, email)
            done.append(time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=ROOT)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--logins", type=int, default=4)
    args = parser.parse_args()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data_dir:
        server = start_server(args.project.resolve(), Path(data_dir), port)
        try:
            with httpx.Client(base_url=base, timeout=60) as client:
                token = login(client, PARENT)
                headers = {"Authorization": f"Bearer {token}"}
                child = client.get("/api/v1/users/me/children", headers=headers).json()
                child_id = child["items"][0]["id"]
                paths = {
                    "inbox": "/api/v1/notifications",
                    "summary": f"/api/v1/students/{child_id}/grades/summary",
                }
                measure(client, paths, token, 5)  # warm up
                alone = measure(client, paths, token, args.requests)

                stop, login_times = threading.Event(), list[float]()
                threads = [
                    threading.Thread(
                        target=hammer_logins,
                        args=(base, LOGIN_ACCOUNTS[n % len(LOGIN_ACCOUNTS)], stop, login_times),
                    )
                    for n in range(args.logins)
                ]
                hammering_since = time.perf_counter()
                for thread in threads:
                    thread.start()
                time.sleep(1)
                loaded = measure(client, paths, token, args.requests)
                stop.set()
                for thread in threads:
                    thread.join()
                elapsed = time.perf_counter() - hammering_since
        finally:
            server.terminate()
            server.wait(timeout=30)

    print(f"project: {args.project.resolve()}  cores: {os.cpu_count()}")
    header = ("route", "alone p50", "p95", "w/ logins p50", "p95", "p95 ratio")
    print("{:8} {:>10} {:>8} {:>14} {:>8} {:>10}".format(*header))
    for name in paths:
        (a50, a95), (l50, l95) = alone[name], loaded[name]
        print(f"{name:8} {a50:8.1f}ms {a95:6.1f}ms {l50:12.1f}ms {l95:6.1f}ms {l95 / a95:9.2f}x")
    if login_times:
        rate = len(login_times) / max(elapsed, 1e-9)
        print(
            f"logins: {len(login_times)} by {args.logins} clients, median "
            f"{statistics.median(login_times) * 1000:.0f} ms each, about {rate * 60:.0f}/minute "
            "for the whole server while reads went on"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
