# SPDX-License-Identifier: MIT
"""The aiops-agent command line as users run it: --version/--help, config check, replay over a
CSV, demo (in-process and against a running agent), and configuration from .env, environment
and flags. usage: python3 test_cli.py path/to/aiops-agent"""
import csv
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

from agent import Agent, free_port

BINARY = None


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("AIOPS_") or k in ("DATABASE_URL", "HOST", "PORT", "DEBUG"))}
    env.update(extra)
    return env


class Cli(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="aiops-cli.")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def run_agent(self, *args, env=None, timeout=30):
        return subprocess.run([BINARY, *args], cwd=self.dir, env=env or clean_env(),
                              capture_output=True, text=True, timeout=timeout)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_prints_its_version_and_help(self):
        r = self.run_agent("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^aiops-agent \d+\.\d+\.\d+")
        r = self.run_agent("--help")
        self.assertEqual(r.returncode, 0)
        for word in ("replay", "config check", "demo", "http.listen", "DATABASE_URL"):
            self.assertIn(word, r.stdout)

    def test_rejects_an_unknown_command(self):
        r = self.run_agent("frobnicate")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown command 'frobnicate'", r.stderr)

    def test_config_check_prints_the_effective_config_with_secrets_masked(self):
        cfg = self.write("agent.yaml", "http:\n  listen: 0.0.0.0:9000\n"
                         "sinks:\n  - {type: kafka, topic: a, sasl_password: hunter2}\n")
        env = clean_env(DATABASE_URL="sqlite:///./x.db", Z_SCORE_THRESHOLD="2.5",
                        AIOPS_LISTEN="127.0.0.1:9100")
        r = self.run_agent("config", "check", "--config", cfg, "--log-level", "debug", env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("127.0.0.1:9100", r.stdout)  # environment beats file
        self.assertNotIn("0.0.0.0:9000", r.stdout)
        self.assertIn("sqlite:///./x.db", r.stdout)
        self.assertIn("2.5", r.stdout)
        self.assertIn("debug", r.stdout)  # flag
        self.assertNotIn("hunter2", r.stdout)
        r = self.run_agent("config", "check", env=clean_env(
            DATABASE_URL="postgresql://aiops:s3cret@db:5432/aiops"))
        self.assertNotIn("s3cret", r.stdout + r.stderr)

    def test_config_check_names_the_bad_key_and_fails(self):
        cfg = self.write("bad.yaml", "http:\n  listen: 127.0.0.1:8000\n  lisen: oops\n")
        r = self.run_agent("config", "check", "--config", cfg)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("http.lisen", r.stderr)
        self.assertIn(":3", r.stderr)  # the line
        r = self.run_agent("config", "check", env=clean_env(Z_SCORE_THRESHOLD="many"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Z_SCORE_THRESHOLD", r.stderr)

    def test_replay_scores_every_row_through_the_incremental_path(self):
        rows = ["timestamp,value"]
        for i in range(300):
            value = 10 + (i * 37 % 11) / 10
            if i == 250:
                value = 80
            rows.append(f"2014-04-10 {i // 60:02d}:{i % 60:02d}:00,{value}")
        path = self.write("series.csv", "\n".join(rows) + "\n")
        r = self.run_agent("replay", "--method", "z-score", "--sensitivity", "medium", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = list(csv.DictReader(io.StringIO(r.stdout)))
        self.assertEqual(len(out), 300)
        self.assertEqual(list(out[0]), ["timestamp", "value", "anomaly_score", "is_anomaly"])
        flagged = [i for i, row in enumerate(out) if row["is_anomaly"] in ("1", "true")]
        self.assertIn(250, flagged)
        self.assertLessEqual(len(flagged), 3)
        for row in out:
            self.assertTrue(0.0 <= float(row["anomaly_score"]) <= 1.0)

    def test_replay_names_the_methods_when_given_an_unknown_one(self):
        path = self.write("s.csv", "timestamp,value\n2014-04-10 00:00:00,1\n")
        r = self.run_agent("replay", "--method", "nope", path)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("z-score", r.stderr)

    def test_demo_runs_in_process_and_finds_the_injected_anomaly(self):
        r = self.run_agent("demo", "--method", "z-score")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("1 anomalies", r.stdout)
        self.assertIn("grouped events", r.stdout)

    def test_demo_talks_to_a_running_agent(self):
        with Agent(BINARY) as a:
            r = self.run_agent("demo", "--method", "z-score", "--url",
                               f"http://127.0.0.1:{a.port}")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("pod-web-001", r.stdout)
            self.assertIn("standard deviations", r.stdout)
        r = self.run_agent("demo", "--url", f"http://127.0.0.1:{free_port()}")
        self.assertNotEqual(r.returncode, 0)
        self.assertTrue(r.stderr.strip())

    def test_run_reads_host_and_port_from_a_dotenv_file_like_the_old_service(self):
        port = free_port()
        self.write(".env", f"# as the old service's users wrote it\nHOST=127.0.0.1\nPORT={port}\n"
                           "DATABASE_URL=sqlite+aiosqlite:///./legacy.db\n")
        proc = subprocess.Popen([BINARY], cwd=self.dir, env=clean_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 10
            body = None
            while time.monotonic() < deadline and body is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health",
                                                timeout=2) as resp:
                        body = resp.read()
                except OSError:
                    time.sleep(0.05)
            self.assertIsNotNone(body, "the agent listens on the .env's PORT")
            self.assertTrue(os.path.exists(os.path.join(self.dir, "legacy.db")))
        finally:
            proc.terminate()
            self.assertEqual(proc.wait(15), 0)

    def test_run_fails_clearly_when_the_port_is_taken(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            port = s.getsockname()[1]
            r = self.run_agent("run", "--listen", f"127.0.0.1:{port}", "--database-url",
                               "sqlite://:memory:")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("address already in use", r.stdout + r.stderr)

    def test_logs_json_lines_when_asked(self):
        with Agent(BINARY, "--log-format", "json") as a:
            a.request("GET", "/health")
            a.stop()
            lines = [line for line in a.logs().splitlines() if line.strip()]
        import json
        for line in lines:
            rec = json.loads(line)
            self.assertIn("level", rec)
        self.assertTrue(any("listening" in json.loads(x).get("msg", "") for x in lines), lines)


if __name__ == "__main__":
    BINARY = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
