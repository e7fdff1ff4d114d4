"""Headless Chromium driven as a person uses a page: type into a form, press its button, read what shows.

Over Chromium's own DevTools protocol (a WebSocket; `websockets` comes with uvicorn[standard], which
dagster-webserver installs), so the browser does the real things: it sends the form, follows the
redirect, keeps the cookie and sets the Origin header itself."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from websockets.sync.client import connect

START_SECONDS = 30
# A browser with no window that calls nowhere but the pages it is sent to.
HEADLESS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
)


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    def __init__(self) -> None:
        self.profile = tempfile.TemporaryDirectory(prefix="qb-chromium-")
        self.process = subprocess.Popen(
            [
                chromium(),
                *HEADLESS,
                f"--user-data-dir={self.profile.name}",
                "--remote-debugging-port=0",
                "--window-size=1440,1000",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        port_file = Path(self.profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + START_SECONDS
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.close()
                raise RuntimeError("Chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
            targets = json.load(answer)
        page = next(t for t in targets if t["type"] == "page")
        self.connection = contextlib.ExitStack()
        self.socket = self.connection.enter_context(connect(page["webSocketDebuggerUrl"], max_size=None))
        self.ids = itertools.count(1)

    def call(self, method: str, **params) -> dict:
        number = next(self.ids)
        self.socket.send(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=60))
            if message.get("id") == number:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str) -> None:
        self._loading(lambda: self.call("Page.navigate", url=url))

    def fill(self, selector: str, value: str) -> None:
        self.evaluate(f"document.querySelector({json.dumps(selector)}).value = {json.dumps(value)}")

    def press(self, selector: str) -> None:
        """Click a button that sends its form, and wait for the page that answers."""
        self._loading(lambda: self.evaluate(f"document.querySelector({json.dumps(selector)}).click()"))

    def text(self) -> str:
        return self.evaluate("document.body.innerText")

    @property
    def url(self) -> str:
        return self.evaluate("location.href")

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))

    def _loading(self, start) -> None:
        """Mark the page, start the navigation, then wait until a new, complete page stands there."""
        self.evaluate("window.__old_page = true")
        start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.evaluate("window.__old_page === undefined && document.readyState === 'complete'"):
                    return
            except RuntimeError as error:  # the old page's context went away mid-call
                if not re.search(r"context|navigat", str(error), re.I):
                    raise
            time.sleep(0.1)
        raise TimeoutError("the page did not load within 30 s")

    def close(self) -> None:
        if getattr(self, "connection", None) is not None:
            self.connection.close()
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.profile.cleanup()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()
