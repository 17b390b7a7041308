"""A published build seen through a real browser: headless Chromium, driven by Selenium.

The system's Chromium and its matching chromedriver (Debian's `chromium` and
`chromium-driver` packages) are used as installed: nothing is downloaded at run time. Pages
are served over HTTP from the published folder alone (`serve`), so a link that only works
beside `results/`, or anywhere outside the folder, fails as it would for a reader; requests
to other hosts (a notebook page's MathJax from a CDN) are refused by the browser at once
instead of waiting on the network.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urldefrag, urljoin

from dctkd.files import atomic_path

CHROMIUM = os.environ.get("DCTKD_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("DCTKD_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
WINDOW = (1280, 1400)  # the screenshot's size in CSS pixels
# fetch() in the page: status and size of a linked file, through the browser's own network.
_FETCH = ("const done = arguments[arguments.length - 1];"
          "fetch(arguments[0]).then(r => r.arrayBuffer().then(b => done([r.status, b.byteLength])))"
          ".catch(e => done([0, String(e)]));")
_BROKEN_IMAGES = ("return Array.from(document.images).filter(i => !(i.complete && "
                  "i.naturalWidth > 0)).map(i => i.getAttribute('src').slice(0, 80));")


def missing_browser() -> str | None:
    """Why the browser cannot run here (None when it can): Chromium, chromedriver, Selenium."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return f"no {path} (apt-get install -y {package})"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "no selenium (pip install -e '.[dev]')"
    return None


@contextlib.contextmanager
def chromium() -> Iterator:
    """A headless Chromium with a fresh profile, closed (and its profile removed) at exit."""
    reason = missing_browser()
    if reason:
        raise FileNotFoundError(f"cannot start the browser: {reason}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="dctkd-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        driver.set_page_load_timeout(60)
        driver.set_script_timeout(30)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # the test's output is the problems, not the hits
        pass


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    """`folder` over HTTP on 127.0.0.1 (a free port), for the duration; yields its base URL."""
    handler = functools.partial(_Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _open(driver, url: str, timeout: float = 30.0) -> None:
    """Load `url` and wait until its document, images included, has loaded: `get` may
    return while a busy machine is still parsing the page."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, timeout).until(lambda d: d.execute_script(
        "return document.readyState") == "complete" and d.current_url == url)


def screenshot(folder: Path, page: str, target: Path) -> Path:
    """A PNG of `page` (relative to `folder`) as a reader first sees it, written to `target`."""
    with serve(folder) as base, chromium() as driver:
        _open(driver, urljoin(base, page))
        png = driver.get_screenshot_as_png()
    with atomic_path(target) as tmp:
        tmp.write_bytes(png)
    return target


def check_site(folder: Path, start: str = "index.html", pages: tuple[str, ...] = ()
               ) -> list[str]:
    """Problems a reader of `folder` would meet, one line each ([] when none): `start` and
    every page it links to are opened in the browser and every image on them must load;
    every other file it links to must be fetched (HTTP 200, not empty); no link may leave
    the folder or point into `results/`. `pages` (relative paths) are opened as well."""
    problems: list[str] = []
    with serve(folder) as base, chromium() as driver:
        _open(driver, urljoin(base, start))
        links = driver.execute_script(
            "return [...document.querySelectorAll('a[href]')].map(a => "
            "[a.getAttribute('href'), a.href]).concat([...document.images].map(i => "
            "[i.getAttribute('src'), i.src]));")
        problems += [f"{start}: image {src} does not load"
                     for src in driver.execute_script(_BROKEN_IMAGES)]
        visit = {urljoin(base, p) for p in pages}
        for raw, url in links:
            url = urldefrag(url).url
            if "results/" in raw or not url.startswith(base):
                problems.append(f"{start}: link {raw} leaves the published folder")
            elif url.endswith(".html"):
                visit.add(url)
            elif url != urljoin(base, start):
                status, size = driver.execute_async_script(_FETCH, url)
                if status != 200 or not size:
                    problems.append(f"{start}: link {raw} gives HTTP {status} ({size})")
        for url in sorted(visit):
            name = url.removeprefix(base)
            status, size = driver.execute_async_script(_FETCH, url)
            if status != 200:
                problems.append(f"{start}: page {name} gives HTTP {status} ({size})")
                continue
            _open(driver, url)
            if not driver.title:
                problems.append(f"{name}: the page has no title (not rendered)")
            problems += [f"{name}: image {src} does not load"
                         for src in driver.execute_script(_BROKEN_IMAGES)]
    return problems


__all__ = ["CHROMEDRIVER", "CHROMIUM", "check_site", "chromium", "missing_browser", "screenshot",
           "serve"]
