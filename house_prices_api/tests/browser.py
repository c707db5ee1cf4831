"""Headless Chromium for the browser tests: Debian's ``chromium`` and ``chromium-driver``.

Selenium drives the system browser through the system chromedriver (no
driver download), with a fresh profile per test and every background
service that would phone home switched off. The performance log records
each request the page makes, so a test can prove that none left loopback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,1600",
)
NETWORK_SCHEMES = {"http", "https", "ws", "wss", "ftp"}


@contextmanager
def chromium(profile: Path, window: str | None = None) -> Iterator[webdriver.Chrome]:
    """A headless Chromium with a fresh profile in ``profile``, quit on exit."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    if window is not None:
        options.add_argument(f"--window-size={window}")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def requested_urls(driver: webdriver.Chrome) -> list[str]:
    """Every URL the browser sent a request for since the last call.

    From the performance log; a request the browser blocked itself (by the
    page's Content-Security-Policy) never reached the network and is left out.
    """
    sent: dict[str, str] = {}
    blocked: set[str] = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            sent[params["requestId"]] = params["request"]["url"]
        elif message["method"] == "Network.loadingFailed" and params.get("blockedReason"):
            blocked.add(params["requestId"])
    return [url for request_id, url in sent.items() if request_id not in blocked]


def off_loopback(urls: list[str]) -> list[str]:
    """The network URLs that went anywhere but 127.0.0.1.

    The browser's own pages (``chrome:``, ``data:``, ``blob:``) use no network.
    """
    return [
        url
        for url in urls
        if urlsplit(url).scheme in NETWORK_SCHEMES
        and urlsplit(url).hostname != "127.0.0.1"
    ]
