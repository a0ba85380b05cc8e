"""Make sure the services the tests talk to are up: Redis on 127.0.0.1:6379.

Kafka-protocol brokers are started by the test fixtures themselves. Redis is
started here only when nothing answers and a redis-server binary exists; if
neither works the test run fails loudly (the Redis tests never skip).

The deploy tests need `promtool` and `prometheus` (Debian's `prometheus`
package); they are installed with apt-get when missing, without letting the
package start a daemon.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

HOST, PORT = "127.0.0.1", 6379
PROMETHEUS_PORT = 9090
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")


def redis_answers() -> bool:
    try:
        with socket.create_connection((HOST, PORT), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def port_answers(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def ensure_prometheus_tools() -> int:
    """Install Debian's `prometheus` package (promtool + prometheus) when they are not on PATH."""
    if shutil.which("promtool") and shutil.which("prometheus"):
        print("prometheus: promtool and prometheus found")
        return 0
    apt_get = shutil.which("apt-get")
    if apt_get is None:
        print("prometheus: promtool/prometheus missing and no apt-get; install Prometheus's promtool by hand")
        return 1
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt_get, "install", "-y", "-q", "--no-install-recommends", "prometheus"]
    # The package's maintainer scripts start a prometheus daemon on :9090 where an init system
    # runs; a policy-rc.d answering 101 ("action forbidden") is Debian's way to stop that.
    created_policy = not POLICY_RC_D.exists()
    if created_policy:
        POLICY_RC_D.write_text("#!/bin/sh\n# written by wire-ingest tools/ensure_services.py\nexit 101\n")
        POLICY_RC_D.chmod(0o755)
    try:
        if subprocess.run(install, env=env, check=False).returncode != 0:
            # A fresh machine has no package lists yet.
            subprocess.run([apt_get, "update", "-q"], env=env, check=True)
            subprocess.run(install, env=env, check=True)
    except subprocess.CalledProcessError as error:
        print(f"prometheus: apt-get failed ({error})")
        return 1
    finally:
        if created_policy:
            POLICY_RC_D.unlink()
    if port_answers(PROMETHEUS_PORT):
        print(f"prometheus: note: something listens on {HOST}:{PROMETHEUS_PORT} (tests use their own)")
    found = bool(shutil.which("promtool") and shutil.which("prometheus"))
    print("prometheus: installed" if found else "prometheus: the package did not provide promtool/prometheus")
    return 0 if found else 1


def main() -> int:
    return max(ensure_prometheus_tools(), ensure_redis())


def ensure_redis() -> int:
    if redis_answers():
        print(f"redis: up on {HOST}:{PORT}")
        return 0
    server = shutil.which("redis-server")
    if server is None:
        print("redis: not running and no redis-server binary; install it (apt-get install redis-server)")
        return 1
    subprocess.run(
        [
            server,
            "--daemonize",
            "yes",
            "--bind",
            HOST,
            "--port",
            str(PORT),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        check=True,
    )
    for _ in range(50):
        if redis_answers():
            print(f"redis: started on {HOST}:{PORT}")
            return 0
        time.sleep(0.1)
    print("redis: failed to start")
    return 1


if __name__ == "__main__":
    sys.exit(main())
