"""A real headless Chromium for tests of HTML reports: Debian's ``chromium``, never a download.

The ``browser`` fixture launches one Chromium per session (playwright drives it through
``executable_path``, so playwright never fetches a browser of its own); ``open_page`` opens one
file in a fresh context and records what a self-contained, offline report must not do: console
errors and warnings, uncaught exceptions, and requests for anything but the file itself. Every
request that is not for a local file is blocked, WebSockets included, so no test reaches the
network.

    from tests.browser import open_page  # and the fixture, in tests/conftest.py's pytest_plugins

    def test_report_renders(browser: Browser, tmp_path: Path) -> None:
        with open_page(browser, tmp_path / "report.html") as page:
            sizes = page.element_sizes("figure svg, figure img")
            title = page.text("h1")
        assert page.console_errors == [], f"the report logs errors: {page.console_errors}"
        assert page.requests == [], f"the report is not self-contained: {page.requests}"
        assert not page.is_blank(), f"nothing drawn: {page.screenshot}"
        assert sizes and all(w > 0 and h > 0 for w, h in sizes), f"an empty figure: {sizes}"
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote

import pytest
from PIL import Image
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Request,
    Route,
    WebSocketRoute,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError

# As few flags as Chromium needs in a container; playwright adds its own automation defaults
# (no background networking, no component updates, no first-run UI).
CHROMIUM_FLAGS = (
    "--no-sandbox",  # CI runs as root, and Chromium refuses to start sandboxed as root
    "--disable-gpu",  # no GPU on CI machines: software rendering, no GPU process errors
    "--disable-dev-shm-usage",  # containers' /dev/shm is 64 MB: shared memory goes to /tmp
)
# Schemes that never leave the machine: the report file and its siblings, and in-memory data.
_LOCAL_SCHEMES = ("file:", "data:", "blob:")
# A page that hangs fails in seconds, not after playwright's default of 30.
_TIMEOUT_MS = 10_000

_INSTALL_HINT = "install it with `sudo apt-get install chromium` or set EXPLAINOPS_CHROMIUM"


def chromium_executable() -> str:
    """The Chromium to drive: ``EXPLAINOPS_CHROMIUM``, else ``chromium`` or ``chromium-browser``.

    A missing browser fails the test (it never skips): a report nobody opened is not a pass.
    """
    configured = os.environ.get("EXPLAINOPS_CHROMIUM")
    if configured:
        if not Path(configured).is_file():
            pytest.fail(f"EXPLAINOPS_CHROMIUM={configured} is not a file; {_INSTALL_HINT}")
        return configured
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail(
            "Chromium not found on PATH in CI: .ci/run installs it (apt-get install chromium)"
        )
    pytest.fail(f"Chromium not found on PATH (needed by the HTML report tests); {_INSTALL_HINT}")


# Named by `name=`, so a test module can import it without its `browser` argument shadowing it.
@pytest.fixture(scope="session", name="browser")
def chromium_browser() -> Iterator[Browser]:
    """One headless system Chromium for the session; each ``open_page`` gets a fresh context."""
    executable = chromium_executable()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@dataclass
class PageCheck:
    """What Chromium saw while opening ``path``; ``page`` stays open inside ``with open_page``.

    ``console_errors`` holds console errors and warnings and uncaught exceptions; ``requests``
    every URL the page asked for besides itself (other files, http(s), WebSockets), ``data:``
    and ``blob:`` URLs aside. Both keep growing while the page is open.
    """

    path: Path
    page: Page
    screenshot: Path
    console_errors: list[str]
    requests: list[str]

    def element_sizes(self, selector: str) -> list[tuple[float, float]]:
        """The (width, height) in CSS pixels of every element matching ``selector``, in order."""
        sizes = self._live_page().eval_on_selector_all(
            selector,
            """elements => elements.map(element => {
                const box = element.getBoundingClientRect();
                return [box.width, box.height];
            })""",
        )
        return [(float(width), float(height)) for width, height in sizes]

    def text(self, selector: str) -> str:
        """The rendered text (``innerText``) of the elements matching ``selector``, one a line."""
        texts = self._live_page().locator(selector).all_inner_texts()
        if not texts:
            raise LookupError(f"no element matches {selector!r} in {self.path}")
        return "\n".join(texts)

    def is_blank(self, *, max_content_fraction: float = 1e-4) -> bool:
        """Whether the screenshot is one colour but for under ``max_content_fraction`` of pixels.

        The default lets a single heading count as content (about 300 pixels of a 1280x800
        page, 0.03%), while a page that rendered nothing is exactly one colour.
        """
        with Image.open(self.screenshot) as image:
            rgb = image.convert("RGB")
        pixels = rgb.width * rgb.height
        colours = rgb.getcolors(maxcolors=pixels) or []
        dominant = max(count for count, _ in colours)
        return (pixels - dominant) / pixels < max_content_fraction

    def _live_page(self) -> Page:
        if self.page.is_closed():
            raise RuntimeError(
                f"the page of {self.path} is closed: query it inside `with open_page(...)`"
            )
        return self.page


@contextmanager
def open_page(
    browser: Browser,
    path: Path,
    *,
    viewport: tuple[int, int] = (1280, 800),
    screenshot_dir: Path | None = None,
    wait_until: Literal["load", "networkidle"] = "load",
) -> Iterator[PageCheck]:
    """Open the HTML file ``path`` in a fresh context with JavaScript on, and check it.

    Waits for ``wait_until`` (``"networkidle"`` adds half a second, for pages that keep working
    after load), then writes a full-page PNG to ``<screenshot_dir or path's folder>/<stem>
    .screenshot.png``. Requests other than for local files are aborted, never sent.
    """
    if not path.is_file():
        raise FileNotFoundError(f"no HTML file to open at {path}")
    page_url = unquote(path.resolve().as_uri())
    console_errors: list[str] = []
    requests: list[str] = []

    def record_request(request: Request) -> None:
        url = request.url
        if not url.startswith(("data:", "blob:")) and unquote(url) != page_url:
            requests.append(url)

    def record_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            where = message.location.get("url")
            line = message.location.get("lineNumber")
            suffix = f" ({where}:{line})" if where else ""
            console_errors.append(f"console.{message.type}: {message.text}{suffix}")

    def record_page_error(error: PlaywrightError) -> None:
        kind = f"{error.name}: " if error.name else ""
        console_errors.append(f"pageerror: {kind}{error.message}")

    def block_remote(route: Route) -> None:
        if route.request.url.startswith(_LOCAL_SCHEMES):
            route.continue_()
        else:
            route.abort("blockedbyclient")

    def block_websocket(websocket: WebSocketRoute) -> None:
        # page.route never sees WebSockets: without this handler they would really connect.
        requests.append(websocket.url)
        websocket.close()

    width, height = viewport
    context = browser.new_context(
        viewport={"width": width, "height": height}, java_script_enabled=True
    )
    try:
        context.set_default_timeout(_TIMEOUT_MS)
        # On the context, not the page: requests of workers and frames are seen and blocked too.
        context.on("request", record_request)
        context.route("**/*", block_remote)
        context.route_web_socket("**/*", block_websocket)
        page = context.new_page()
        page.on("console", record_console)
        page.on("pageerror", record_page_error)
        page.goto(path.resolve().as_uri(), wait_until=wait_until)
        # Two animation frames: whatever the page's scripts drew on load is painted.
        page.evaluate(
            "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )
        folder = screenshot_dir or path.parent
        folder.mkdir(parents=True, exist_ok=True)
        screenshot = folder / f"{path.stem}.screenshot.png"
        page.screenshot(path=screenshot, full_page=True)
        yield PageCheck(path, page, screenshot, console_errors, requests)
    finally:
        context.close()
