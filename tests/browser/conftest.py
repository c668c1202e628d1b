"""Browser fixtures: Debian's Chromium driven by Playwright (no browser download).

The tests here click in the sandbox's real page; they need ``/usr/bin/chromium``
(``apt-get install chromium``; ``.ci/run`` installs it) and the ``playwright`` package
(dev extra). Screenshots of the steps are written to ``docs/`` when
``VIGIE_SCREENSHOTS=1`` (how the README's pictures are refreshed).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

CHROMIUM = os.environ.get("VIGIE_CHROMIUM", "/usr/bin/chromium")
DOCS = Path(__file__).resolve().parents[2] / "docs"
# Playwright's expect() polls the page; CI is a busy 2-core machine shared by others.
EXPECT_TIMEOUT_MS = 30_000
expect.set_options(timeout=EXPECT_TIMEOUT_MS)


# Module scope, not session: Playwright's sync API keeps an event loop running in this
# thread, which other tests' asyncio (Starlette's TestClient) must not find there.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (see .ci/run)")
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM)
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="fr-FR",
                                  timezone_id="Europe/Paris")
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # What the page reported to its console (shown with a failure's captured output).
    page.on("console", lambda m: print(f"console.{m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    yield page
    context.close()
    assert errors == [], f"the page raised: {errors}"


def screenshot(page: Page, name: str) -> None:
    """Keep a picture of this step for the docs (only when asked: it rewrites files)."""
    if os.environ.get("VIGIE_SCREENSHOTS") == "1":
        page.screenshot(path=str(DOCS / f"sandbox-{name}.png"))
