"""The annotation page in a real headless Chromium (Debian's `chromium` + `chromium-driver`, installed by
`make browser`): answers through buttons and keyboard shortcuts (with an undo) reach the ledger through a real
WebQueueBackend.ask with the annotator's name and seconds; a wrong token is refused; a screenshot is kept."""

import math

import httpx
import pytest

from rayrlhf.annotate.people import WebQueueBackend
from tests.support.annotate import AskThread, LedgerRecorder, live_server, make_queries
from tests.support.browser import UNDO_WINDOW_S, By, Page, artifacts_dir

pytestmark = pytest.mark.browser


def test_answers_given_in_the_page_reach_the_ledger(browser, tmp_path):
    from selenium.webdriver.common.keys import Keys

    queries = make_queries(4, k=3)
    backend = WebQueueBackend(tmp_path, undo_window_s=UNDO_WINDOW_S, poll_s=0.05, max_wait_s=120)
    backend.iteration = 1
    token = backend.store.issue_token("alice")
    server = live_server(backend.store)
    record = LedgerRecorder(tmp_path)
    asking = AskThread(backend, queries, record)
    asking.start()
    page = Page(browser)
    try:
        browser.get(f"{server.url}/?token={token}")
        shown = page.wait_for_prompt("q0")
        assert "token=" not in browser.current_url  # moved into sessionStorage, out of the address bar
        assert sorted(shown) == sorted(queries[0].responses)
        assert "alice: 0 answered" in browser.find_element(By.ID, "progress").text
        # q0 with the mouse: Best on q0-r1, Worst on q0-r2, Submit
        page.card("q0-r1").find_element(By.CSS_SELECTOR, "button.pick-best").click()
        page.card("q0-r2").find_element(By.CSS_SELECTOR, "button.pick-worst").click()
        assert page.card("q0-r1").find_element(By.CSS_SELECTOR, ".tag").text == "BEST"
        assert page.card("q0-r2").find_element(By.CSS_SELECTOR, ".tag").text == "WORST"
        shot = artifacts_dir(tmp_path) / "annotate_page.png"
        browser.save_screenshot(str(shot))
        browser.find_element(By.ID, "submit").click()

        # q1 with the keyboard: best q1-r0, worst q1-r2, Enter; then undo (U) and answer it differently
        shown = page.wait_for_prompt("q1")
        page.keys(str(shown.index("q1-r0") + 1), str(shown.index("q1-r2") + 1), Keys.ENTER)
        page.wait_for_prompt("q2")
        page.keys("u")
        shown = page.wait_for_prompt("q1")
        assert "undone" in browser.find_element(By.ID, "notice").text
        page.keys(str(shown.index("q1-r2") + 1), str(shown.index("q1-r1") + 1), Keys.ENTER)

        # q2: skip (S); q3: rank all (R), best to worst q3-r2, q3-r0 (the last one fills itself in), Enter
        page.wait_for_prompt("q2")
        page.keys("s")
        shown = page.wait_for_prompt("q3")
        page.keys("r", str(shown.index("q3-r2") + 1), str(shown.index("q3-r0") + 1))
        assert page.card("q3-r1").find_element(By.CSS_SELECTOR, ".tag").text == "#3"
        page.keys(Keys.ENTER)
        page.wait.until(lambda d: d.find_element(By.ID, "empty").is_displayed())
        progress = browser.find_element(By.ID, "progress").text
        assert "alice: 4 answered" in progress
        # people's idle share over iteration 1 (posting to the last answer), recomputed from the queue's rows; an
        # undone answer's re-answer counts from when the query was first shown, so the seconds can overlap and the
        # share is floored at 0
        conn = backend.store.connect()
        posted = conn.execute("SELECT MIN(created) FROM queries").fetchone()[0]
        last, busy = conn.execute("SELECT MAX(time), SUM(seconds) FROM answers").fetchone()
        idle = math.floor(100 * max(0.0, 1 - busy / (last - posted)) + 0.5)  # as JavaScript Math.round
        assert f"people idle {idle}% of iteration 1" in progress

        asking.join(timeout=UNDO_WINDOW_S + 30)
        assert not asking.is_alive() and asking.error is None
        ledger = record.ledger
        a0, a1, a2, a3 = (ledger.get(q) for q in queries)
        assert (a0.best, a0.worst) == (1, 2) and a0.partial is True
        assert (a1.best, a1.worst) == (2, 1)  # the undone first answer never reached the ledger
        assert a2.ranking is None
        assert a3.ranking == [2, 0, 1] and a3.partial is False
        for a in (a0, a1, a2, a3):
            assert a.meta["annotator"] == "alice" and a.meta["seconds"] > 0
        assert len((tmp_path / "annotations.jsonl").read_text().splitlines()) == 4
        assert len(backend.store.answers()) == 4

        # a wrong token: the API says 401 and the page asks for a token, showing why
        assert httpx.get(f"{server.url}/api/next", headers={"Authorization": "Bearer wrong"}).status_code == 401
        browser.get(f"{server.url}/?token=wrong")
        page.wait.until(lambda d: d.find_element(By.ID, "login").is_displayed())
        assert "unknown token" in browser.find_element(By.ID, "error").text
        assert not browser.find_element(By.ID, "task").is_displayed()
        browser.save_screenshot(str(artifacts_dir(tmp_path) / "annotate_login.png"))
    finally:
        server.stop()

    from PIL import Image

    img = Image.open(shot).convert("RGB")
    assert img.size[0] >= 1000 and img.size[1] >= 600
    colours = {c for _, c in img.getcolors(maxcolors=1 << 24)}
    assert len(colours) > 50  # text was drawn, not a blank page
    assert (0x1A, 0x7F, 0x37) in colours and (0xCF, 0x22, 0x2E) in colours  # the best (green) and worst (red) borders
