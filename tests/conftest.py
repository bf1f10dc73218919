"""Shared fixtures: isolated settings, fresh workspaces, and one Spark session per test run."""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cxlens.cli.common import state
from cxlens.config import get_settings
from cxlens.storage.workspace import Workspace


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Every test gets default settings and a data directory of its own."""
    for key in list(os.environ):
        if key.startswith("CXLENS_") and not key.startswith("CXLENS_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CXLENS_DATA_DIR", str(tmp_path / "cxlens-data"))
    get_settings.cache_clear()
    # the CLI's global options live in a module-level object: reset them between tests
    state.data_dir = None
    state.journey_map = None
    yield
    get_settings.cache_clear()


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    """An empty workspace in a temporary directory."""
    ws = Workspace(tmp_path / "ws")
    yield ws
    ws.close()


@pytest.fixture(scope="session")
def spark_master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Spark master the tests run on: a standalone master and worker on 127.0.0.1 started
    from the pyspark wheel for the whole run (``CXLENS_TEST_SPARK_MASTER=local[2]`` skips it)."""
    chosen = os.environ.get("CXLENS_TEST_SPARK_MASTER")
    if chosen:
        yield chosen
        return
    from cxlens.testing.spark_cluster import standalone_cluster

    # The worker offers more than this session takes (2 cores, 2 GB), so a `cxlens ... --engine
    # spark` process started by a test gets an application of its own on the same cluster.
    with standalone_cluster(tmp_path_factory.mktemp("spark-cluster"), cores=4, memory="4g") as cluster:
        yield cluster.url


@pytest.fixture(scope="session")
def spark_session(spark_master: str) -> Iterator[Any]:
    """One Spark session for the whole run, on the test cluster (starting one takes seconds)."""
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master(spark_master)
        .appName("cxlens-tests")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.executor.memory", "2g")
        .config("spark.cores.max", "2")
        .config("spark.driver.memory", "1g")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ops(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """An empty operational store: SQLite in a temp dir, or a fresh database on the PostgreSQL
    test server (``CXLENS_TEST_POSTGRES_URL``; under CI=true a missing server is an error)."""
    from cxlens.ops import OpsStore
    from cxlens.ops.testing import fresh_database, postgres_server_url

    if request.param == "sqlite":
        store = OpsStore(data_dir=tmp_path)
        yield store
        store.close()
        return
    server = postgres_server_url()
    if server is None:
        pytest.skip("CXLENS_TEST_POSTGRES_URL is not set (make test starts a server)")
    with fresh_database(server) as url:
        store = OpsStore(url)
        yield store
        store.close()


# -- independent references for the statistics -----------------------------------------------------


def score_interval_reference(
    k_a: int, n_a: int, k_b: int, n_b: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Mee's score interval for a difference of shares, by brute force with scipy: the restricted
    maximum-likelihood shares by numerical optimisation and the ends by root finding. Independent of
    the closed-form cubic in cxlens.analyse.stats (shares strictly inside 0-1 only)."""
    import numpy as np
    from scipy import optimize
    from scipy import stats as sps

    pa, pb = k_a / n_a, k_b / n_b
    z = sps.norm.ppf(0.5 + confidence / 2)

    def stat(delta: float) -> float:
        def nll(share_b: float) -> float:
            share_a = share_b + delta
            return -(
                k_a * np.log(share_a)
                + (n_a - k_a) * np.log1p(-share_a)
                + k_b * np.log(share_b)
                + (n_b - k_b) * np.log1p(-share_b)
            )

        lo, hi = max(0.0, -delta) + 1e-12, min(1.0, 1.0 - delta) - 1e-12
        sb = optimize.minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-13}).x
        sa = sb + delta
        return float((pa - pb - delta) / np.sqrt(sa * (1 - sa) / n_a + sb * (1 - sb) / n_b))

    d = pa - pb
    low = optimize.brentq(lambda x: stat(x) - z, -1 + 1e-9, d, xtol=1e-12)
    high = optimize.brentq(lambda x: stat(x) + z, d, 1 - 1e-9, xtol=1e-12)
    return low, high


# -- local delivery endpoints: an SMTP server and a webhook receiver --------------------------


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd hook
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    """A local SMTP server (aiosmtpd) that the SMTP settings point at."""
    from aiosmtpd.controller import Controller

    inbox = Inbox(free_port())
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    monkeypatch.setenv("CXLENS_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CXLENS_SMTP_PORT", str(inbox.port))
    yield inbox
    controller.stop()


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local webhook receiver: its URL and the JSON bodies it received."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


# -- a headless Chromium page (Debian's chromium driven by Playwright) ------------------------

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def page() -> Iterator[Any]:
    """A Chromium page that records console errors and page errors in ``page.errors``."""
    from playwright.sync_api import sync_playwright

    from cxlens.report.builder import CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        pytest.fail(f"browser tests need Debian's chromium at {CHROMIUM}")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pg = browser.new_page(viewport={"width": 1280, "height": 900})
        pg.errors = []  # type: ignore[attr-defined]
        pg.on("console", lambda m: m.type == "error" and pg.errors.append(m.text))  # type: ignore[attr-defined]
        pg.on("pageerror", lambda e: pg.errors.append(str(e)))  # type: ignore[attr-defined]
        yield pg
        browser.close()


# -- the demo retailer, loaded into a fresh workspace ------------------------------------------

DemoStore = Callable[..., Workspace]


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> DemoStore:
    """``demo_store(root, customers=N, seed=S)``: a new workspace at ``root`` with the demo
    retailer loaded through the validated ingest. The files are generated once per size and seed
    per test run (generation is deterministic), so modules asking for the same demo share them."""
    from cxlens.demo import generate
    from cxlens.model.schema import TABLE_ORDER

    files: dict[tuple[int, int], Path] = {}

    def load(root: Path, *, customers: int, seed: int) -> Workspace:
        if (customers, seed) not in files:
            out = tmp_path_factory.mktemp(f"demo-{customers}-{seed}")
            generate(out, customers=customers, seed=seed)
            files[(customers, seed)] = out
        ws = Workspace(root)
        for table in TABLE_ORDER:
            ws.ingest(table, files[(customers, seed)] / table)
        return ws

    return load


ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def browser_login(page: Any, url: str, username: str, password: str, target: str = "/app") -> None:
    """Open ``target``, which sends to the login form, sign in and land back on ``target``."""
    page.goto(f"{url}{target}")
    assert "/login" in page.url
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}{target}")


def wait_for_charts(page: Any, count: int) -> int:
    """Wait until plotly has drawn ``count`` charts (else fail with the page's errors); the number
    drawn. Locators only: the pages' Content-Security-Policy forbids the eval that
    ``wait_for_function`` polls with."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.locator(".plot.js-plotly-plot .main-svg").nth(count - 1).wait_for(
            state="attached", timeout=30_000
        )
    except PlaywrightTimeout:
        pytest.fail(f"{page.url}: fewer than {count} charts drawn; errors: {page.errors}")
    return int(page.locator(".plot.js-plotly-plot").count())


def screenshot(page: Any, name: str) -> None:
    """A full-page screenshot at test-artifacts/web-<name>.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"web-{name}.png"), full_page=True)
