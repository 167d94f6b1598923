# SPDX-License-Identifier: MIT
"""Starts the real aiops-agent binary on a free 127.0.0.1 port with its own SQLite file, for the
black-box tests in this folder. Standard library only."""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Agent:
    """`with Agent(binary, extra flags) as a:` runs the agent until the block ends (SIGTERM)."""

    def __init__(self, binary, *flags, env=None):
        self.binary = os.path.abspath(binary)
        self.flags = list(flags)
        self.env = env
        self.dir = tempfile.mkdtemp(prefix="aiops-it.")
        self.db = os.path.join(self.dir, "aiops.db")
        self.port = free_port()
        self.proc = None
        self.log = None

    def start(self):
        env = dict(os.environ)
        for k in list(env):  # the legacy names would change the defaults under test
            if k in ("DATABASE_URL", "HOST", "PORT", "DEBUG") or k.startswith("AIOPS_"):
                del env[k]
        env.update(self.env or {})
        self.log = open(os.path.join(self.dir, "agent.log"), "w+")
        self.proc = subprocess.Popen(
            [self.binary, "run", "--listen", f"127.0.0.1:{self.port}",
             "--database-url", f"sqlite:///{self.db}", *self.flags],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=self.dir, env=env)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited {self.proc.returncode}: {self.logs()}")
            try:
                status, _, _ = self.request("GET", "/health")
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("agent did not answer /health within 10 s: " + self.logs())

    def logs(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Signals the agent and returns its exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def request(self, method, path, body=None, headers=None, timeout=30):
        """One request on a new connection: (status, headers dict, body bytes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
                headers = {"Content-Type": "application/json", **(headers or {})}
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def json(self, method, path, body=None, headers=None):
        status, hdrs, data = self.request(method, path, body, headers)
        return status, json.loads(data)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        try:
            self.stop()
        finally:
            self.log.close()
            shutil.rmtree(self.dir, ignore_errors=True)


def series(n, spike_at=None, start=1767225600, step=60, base=50.0, resource="pod-web-001",
           metric="cpu_usage"):
    """A series of n points a step apart with small deterministic noise and one spike."""
    data = []
    for i in range(n):
        v = base + ((i * 7919) % 13) / 13.0
        if spike_at is not None and i == spike_at:
            v = base * 3
        ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + i * step))
        data.append({"timestamp": ts, "value": round(v, 3)})
    return {"resource_id": resource, "metric_name": metric, "data": data}
