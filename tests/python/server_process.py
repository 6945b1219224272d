"""servekit-server as a subprocess for the tests: started on free loopback
ports and waited for; stop() sends SIGTERM and returns the exit code."""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import threading

SERVER = [sys.executable, "-m", "servekit.cli"]


class ServerProcess:
    """servekit-server on a free loopback port, started and waited for; stop() sends SIGTERM."""

    def __init__(self, *flags: str, open_file_limit: tuple[int, int] | None = None):
        """open_file_limit: the server's RLIMIT_NOFILE (soft, hard) at start."""

        def limit_files():
            resource.setrlimit(resource.RLIMIT_NOFILE, open_file_limit)

        self.process = subprocess.Popen(
            [*SERVER, "--rest_api_port=0", "--port=0", "--bind_address=127.0.0.1", *flags],
            preexec_fn=limit_files if open_file_limit else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.log: list[str] = []
        self._terminated = False
        self.port = self.grpc_port = 0
        for line in self.process.stderr:
            self.log.append(line)
            grpc_match = re.search(r"gRPC API on [\d.]+:(\d+)", line)
            if grpc_match:
                self.grpc_port = int(grpc_match.group(1))
            match = re.search(r"REST API on [\d.]+:(\d+)", line)
            if match:
                self.port = int(match.group(1))
                break
        # Keep the pipe drained while the server runs.
        self._reader = threading.Thread(target=lambda: self.log.extend(self.process.stderr), daemon=True)
        self._reader.start()
        if not self.port:
            self.stop()
            raise AssertionError(f"the server did not start: {''.join(self.log)}")

    def open_descriptors(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def rss_bytes(self) -> int:
        with open(f"/proc/{self.process.pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def terminate(self) -> None:
        """SIGTERM, once: a second one while the server exits would find Python's
        default handler (restored at interpreter exit) and kill it."""
        if not self._terminated and self.process.poll() is None:
            self._terminated = True
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 120) -> int:
        self.terminate()
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=timeout)
        self.process.stderr.close()
        return code
