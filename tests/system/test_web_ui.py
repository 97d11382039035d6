"""The web page of ``confrec serve`` in a real browser (headless Debian chromium through
chromedriver): it loads under its policy, signs in with a token (then holds only an
HttpOnly cookie), lists the caller's batch, opens it, changes in place as the batch's
outcomes arrive over the event stream, shows the failures with their reasons and Telnyx
codes and the saved recording with its link and labels, and its retry button
re-enqueues the job that is safe to retry. Real serve, worker, simulator (its webhooks
signed and sent to serve) and Redis.

With ``CONFREC_WEB_UI_SCREENSHOT=docs/web-ui.png`` the test also saves the picture
docs/web-ui.md shows."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import httpx
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By

from confrec.worker.local.processes import ManagedProcess
from tests.support.browser import (
    chromium,
    console_errors,
    fetch_status,
    needs_chromium,
    rows,
    text,
    wait_for,
)
from tests.support.recordings import Way, webhook_way
from tests.support.serve import TOKEN_A, WRONG_TOKEN
from tests.support.system import unique, unique_id
from tests.support.waiting import poll

pytestmark = needs_chromium


def shown(driver: WebDriver, element_id: str) -> bool:
    displayed: bool = driver.find_element(By.ID, element_id).is_displayed()
    return displayed


def sign_in(page: WebDriver, token: str) -> None:
    page.find_element(By.ID, "token").send_keys(token + "\n")


def bulk(way: Way, jobs: list[dict[str, Any]]) -> tuple[str, list[str]]:
    response = way.stack.api.send("POST", "/v1/jobs/bulk", body=jobs)
    assert response.status_code == 202, response.text
    accepted = response.json()
    return accepted["batch"], [job["job_id"] for job in accepted["jobs"]]


def test_the_page_follows_a_batch_live_and_retries_what_is_safe(
    redis_proc: ManagedProcess, workdir: Path, tmp_path: Path
) -> None:
    started, rejected, exhausted = unique_id(), unique("ended-"), unique("flaky-4-")
    jobs = [
        {"conference_id": started, "format": "wav", "labels": {"meeting": "4711"}},
        {"conference_id": rejected, "format": "mp3", "labels": {"meeting": "4712"}},
        {"conference_id": exhausted, "format": "wav", "labels": {"meeting": "4713"}},
    ]
    with (
        webhook_way(workdir, redis_proc.extra["url"], workers=0) as way,
        chromium(tmp_path / "profile") as page,
    ):
        batch, (ok_job, rejected_job, exhausted_job) = bulk(way, jobs)
        root = way.stack.serve.extra["root"]
        assert "default-src 'self'" in httpx.get(root + "/").headers["content-security-policy"]

        page.get(root + "/")
        wait_for(page, "the sign-in form", lambda d: shown(d, "sign-in"), 10)
        sign_in(page, WRONG_TOKEN)
        wait_for(page, "the refusal", lambda d: text(d, "sign-in-error"), 10)
        assert shown(page, "sign-in") and not shown(page, "batches")
        sign_in(page, TOKEN_A)
        listed = wait_for(page, "the batch listed", lambda d: rows(d, "batch-rows").get(batch), 10)
        assert listed and "0/3" in listed
        assert page.execute_script("return document.cookie") == ""  # HttpOnly: not for scripts

        page.find_element(By.CSS_SELECTOR, f'#batch-rows tr[data-batch="{batch}"] a').click()
        wait_for(page, "the stream ready", lambda d: text(d, "live") == "live", 10)
        assert text(page, "progress-text") == "0 of 3 finished"
        assert text(page, "count-queued") == "3"
        page.execute_script("window.confrecMarker = 'same page'")

        way.stack.system.start_worker(f"ui-{uuid.uuid4().hex[:6]}", concurrency=4)
        wait_for(page, "every outcome", lambda d: "3 of 3" in text(d, "progress-text"), 20)
        assert page.execute_script("return window.confrecMarker") == "same page"
        assert (text(page, "count-succeeded"), text(page, "count-failed")) == ("1", "2")
        live = page.find_elements(By.CSS_SELECTOR, "#events li.outcome")
        assert len(live) == 3  # each outcome arrived as an event

        failures = wait_for(page, "both failures", lambda d: len(rows(d, "failures-rows")) == 2, 10)
        assert failures
        failed = rows(page, "failures-rows")
        assert "rejected" in failed[rejected_job] and "422" in failed[rejected_job]
        assert "90019 Conference has already ended" in failed[rejected_job]
        assert "meeting=4712" in failed[rejected_job]
        assert "retries_exhausted" in failed[exhausted_job] and "503" in failed[exhausted_job]

        wait_for(page, "the recording saved", lambda d: ok_job in rows(d, "recordings-rows"), 15)
        assert "meeting=4711" in rows(page, "recordings-rows")[ok_job]
        links = page.find_elements(By.CSS_SELECTOR, f'#recordings-rows tr[data-job="{ok_job}"] a')
        assert [link.text for link in links] == ["wav"]
        assert (links[0].get_attribute("href") or "").startswith(str(way.sim.extra["root"]))

        page.find_element(By.ID, "retry").click()
        result = wait_for(page, "the retry", lambda d: "Retried" in text(d, "retry-result"), 10)
        assert result
        assert text(page, "retry-result").startswith("Retried 1 into batch ")
        retry_batch = page.find_element(By.CSS_SELECTOR, "#retry-result a").text
        wait_for(page, "the retry linked", lambda d: retry_batch in text(d, "batch-links"), 10)
        retried = poll(
            lambda: way.stack.api.send("GET", f"/v1/batches/{retry_batch}/jobs").json(),
            lambda doc: doc["jobs"] and doc["jobs"][0]["status"] == "succeeded",
            15,
            "the retried job's outcome",
        )["jobs"]
        assert [(job["retry_of"], job["conference_id"]) for job in retried] == [
            (exhausted_job, exhausted)
        ]
        if shot := os.environ.get("CONFREC_WEB_UI_SCREENSHOT"):
            height = page.execute_script("return document.documentElement.scrollHeight")
            metrics = {"width": 1280, "height": height, "deviceScaleFactor": 1, "mobile": False}
            page.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
            page.save_screenshot(shot)
            page.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

        page.find_element(By.ID, "sign-out").click()
        wait_for(page, "signed out", lambda d: shown(d, "sign-in"), 10)
        assert fetch_status(page, "/v1/batches") == 401
        # What the console says: the 401s of the page's first calls, of the wrong token
        # and after signing out; no policy violation, no script error.
        errors = console_errors(page)
        assert all("401" in line for line in errors), errors
