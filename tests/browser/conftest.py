"""Browser tests: Playwright (Python) driving Debian's headless Chromium against a live server.

Playwright's own browser downloads are not used: the project runs the system's Chromium, with
the flags that keep it from reaching for the network.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    if not shutil.which(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium (or set CHROMIUM)")
    # Playwright's sync API runs an event loop in this thread; the live server's data set-up
    # (the ORM, in the test itself) is synchronous code that Django would otherwise refuse.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser, live_server):
    contexts = []

    def open_page(*, width: int = 1280, height: int = 900, locale: str = "zh-CN"):
        context = browser.new_context(
            viewport={"width": width, "height": height}, locale=locale, base_url=live_server.url
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def log_in(page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("main button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def pick(
    page,
    select_id: str,
    text: str,
    choice: str | None = None,
    *,
    detail: str | None = None,
    absent: str | None = None,
) -> None:
    """Type `text` into the tom-select of `select_id` and pick `choice` (default `text`) from
    the server's answer to the whole text; `detail` is the chosen option's grey detail, and
    `absent` a name the answer must not offer.

    The picker first shows what it preloaded, then the answer to the typing once it pauses; an
    option clicked while that answer replaces the list lands on a node being removed and picks
    nothing (as a user's tap would). So the answer to `text` is awaited, and its rendering,
    before the click; and the pick is checked."""

    def answers_text(response: Any) -> bool:
        query = parse_qs(urlparse(response.url).query)
        return "/autocomplete/" in response.url and query.get("q") == [text]

    page.click(f".ts-wrapper:has(#{select_id}-ts-control) .ts-control")
    with page.expect_response(answers_text):
        page.keyboard.type(text, delay=40)
    page.wait_for_function(
        "id => !document.getElementById(id + '-ts-control')"
        ".closest('.ts-wrapper').classList.contains('loading')",
        arg=select_id,
    )
    option = page.locator(".ts-dropdown .option", has_text=choice or text).first
    if detail is not None:
        assert option.locator("small").inner_text().strip() == detail
    if absent is not None:
        assert page.locator(".ts-dropdown .option", has_text=absent).count() == 0
    option.click()
    page.wait_for_function("id => document.getElementById(id).value !== ''", arg=select_id)
    page.keyboard.press("Escape")
