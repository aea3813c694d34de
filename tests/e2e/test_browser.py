"""The web page in headless Chromium, against `vending serve` started as a subprocess.

Set VENDING_SCREENSHOT_DIR to a folder to save the buyer's and the seller's page there.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Dialog,
    Locator,
    ViewportSize,
    expect,
    sync_playwright,
)

from tests import ports
from tests.ports import port_range

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PORTS = port_range(range(8300, 8400))
PASSWORD = "correct-horse"
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1100, "height": 900}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        # Under CI, where .ci/run installs Chromium, a missing browser fails the tests instead.
        not CHROMIUM.exists() and not os.environ.get("CI"),
        reason="browser tests need Debian's chromium at /usr/bin/chromium "
        "(apt-get install -y chromium)",
    ),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start `vending serve` on a free port; yield its base URL."""
    port = ports.free_port(PORTS)
    folder = tmp_path_factory.mktemp("serve")
    env = {
        **os.environ,
        "VENDING_ARGON2_TIME_COST": "1",
        "VENDING_ARGON2_MEMORY_KIB": "1024",
    }
    command = [
        sys.executable,
        "-m",
        "vending",
        "serve",
        "--port",
        str(port),
        "--database",
        f"sqlite:///{folder / 'vending.db'}",
    ]
    log = (folder / "serve.log").open("w")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"vending serve did not start: {(folder / 'serve.log').read_text()}"
                )
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(10)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Visitor:
    """A page in its own browser context that records console errors and dialogs."""

    def __init__(self, browser: Browser, base: str, viewport: ViewportSize | None = None) -> None:
        self.context = browser.new_context(viewport=viewport or DESKTOP)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("dialog", self._dialog)
        self.page.goto(base)

    def _console(self, message: ConsoleMessage) -> None:
        # Chromium logs every 4xx response as "Failed to load resource". The page shows those
        # errors to the user, so only other console errors count.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def sign_up(self, username: str, role: str) -> None:
        page = self.page
        page.get_by_role("tab", name="Create account").click()
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_label(role, exact=True).check()
        page.get_by_role("button", name="Create account", exact=True).click()
        expect(page.locator("#who-name")).to_have_text(username)
        expect(page.locator("#link-state")).to_have_text("live")

    def slot(self, name: str) -> Locator:
        return self.page.locator(".slot").filter(has=self.page.locator(".name", has_text=name))

    def message(self) -> Locator:
        return self.page.locator("#machine-message")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def pages() -> Iterator[list[Visitor]]:
    """Collect the visitors a test opens; each must end with no console error."""
    opened: list[Visitor] = []
    yield opened
    for page in opened:
        assert page.errors == [], page.errors
        page.close()


def open_page(
    pages: list[Visitor], browser: Browser, server: str, viewport: ViewportSize | None = None
) -> Visitor:
    visitor = Visitor(browser, server, viewport)
    pages.append(visitor)
    return visitor


def test_first_visit_shows_sign_in(browser: Browser, server: str, pages: list[Visitor]) -> None:
    visitor = open_page(pages, browser, server, viewport=PHONE)
    page = visitor.page
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_label("Username")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]


def test_wrong_password_shown_in_words(browser: Browser, server: str, pages: list[Visitor]) -> None:
    visitor = open_page(pages, browser, server)
    page = visitor.page
    page.get_by_label("Username").fill("nobody-here")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.locator("#auth-message")).to_have_text("Wrong username, password or role.")


def test_sign_up_shows_password_rule(browser: Browser, server: str, pages: list[Visitor]) -> None:
    visitor = open_page(pages, browser, server)
    page = visitor.page
    expect(page.locator("#password-hint")).to_be_hidden()
    page.get_by_role("tab", name="Create account").click()
    expect(page.locator("#password-hint")).to_have_text("Passwords are 8 to 128 characters.")
    page.get_by_label("Username").fill("shorty")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Create account", exact=True).click()
    expect(page.locator("#auth-message")).to_have_text(
        "The password must be 8 to 128 characters long."
    )


