"""The browser the UI tests drive: Debian's headless Chromium through Selenium's WebDriver, and the annotation
page's controls (:class:`Page`)."""

import os
import shutil
from pathlib import Path

import pytest

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the dev extra")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
UNDO_WINDOW_S = 5.0


def chromium_driver(tmp_path):
    """A headless Chromium WebDriver (the ``browser`` fixture of tests/conftest.py); skips where it is missing."""
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("needs Debian's chromium and chromium-driver (`make browser`)")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1100,1000", f"--user-data-dir={tmp_path / 'profile'}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def artifacts_dir(tmp_path: Path) -> Path:
    out = Path(os.environ.get("RAYRLHF_TEST_ARTIFACTS") or tmp_path / "artifacts")
    out.mkdir(parents=True, exist_ok=True)
    return out


class Page:
    def __init__(self, driver) -> None:
        self.d = driver
        self.wait = WebDriverWait(driver, 15)

    def wait_for_prompt(self, tag: str) -> list[str]:
        """Wait until the page shows query ``tag``; the response texts in their displayed order."""
        self.wait.until(lambda d: f"document {tag}." in d.find_element(By.ID, "prompt").text
                        and d.find_element(By.ID, "task").is_displayed())
        return [el.text for el in self.d.find_elements(By.CSS_SELECTOR, "#responses .response pre.text")]

    def card(self, text: str):
        return self.d.find_element(By.XPATH, f"//li[contains(@class,'response')][pre[text()='{text}']]")

    def keys(self, *keys: str) -> None:
        body = self.d.find_element(By.TAG_NAME, "body")
        for k in keys:
            body.send_keys(k)


def answer_shown_query(page: Page, use_keys: bool) -> bool:
    """Answer the query on screen (best = the longest response, worst = the shortest), or return False if none (or
    if the page re-rendered under us: the caller tries again)."""
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException

    try:
        return _answer(page, use_keys)
    except (StaleElementReferenceException, TimeoutException):
        return False


def _answer(page: Page, use_keys: bool) -> bool:
    d = page.d
    if not d.find_element(By.ID, "task").is_displayed():
        return False
    texts = [el.text for el in d.find_elements(By.CSS_SELECTOR, "#responses .response pre.text")]
    best = max(range(len(texts)), key=lambda i: (len(texts[i]), -i))
    worst = min(range(len(texts)), key=lambda i: (len(texts[i]), i))
    if best == worst:
        page.keys("s")  # every response the same length: skip
    elif use_keys:
        page.keys(str(best + 1), str(worst + 1), Keys.ENTER)
    else:
        cards = d.find_elements(By.CSS_SELECTOR, "#responses .response")
        cards[best].find_element(By.CSS_SELECTOR, "button.pick-best").click()
        cards[worst].find_element(By.CSS_SELECTOR, "button.pick-worst").click()
        d.find_element(By.ID, "submit").click()
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(d, 15, ignored_exceptions=[StaleElementReferenceException]).until(
        lambda drv: not drv.find_element(By.ID, "task").is_displayed()
        or [el.text for el in drv.find_elements(By.CSS_SELECTOR, "#responses .response pre.text")] != texts)
    return True


def wait_for_app(base: str, proc, seconds: float = 600) -> None:
    """Until the annotation app at ``base`` answers (a run starts it with its first round); ``proc``, the run, must
    not exit first."""
    import time

    import httpx

    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            httpx.get(f"{base}/api/progress", timeout=2)
            return
        except httpx.HTTPError:
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            time.sleep(1)
    raise AssertionError(f"the annotation app at {base} did not start in {seconds:.0f} s")
