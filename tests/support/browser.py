"""A real headless browser for the system tests: Debian's chromium driven through its
chromedriver by Selenium, both from /usr/bin (so Selenium Manager downloads nothing), with
the flags that work on this machine and a fresh profile each time."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
#: Headless, with nothing of its own on the network (test_flower_browser.py's too).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
T = TypeVar("T")

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="chromium and chromium-driver are not installed (Debian: apt-get install "
    "chromium chromium-driver)",
)


@contextlib.contextmanager
def chromium(profile: Path) -> Iterator[WebDriver]:
    """A headless chromium with a fresh profile in ``profile``, its console log kept;
    quit (browser and driver) after."""
    assert CHROMIUM is not None and CHROMEDRIVER is not None
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, "--window-size=1280,1000", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(CHROMEDRIVER, log_output=str(profile.parent / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(20)
    driver.set_script_timeout(10)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver: WebDriver, what: str, check: Callable[[WebDriver], T], timeout: float) -> T:
    """``check``'s first truthy answer, polled every 0.1 s for at most ``timeout`` s; an
    element the page replaced while ``check`` read it is read again at the next poll."""
    waiting = WebDriverWait(
        driver, timeout, poll_frequency=0.1, ignored_exceptions=[StaleElementReferenceException]
    )
    found: T = waiting.until(check, what)
    return found


def text(driver: WebDriver, element_id: str) -> str:
    found: str = driver.find_element(By.ID, element_id).text
    return found


def rows(driver: WebDriver, tbody_id: str) -> dict[str, str]:
    """A table's rows by the job (or batch) id each row carries, with their text, read in
    one script: the page re-renders a table as events arrive, and a row read one call at
    a time could be replaced between two calls."""
    script = (
        "return Array.from(document.querySelectorAll(arguments[0])).map("
        "r => [r.dataset.job || r.dataset.batch || '', r.innerText])"
    )
    found: list[list[str]] = driver.execute_script(script, f"#{tbody_id} tr")
    return {key: row_text for key, row_text in found}


def fetch_status(driver: WebDriver, path: str) -> int:
    """The HTTP status the page's own origin gets for ``GET path`` (with its cookies)."""
    script = (
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {credentials: 'same-origin'}).then(r => done(r.status));"
    )
    status: Any = driver.execute_async_script(script, path)
    return int(status)


def console_errors(driver: WebDriver) -> list[str]:
    """The console's SEVERE entries since the last call."""
    entries: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[no-untyped-call]
    return [e["message"] for e in entries if e["level"] == "SEVERE"]
