"""The real-browser harness itself, on small hand-written pages in tmp_path."""

from __future__ import annotations

import base64
import io
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser

# The fixture `browser` (until tests/conftest.py lists tests.browser in pytest_plugins).
from tests.browser import chromium_executable, open_page


def write_page(folder: Path, body: str, *, head: str = "", name: str = "page.html") -> Path:
    path = folder / name
    path.write_text(
        f'<!doctype html><html><head><meta charset="utf-8">{head}</head><body>{body}</body></html>'
    )
    return path


def png_data_uri(width: int, height: int) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@dataclass
class Listener:
    """A TCP port on 127.0.0.1 that records every connection made to it."""

    port: int
    connections: list[str] = field(default_factory=list)


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.05)
    recorded = Listener(server.getsockname()[1])
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, peer = server.accept()
            except TimeoutError:
                continue
            connection.close()  # answer nothing: a client that got through fails fast
            recorded.connections.append(f"{peer[0]}:{peer[1]}")

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield recorded
    stop.set()
    thread.join()
    server.close()


def test_clean_page_passes(browser: Browser, tmp_path: Path) -> None:
    # given a self-contained page: a summary and a figure drawn as inline SVG
    path = write_page(
        tmp_path,
        '<h1>Report</h1><p id="summary">3 features explain 90% of the output.</p>'
        '<figure><svg width="300" height="200"><rect width="300" height="200" fill="teal"/>'
        "</svg><figcaption>Mean |SHAP|</figcaption></figure>",
    )
    shots = tmp_path / "shots"

    # when Chromium opens it
    with open_page(browser, path, screenshot_dir=shots) as page:
        sizes = page.element_sizes("figure svg, figure img")
        summary = page.text("#summary")

    # then it logs nothing, asks for nothing, renders, and its figure has the size drawn
    assert page.console_errors == [], f"a clean page logs nothing: {page.console_errors}"
    assert page.requests == [], f"a clean page makes no requests: {page.requests}"
    assert page.screenshot == shots / "page.screenshot.png", f"screenshot at {page.screenshot}"
    assert page.screenshot.is_file(), "the screenshot is written"
    assert not page.is_blank(), "a page with a heading and a figure is not blank"
    assert sizes == [(300.0, 200.0)], f"the SVG is 300x200 as drawn: {sizes}"
    assert summary == "3 features explain 90% of the output.", f"summary text: {summary!r}"


def test_console_errors_and_warnings_are_reported(browser: Browser, tmp_path: Path) -> None:
    # given a page that logs an error, a warning and an ordinary message
    path = write_page(
        tmp_path,
        "<p>x</p><script>console.error('boom'); console.warn('careful'); console.log('fine');"
        "</script>",
    )

    # when Chromium opens it
    with open_page(browser, path) as page:
        errors = list(page.console_errors)

    # then the error and the warning are reported, the ordinary message is not
    assert len(errors) == 2, f"one error and one warning: {errors}"
    assert errors[0].startswith("console.error: boom"), f"the error first: {errors}"
    assert errors[1].startswith("console.warning: careful"), f"then the warning: {errors}"


def test_thrown_error_is_reported(browser: Browser, tmp_path: Path) -> None:
    # given a page whose script throws
    path = write_page(tmp_path, "<p>x</p><script>throw new TypeError('no data');</script>")

    # when Chromium opens it
    with open_page(browser, path) as page:
        errors = list(page.console_errors)

    # then the uncaught exception is in console_errors
    assert errors == ["pageerror: TypeError: no data"], f"the uncaught exception: {errors}"


def test_remote_resources_are_reported(browser: Browser, tmp_path: Path) -> None:
    # given a page that loads an image from a CDN and a web font stylesheet
    image = "https://example.com/x.png"
    font = "https://fonts.googleapis.com/css2?family=Roboto"
    path = write_page(
        tmp_path, f'<p>x</p><img src="{image}">', head=f'<link rel="stylesheet" href="{font}">'
    )

    # when Chromium opens it
    with open_page(browser, path) as page:
        loaded = page.page.evaluate("document.querySelector('img').naturalWidth")

    # then both requests are reported, and the image never arrived (it was blocked)
    assert sorted(page.requests) == sorted([image, font]), f"both requests: {page.requests}"
    assert loaded == 0, "the blocked image has no pixels"


