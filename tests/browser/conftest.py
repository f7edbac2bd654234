"""Browser tests: Debian's Chromium (``/usr/bin/chromium``), headless, driven by Playwright, against a real
``biller-server serve`` on a loopback port, with every request that would leave the host refused.

Reusable by any test that needs a page: ``server`` (a live server on this test's own SQLite file, development
settings, the sample bills loaded), ``page`` (an offline page: ``page.outside_requests`` lists what it tried to
fetch from elsewhere, which tests assert is empty) and ``screenshot(page, name)``.

Nothing downloads a browser (never ``playwright install``): the system's Chromium is driven through the driver the
Playwright wheel carries. Outside CI the tests skip, saying why, when Chromium is missing; under ``CI=true`` that
is a failure (``.ci/run`` installs it).

Screenshots go to pytest's temporary directory; set ``BILLER_SCREENSHOT_DIR`` (e.g. ``docs/images``) to keep them
there too: ``BILLER_SCREENSHOT_DIR=docs/images .venv/bin/pytest tests/browser`` refreshes the README's pictures.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.reliability.live import BIN, LiveServer

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("BILLER_TEST_CHROMIUM", "/usr/bin/chromium"))
SAMPLE_BILLS = ROOT / "docs" / "samples" / "bills.csv"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})

# Chromium's own traffic (updates, sync, field trials, safe browsing, QUIC probes) off; the sandbox needs a
# non-root user, which CI is not. DNS answers nothing but loopback, as a second wall behind the request routing.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        message = f"Chromium is not installed at {CHROMIUM} (Debian: apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(message + "; .ci/run installs it")
        pytest.skip(message + ": browser tests skipped")
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(chromium_path: Path) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), headless=True, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def is_loopback(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return parts.scheme in ("http", "https", "ws", "wss") and (parts.hostname or "") in LOOPBACK_HOSTS


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    """A fresh page whose requests to anywhere but this host are aborted and listed in ``page.outside_requests``."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")  # type: ignore[attr-defined]
    outside: list[str] = []

    def route(route: object) -> None:
        url = route.request.url  # type: ignore[attr-defined]
        if is_loopback(url):
            route.continue_()  # type: ignore[attr-defined]
        else:
            outside.append(url)
            route.abort("internetdisconnected")  # type: ignore[attr-defined]

    context.route("**/*", route)
    page = context.new_page()
    page.outside_requests = outside  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def screenshot(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``screenshot(page, "name")``: a PNG in the run's temporary directory, and in $BILLER_SCREENSHOT_DIR if set
    (``BILLER_SCREENSHOT_DIR=docs/images``: the README's picture, and the console's under docs/images/console/)."""
    directory = tmp_path_factory.mktemp("screenshots")

    def take(page: object, name: str, **options: object) -> Path:
        path = directory / f"{name}.png"  # a name may hold a folder: "console/today"
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), **options)  # type: ignore[attr-defined]
        keep = os.environ.get("BILLER_SCREENSHOT_DIR")
        if keep:
            target = ((ROOT / keep) if not Path(keep).is_absolute() else Path(keep)) / f"{name}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
        return path

    return take


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``biller-server serve`` (one gunicorn worker, its confirmation worker, the fake confirmer) as a newcomer runs
    it: development settings with the development keys, on a SQLite file holding docs/samples/bills.csv. One per
    test module (starting one takes seconds); its tests share its books."""
    tmp_path = tmp_path_factory.mktemp("server")
    env = {
        "BILLER_ENV": "development",
        "BILLER_KALEIDOFIN_API_KEY": "",  # unset: the development key (dev-kaleidofin-key) is in force
        "BILLER_DIGILEDGE_API_KEY": "",
        "BILLER_INSTANCE_DIR": str(tmp_path / "instance"),
    }
    live = LiveServer(f"sqlite:///{tmp_path / 'biller.sqlite3'}", tmp_path / "serve.log", workers=1, env=env)
    live.start()  # serve applies the migrations; the bills are uploaded beside it, as in the README's quick start
    try:
        upload = subprocess.run(
            [str(BIN), "bills", "upload", str(SAMPLE_BILLS)], env=live.env, capture_output=True, text=True, check=False
        )
        assert upload.returncode == 0, upload.stdout + upload.stderr
        yield live
    finally:
        live.stop()


def run_commands(live: LiveServer, commands: list[tuple[list[str], str | None]]) -> None:
    """Run ``biller-server`` commands beside a live server (its settings), each with what it reads on stdin."""
    for command, stdin in commands:
        done = subprocess.run(
            [str(BIN), *command], env=live.env, input=stdin, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
