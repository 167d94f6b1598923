# SPDX-License-Identifier: MIT
"""Real services for the streaming tests, each on a free 127.0.0.1 port in its own temp dir,
started and stopped by the test: Mosquitto, a throw-away PostgreSQL server, and librdkafka's
mock Kafka cluster hosted in its own process (tests/tools/mockkafka). Standard library only."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

from agent import free_port

PGBIN = "/usr/lib/postgresql/15/bin"


def wait_until(pred, timeout=10.0, step=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Mosquitto:
    def __init__(self, port=None):
        self.dir = tempfile.mkdtemp(prefix="aiops-mqtt.")
        # Started as root, mosquitto runs as the mosquitto user, which saves its persistence
        # file here.
        shutil.chown(self.dir, "mosquitto")
        self.port = port or free_port()
        self.proc = None

    def start(self):
        conf = os.path.join(self.dir, "mosquitto.conf")
        with open(conf, "w") as f:
            # Persistence keeps durable subscriptions (subscribe(client_id=...)) and their
            # queued messages across stop() and start().
            f.write(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                    f"persistence true\npersistence_location {self.dir}/\nlog_dest stderr\n")
        self.log = open(os.path.join(self.dir, "mosquitto.log"), "a")
        self.proc = subprocess.Popen(["mosquitto", "-c", conf], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        wait_until(lambda: subprocess.run(
            ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-t", "ready", "-m", "1"],
            capture_output=True).returncode == 0, what="mosquitto")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        if getattr(self, "log", None):
            self.log.close()

    def publish(self, topic, payload, qos=1):
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-t", topic,
                        "-q", str(qos), "-s"], input=payload, check=True, timeout=10)

    def subscribe(self, topic, count, timeout=20, client_id=None):
        """Starts mosquitto_sub for count messages; returns the process (stdout: "topic payload").
        With client_id the session is durable: it also gets what was published to topic while
        that client was away, once subscribe_durably() has registered it."""
        args = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.port), "-t", topic, "-q", "1",
                "-C", str(count), "-W", str(timeout), "-v"]
        if client_id:
            args += ["-c", "-i", client_id]
        return subprocess.Popen(args, stdout=subprocess.PIPE, text=True)

    def subscribe_durably(self, topic, client_id):
        """Registers client_id's durable QoS 1 subscription to topic and disconnects: from now on
        the broker queues what is published there until subscribe(client_id=...) collects it."""
        subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.port), "-t", topic,
                        "-q", "1", "-c", "-i", client_id, "-E"], check=True, timeout=10)

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Postgres:
    """initdb + pg_ctl as the postgres OS user (initdb refuses root), fsync off."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="aiops-pg.")
        shutil.chown(self.dir, "postgres", "postgres")
        self.port = free_port()
        self.data = os.path.join(self.dir, "data")
        subprocess.run(["runuser", "-u", "postgres", "--", f"{PGBIN}/initdb", "-D", self.data,
                        "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8",
                        "--no-sync"], check=True, capture_output=True)

    def url(self, db="aiops"):
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def start(self):
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off")
        subprocess.run(["runuser", "-u", "postgres", "--", f"{PGBIN}/pg_ctl", "-D", self.data,
                        "-l", os.path.join(self.dir, "server.log"), "-w", "-t", "30", "-o", opts,
                        "start"], check=True, capture_output=True)
        return self

    def createdb(self, name="aiops"):
        subprocess.run(["createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                        name], check=True, capture_output=True)

    def stop(self):
        subprocess.run(["runuser", "-u", "postgres", "--", f"{PGBIN}/pg_ctl", "-D", self.data,
                        "-m", "fast", "-w", "-t", "30", "stop"], capture_output=True)

    def query(self, sql, db="aiops"):
        out = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                              "-d", db, "-v", "ON_ERROR_STOP=1", "-AtF", "\t", "-c", sql],
                             check=True, capture_output=True, text=True).stdout
        return [line.split("\t") for line in out.splitlines() if line]

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class MockKafka:
    """librdkafka's mock cluster in its own process: the agent only sees a bootstrap address."""

    def __init__(self, binary, topics=("metrics:4", "aiops.alerts:1"), brokers=1):
        self.dir = tempfile.mkdtemp(prefix="aiops-kafka.")
        self.out = open(os.path.join(self.dir, "mock.out"), "w+")
        self.proc = subprocess.Popen([binary, str(brokers), *topics], stdout=self.out,
                                     stderr=subprocess.STDOUT)

        def bootstrap():
            self.out.flush()
            self.out.seek(0)
            for line in self.out.read().splitlines():
                if line.startswith("BOOTSTRAP="):
                    return line[len("BOOTSTRAP="):]
            if self.proc.poll() is not None:
                raise RuntimeError("mockkafka exited")
            return None
        self.bootstrap = wait_until(bootstrap, what="mock kafka")

    def produce(self, topic, lines, key_sep=None):
        """Produces each item of lines (bytes) as one message (kcat -P, one per line)."""
        args = ["kcat", "-b", self.bootstrap, "-P", "-t", topic]
        if key_sep:
            args += ["-K", key_sep]
        subprocess.run(args, input=b"\n".join(lines) + b"\n", check=True, timeout=30)

    def consume(self, topic, count, timeout=30):
        """Reads count messages from the start of topic: [(key, value)]."""
        out = subprocess.run(["kcat", "-b", self.bootstrap, "-C", "-t", topic, "-o", "beginning",
                              "-c", str(count), "-f", "%k\t%s\n", "-q"],
                             capture_output=True, text=True, timeout=timeout).stdout
        return [tuple(line.split("\t", 1)) for line in out.splitlines() if line]

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.out.close()
        shutil.rmtree(self.dir, ignore_errors=True)
