"""A real Spark standalone cluster on 127.0.0.1: one master, one worker, jobs by spark-submit.

Spark comes from PyPI (``pyspark``, requirements-dev.txt), its JVM from Debian's OpenJDK
(tools/system-deps.sh). Each daemon runs in the foreground of its own process group, so
:meth:`Cluster.stop` ends it and everything it started (executors and their python
workers), and nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

READY_TIMEOUT = 180
JOB_TIMEOUT = 600
STOP_TIMEOUT = 30


def spark_home() -> Path:
    """The Spark distribution inside the ``pyspark`` package."""
    try:
        import pyspark
    except ImportError:
        pytest.fail("pyspark is not installed: pip install -r requirements-dev.txt")
    return Path(pyspark.__file__).parent


def java_home() -> Path:
    """The JDK (or JRE) that runs Spark: ``JAVA_HOME``, else the ``java`` on PATH."""
    if os.environ.get("JAVA_HOME"):
        return Path(os.environ["JAVA_HOME"])
    java = shutil.which("java")
    if java is None:
        pytest.fail("No Java runtime (java) found: run tools/system-deps.sh, which installs it.")
    return Path(java).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Cluster:
    """A running master and worker; ``url`` is the master's ``spark://`` address."""

    home: Path
    work: Path
    env: dict[str, str]
    url: str = ""
    ui_port: int = 0
    processes: list[subprocess.Popen] = field(default_factory=list)

    def daemon(self, name: str, *args: str) -> None:
        """Start ``spark-class <args>`` in its own process group, its log in ``work``."""
        with open(self.work / f"{name}.log", "wb") as log:
            self.processes.append(
                subprocess.Popen(
                    [str(self.home / "bin" / "spark-class"), *args],
                    env=self.env,
                    cwd=self.work,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def logs(self) -> str:
        parts = []
        for log in sorted(self.work.glob("*.log")):
            parts.append(f"--- {log.name} (last lines)\n" + "\n".join(_tail(log, 30)))
        return "\n".join(parts)

    def wait_for_worker(self) -> None:
        """Until the master has a live worker; a daemon that exits fails at once."""
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            for proc in self.processes:
                if proc.poll() is not None:
                    pytest.fail(f"A Spark daemon exited ({proc.returncode}):\n{self.logs()}")
            with contextlib.suppress(OSError, ValueError):
                state = _json(f"http://127.0.0.1:{self.ui_port}/json/")
                if state.get("aliveworkers", 0) >= 1:
                    return
            time.sleep(1)
        pytest.fail(f"The Spark worker did not register within {READY_TIMEOUT}s:\n{self.logs()}")

    def submit(self, script: Path, *args: str, conf: dict[str, str]) -> subprocess.CompletedProcess:
        """``spark-submit`` ``script`` to this cluster (client mode), with ``conf``."""
        settings = [f"--conf={key}={value}" for key, value in conf.items()]
        return subprocess.run(
            [
                str(self.home / "bin" / "spark-submit"),
                f"--master={self.url}",
                *settings,
                str(script),
                *args,
            ],
            env=self.env,
            cwd=self.work,
            capture_output=True,
            text=True,
            timeout=JOB_TIMEOUT,
            check=False,
        )

    def stop(self) -> None:
        """End each daemon's process group: SIGTERM, then SIGKILL after a while."""
        for proc in self.processes:
            _signal_group(proc, signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
            # executors and python workers left in the group after the daemon exited
            _signal_group(proc, signal.SIGKILL)


@contextlib.contextmanager
def standalone_cluster(work: Path) -> Iterator[Cluster]:
    """A master and one worker (one core, small memory) on 127.0.0.1, stopped on exit."""
    home = spark_home()
    conf_dir = work / "conf"
    conf_dir.mkdir(parents=True)
    env = {
        **os.environ,
        "JAVA_HOME": str(java_home()),
        "SPARK_HOME": str(home),
        "SPARK_CONF_DIR": str(conf_dir),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOCAL_DIRS": str(work / "local"),
        "SPARK_LOG_DIR": str(work),
        "SPARK_DAEMON_MEMORY": "256m",
    }
    # the jobs choose their pythons by their own settings, nothing inherited
    for name in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "PYTHONPATH", "SPARK_ENV_LOADED"):
        env.pop(name, None)
    cluster = Cluster(home, work, env)
    port, cluster.ui_port = free_port(), free_port()
    cluster.url = f"spark://127.0.0.1:{port}"
    try:
        cluster.daemon(
            "master",
            "org.apache.spark.deploy.master.Master",
            *("--host", "127.0.0.1", "--port", str(port)),
            *("--webui-port", str(cluster.ui_port)),
        )
        cluster.daemon(
            "worker",
            "org.apache.spark.deploy.worker.Worker",
            *("--host", "127.0.0.1", "--cores", "1", "--memory", "1g"),
            *("--work-dir", str(work / "worker"), "--webui-port", str(free_port())),
            cluster.url,
        )
        cluster.wait_for_worker()
        yield cluster
    finally:
        cluster.stop()


def _json(url: str) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())
    except urllib.error.URLError as exc:
        raise OSError(str(exc)) from exc


def _signal_group(proc: subprocess.Popen, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _tail(path: Path, lines: int) -> list[str]:
    return path.read_text(errors="replace").splitlines()[-lines:]
