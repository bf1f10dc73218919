"""A Spark standalone cluster (one master, one worker) on 127.0.0.1, from the pyspark wheel.

The wheel ships ``bin/spark-class`` and the jars of a full Spark, so a real cluster starts with no
download: the tests run the parity suite and ``cxlens report --engine spark`` against it, and
``bench/storage.py`` compares it with local mode. Executors read the tables' Parquet files by
path, so on one host the warehouse needs no sharing; on several hosts every worker must mount it
(docs/deploy.md).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PR_SET_PDEATHSIG = 1


class ClusterError(RuntimeError):
    """The standalone cluster did not come up."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spark_home() -> Path:
    """The Spark installation inside the pyspark wheel."""
    import pyspark

    return Path(pyspark.__file__).parent


@dataclass(frozen=True)
class StandaloneCluster:
    """A running master and worker: the master URL to give ``CXLENS_SPARK_MASTER``."""

    url: str
    ui_url: str
    workdir: Path

    def workers(self) -> list[dict[str, object]]:
        """The workers the master knows, as its JSON status page lists them."""
        with urllib.request.urlopen(f"{self.ui_url}/json/", timeout=5) as reply:
            return list(json.load(reply).get("workers", []))


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the process that started it dies, so a test run
    killed outright (no clean-up code runs) leaves no master or worker behind (Linux)."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _start(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    home = spark_home()
    return subprocess.Popen(
        ["bash", str(home / "bin" / "spark-class"), *args],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )


@contextmanager
def standalone_cluster(
    workdir: Path, *, cores: int = 2, memory: str = "2g", timeout: float = 180.0
) -> Iterator[StandaloneCluster]:
    """Start a master and a worker on 127.0.0.1, wait until the worker has registered, yield the
    cluster, and stop both processes at the end (whatever happened)."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise ClusterError("Spark needs Java 17: run scripts/install-system-deps.sh")
    workdir.mkdir(parents=True, exist_ok=True)
    port, ui, worker_ui = _free_port(), _free_port(), _free_port()
    env = {
        **os.environ,
        "SPARK_HOME": str(spark_home()),
        "SPARK_LOG_DIR": str(workdir / "logs"),
        "SPARK_WORKER_DIR": str(workdir / "work"),
        "SPARK_LOCAL_DIRS": str(workdir / "local"),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
    }
    url, ui_url = f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{ui}"
    procs = [
        _start(
            ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
             "--webui-port", str(ui)],
            workdir / "master.log",
            env,
        )
    ]  # fmt: skip
    try:
        procs.append(
            _start(
                ["org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--cores", str(cores),
                 "--memory", memory, "--webui-port", str(worker_ui), "--work-dir", str(workdir / "work"),
                 url],
                workdir / "worker.log",
                env,
            )
        )  # fmt: skip
        cluster = StandaloneCluster(url, ui_url, workdir)
        deadline = time.monotonic() + timeout
        while True:
            for proc, name in zip(procs, ("master", "worker"), strict=True):
                if proc.poll() is not None:
                    log = (workdir / f"{name}.log").read_text(errors="replace")[-2000:]
                    raise ClusterError(f"the Spark {name} exited with {proc.returncode}:\n{log}")
            try:
                if any(w.get("state") == "ALIVE" for w in cluster.workers()):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise ClusterError(f"no Spark worker registered with {url} within {timeout:.0f} s")
            time.sleep(0.5)
        yield cluster
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
