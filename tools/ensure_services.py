"""Make sure the services the tests talk to are up: Redis on 127.0.0.1:6379.

Kafka-protocol brokers are started by the test fixtures themselves. Redis is
started here only when nothing answers and a redis-server binary exists; if
neither works the test run fails loudly (the Redis tests never skip).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time

HOST, PORT = "127.0.0.1", 6379


def redis_answers() -> bool:
    try:
        with socket.create_connection((HOST, PORT), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def main() -> int:
    if redis_answers():
        print(f"redis: up on {HOST}:{PORT}")
        return 0
    server = shutil.which("redis-server")
    if server is None:
        print("redis: not running and no redis-server binary; install it (apt-get install redis-server)")
        return 1
    subprocess.run(
        [server, "--daemonize", "yes", "--bind", HOST, "--port", str(PORT), "--save", "", "--appendonly", "no"],
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