def test_seller_and_buyer_story(browser: Browser, server: str, pages: list[Visitor]) -> None:
    seller = open_page(pages, browser, server)
    seller.sign_up("sally", "seller")
    add = seller.page.locator("#add-form")
    add.get_by_label("Name").fill("Cola")
    add.get_by_label("Price (cents)").fill("35")
    expect(add.locator(".preview")).to_have_text("= 0.35")
    add.get_by_label("Stock").fill("10")
    add.get_by_role("button", name="Add product").click()
    expect(seller.message()).to_contain_text("Cola is in the machine")
    expect(seller.page.locator(".own-row input[name=product_name]")).to_have_value("Cola")

    buyer = open_page(pages, browser, server, viewport=PHONE)
    buyer.sign_up("bob", "buyer")
    cola = buyer.slot("Cola")
    expect(cola.locator(".stock")).to_have_text("10 left")

    for coin in ("Insert 1.00", "Insert 0.20"):
        buyer.page.get_by_role("button", name=coin, exact=True).click()
    expect(buyer.page.locator("#credit")).to_have_text("1.20")

    cola.get_by_label("Quantity of Cola").fill("5")
    cola.get_by_role("button", name="Buy Cola").click()
    expect(buyer.message()).to_have_text(
        "Not enough credit: 5 \N{MULTIPLICATION SIGN} Cola cost 1.75, your credit is 1.20."
        " Insert 0.55 more."
    )

    cola.get_by_label("Quantity of Cola").fill("3")
    cola.get_by_role("button", name="Buy Cola").click()
    expect(buyer.page.locator("#purchases li")).to_have_text(
        "3 \N{MULTIPLICATION SIGN} Cola for 1.05"
    )
    expect(buyer.page.locator("#tray .coin")).to_have_text(["0.10", "0.05"])
    expect(buyer.page.locator("#credit")).to_have_text("0.00")
    expect(cola.locator(".stock")).to_have_text("7 left")
    assert buyer.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    expect(seller.page.locator("#sales li")).to_have_text(
        "Sold 3 \N{MULTIPLICATION SIGN} Cola for 1.05 (7 left)"
    )
    expect(seller.page.locator(".own-row input[name=amount_available]")).to_have_value("7")
    expect(seller.slot("Cola").locator(".stock")).to_have_text("7 left")

    shots = os.environ.get("VENDING_SCREENSHOT_DIR")
    if shots:
        buyer.page.screenshot(path=str(Path(shots) / "buyer.png"), full_page=True)
        seller.page.screenshot(path=str(Path(shots) / "seller.png"), full_page=True)

    row = seller.page.locator(".own-row")
    row.locator("input[name=cost]").fill("40")
    row.get_by_role("button", name="Save").click()
    expect(cola.locator(".price")).to_have_text("0.40")

    row.locator("input[name=cost]").fill("42")
    expect(row.locator(".preview")).to_have_text("= 0.42")
    row.get_by_role("button", name="Save").click()
    expect(seller.message()).to_contain_text("multiple of 0.05")
    expect(seller.message()).to_contain_text("0.42 is not")

    row.get_by_role("button", name="Delete", exact=True).click()
    expect(row.locator(".confirm")).to_contain_text("Delete Cola from the machine?")
    row.get_by_role("button", name="Keep it").click()
    expect(row.locator(".confirm")).to_be_hidden()
    expect(buyer.page.locator(".slot")).to_have_count(1)

    row.get_by_role("button", name="Delete", exact=True).click()
    row.get_by_role("button", name="Yes, delete").click()
    expect(buyer.page.locator(".slot")).to_have_count(0)


def test_product_name_is_text_not_html(browser: Browser, server: str, pages: list[Visitor]) -> None:
    seller = open_page(pages, browser, server)
    seller.sign_up("mallory", "seller")
    name = "<img src=x onerror=alert(1)>"
    add = seller.page.locator("#add-form")
    add.get_by_label("Name").fill(name)
    add.get_by_label("Price (cents)").fill("5")
    add.get_by_label("Stock").fill("1")
    add.get_by_role("button", name="Add product").click()

    buyer = open_page(pages, browser, server)
    buyer.sign_up("victim", "buyer")
    expect(buyer.slot(name).locator(".name")).to_have_text(name)
    assert buyer.page.locator(".slot img").count() == 0
    assert buyer.dialogs == []
    assert seller.dialogs == []