def test_remote_requests_are_blocked(browser: Browser, tmp_path: Path, listener: Listener) -> None:
    # given a page that tries every way out to a real server on 127.0.0.1: an image, fetch,
    # a WebSocket (which page.route alone never sees) and a preconnect
    origin = f"127.0.0.1:{listener.port}"
    path = write_page(
        tmp_path,
        f"""<p>x</p><script>
        window.settled = 0;
        const settle = () => {{ window.settled += 1; }};
        const image = new Image(); image.onerror = settle; image.onload = settle;
        image.src = "http://{origin}/x.png";
        fetch("http://{origin}/data.json").then(settle, settle);
        const socket = new WebSocket("ws://{origin}/live"); socket.onclose = settle;
        </script>""",
        head=f'<link rel="preconnect" href="http://{origin}">',
    )

    # when Chromium opens it and every attempt has ended
    with open_page(browser, path) as page:
        page.page.wait_for_function("window.settled === 3")
        requests = sorted(page.requests)

    # then none reached the server, and all three are reported
    expected = sorted(
        [f"http://{origin}/x.png", f"http://{origin}/data.json", f"ws://{origin}/live"]
    )
    assert listener.connections == [], f"nothing connects: {listener.connections}"
    assert requests == expected, f"the three attempts are reported: {requests}"


def test_local_sibling_file_is_a_request(browser: Browser, tmp_path: Path) -> None:
    # given a page whose figure is a separate file next to it (so the page is not self-contained)
    Image.new("RGB", (20, 10), (0, 0, 0)).save(tmp_path / "figure.png")
    path = write_page(tmp_path, '<img src="figure.png">')

    # when Chromium opens it
    with open_page(browser, path) as page:
        sizes = page.element_sizes("img")

    # then the file is reported as a request, and (being local) it still loads
    assert page.requests == [(tmp_path / "figure.png").as_uri()], f"requests: {page.requests}"
    assert sizes == [(20.0, 10.0)], f"the local image loads: {sizes}"


def test_blank_page_is_blank(browser: Browser, tmp_path: Path) -> None:
    # given an empty white page
    path = write_page(tmp_path, "")

    # when Chromium opens it
    with open_page(browser, path) as page:
        pass

    # then its screenshot is blank
    assert page.is_blank(), "an empty page is blank"


def test_inline_svg_and_data_image_are_not_requests(browser: Browser, tmp_path: Path) -> None:
    # given a figure as inline SVG and one as a base64 PNG data: URI
    path = write_page(
        tmp_path,
        '<figure><svg width="120" height="80"><circle cx="40" cy="40" r="30"/></svg></figure>'
        f'<figure><img src="{png_data_uri(40, 30)}"></figure>',
    )

    # when Chromium opens it
    with open_page(browser, path) as page:
        sizes = page.element_sizes("figure svg, figure img")

    # then neither counts as a request, and both render at their size
    assert page.requests == [], f"inline and data: figures make no requests: {page.requests}"
    assert page.console_errors == [], f"nothing logged: {page.console_errors}"
    assert sizes == [(120.0, 80.0), (40.0, 30.0)], f"both figures render: {sizes}"


def test_queries_need_the_open_page(browser: Browser, tmp_path: Path) -> None:
    # given a page that was opened and closed again
    path = write_page(tmp_path, '<p id="summary">x</p>')
    with open_page(browser, path) as page:
        pass

    # when it is queried after the block, or for an element it lacks
    # then the error says why
    with pytest.raises(RuntimeError, match="inside `with open_page"):
        page.text("#summary")
    with open_page(browser, path) as page, pytest.raises(LookupError, match="#missing"):
        page.text("#missing")


@pytest.mark.parametrize(
    ("ci", "hint"), [("1", ".ci/run installs it"), (None, "apt-get install chromium")]
)
def test_missing_chromium_fails(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ci: str | None, hint: str
) -> None:
    # given no EXPLAINOPS_CHROMIUM and a PATH without any Chromium, in CI or not
    monkeypatch.delenv("EXPLAINOPS_CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)

    # when the harness looks for Chromium
    # then the test fails (never skips) with how to install it
    with pytest.raises(pytest.fail.Exception, match=hint):
        chromium_executable()


def test_configured_chromium_must_exist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # given EXPLAINOPS_CHROMIUM naming a file that does not exist
    monkeypatch.setenv("EXPLAINOPS_CHROMIUM", str(tmp_path / "chromium"))

    # when the harness looks for Chromium
    # then it fails, naming the variable
    with pytest.raises(pytest.fail.Exception, match="EXPLAINOPS_CHROMIUM="):
        chromium_executable()