def test_buyer_cannot_insert_without_credit_reset(
    browser: Browser, server: str, pages: list[Visitor]
) -> None:
    buyer = open_page(pages, browser, server)
    buyer.sign_up("rita", "buyer")
    buyer.page.get_by_role("button", name="Insert 0.50").click()
    expect(buyer.page.locator("#credit")).to_have_text("0.50")
    buyer.page.get_by_role("button", name="Return my coins").click()
    expect(buyer.page.locator("#tray .coin")).to_have_text(["0.50"])
    expect(buyer.page.locator("#credit")).to_have_text("0.00")
    expect(buyer.message()).to_contain_text("Your coins are in the change tray")


def test_sign_out_returns_to_sign_in(browser: Browser, server: str, pages: list[Visitor]) -> None:
    buyer = open_page(pages, browser, server)
    buyer.sign_up("otto", "buyer")
    buyer.page.get_by_role("button", name="Sign out").click()
    expect(buyer.page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(buyer.page.locator("#auth-message")).to_be_hidden()

    buyer.page.reload()
    expect(buyer.page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_two_pages_share_credit(browser: Browser, server: str, pages: list[Visitor]) -> None:
    first = open_page(pages, browser, server)
    first.sign_up("twin", "buyer")

    second = open_page(pages, browser, server, viewport=PHONE)
    second.page.get_by_label("Username").fill("twin")
    second.page.get_by_label("Password").fill(PASSWORD)
    second.page.get_by_label("buyer", exact=True).check()
    second.page.get_by_role("button", name="Sign in", exact=True).click()
    expect(second.page.locator("#link-state")).to_have_text("live")
    expect(second.page.locator("#session-note")).to_contain_text(
        "This account is also signed in elsewhere."
    )
    expect(first.page.locator("#session-note")).to_be_hidden()

    first.page.get_by_role("button", name="Insert 0.50").click()
    expect(first.page.locator("#credit")).to_have_text("0.50")
    expect(second.page.locator("#credit")).to_have_text("0.50")


def test_seller_page_fits_phone(browser: Browser, server: str, pages: list[Visitor]) -> None:
    seller = open_page(pages, browser, server, viewport=PHONE)
    seller.sign_up("narrow", "seller")
    add = seller.page.locator("#add-form")
    add.get_by_label("Name").fill("A rather long product name that has to wrap somewhere")
    add.get_by_label("Price (cents)").fill("1000")
    add.get_by_label("Stock").fill("12")
    add.get_by_role("button", name="Add product").click()
    expect(seller.page.locator(".own-row")).to_have_count(1)
    assert seller.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_sign_out_everywhere(browser: Browser, server: str, pages: list[Visitor]) -> None:
    first = open_page(pages, browser, server)
    first.sign_up("roamer", "buyer")

    second = open_page(pages, browser, server)
    second.page.get_by_label("Username").fill("roamer")
    second.page.get_by_label("Password").fill(PASSWORD)
    second.page.get_by_label("buyer", exact=True).check()
    second.page.get_by_role("button", name="Sign in", exact=True).click()
    note = second.page.locator("#session-note")
    expect(note).to_be_visible()
    second.page.reload()
    expect(second.page.locator("#link-state")).to_have_text("live")
    expect(note).to_be_visible()

    note.get_by_role("button", name="Sign out everywhere").click()
    expect(second.page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(second.page.locator("#auth-message")).to_have_text(
        "You are signed out everywhere: this page and 1 other place."
    )
    expect(note).to_be_hidden()
    expect(first.page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(first.page.locator("#auth-message")).to_have_text(
        "Your session has ended. Please sign in again."
    )
