"""Browser tests of the reception page: headless Chromium (Debian chromium + chromium-driver)
driven by Selenium, against jpki-reception → jpkid → the real pcscd + vpcd with simulated cards
(jpki-sim). Started by scripts/browser-test, which provides these environment variables:

  RECEPTION_URL   the line jpki-reception printed (http://127.0.0.1:PORT/?token=…)
  JPKI_SIM        path of the jpki-sim executable
  SCREENSHOT_DIR  optional: where to write the screenshot of the main states

Timing figures (insert → panel shows the card, removal → panel cleared) are measured from the
test's side: the clock starts when jpki-sim is started/stopped and stops when WebDriver sees the
panel change (polled every 10 ms), so they include pcscd's card polling.
"""

import http.client
import json
import os
import signal
import subprocess
import sys
import time
import unittest
import urllib.parse

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

URL = os.environ["RECEPTION_URL"]
SIM = os.environ["JPKI_SIM"]
SLOTS = ["Virtual PCD 00 00", "Virtual PCD 00 01"]
TIMINGS = {"insert_to_card": [], "removal_to_cleared": []}

driver = None
origin = None
cookie = None


def setUpModule():
    global driver, origin, cookie
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1500,1100",
              "--lang=ja", "--disable-gpu"]:
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    driver.get(URL)
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".panel"))
    parts = urllib.parse.urlsplit(URL)
    origin = f"{parts.scheme}://{parts.netloc}"
    c = driver.get_cookie("jpki_reception")
    cookie = c["value"] if c else None


def tearDownModule():
    if driver:
        driver.quit()
    print("timings (s):", json.dumps({k: [round(x, 3) for x in v] for k, v in TIMINGS.items()}), file=sys.stderr)


class Card:
    """A simulated card in a vpcd slot (jpki-sim process): started = inserted, SIGTERM = removed."""

    def __init__(self, name, slot=0, faults=None):
        args = [SIM, "--card", name, "--vpcd", f"127.0.0.1:{35963 + slot}"]
        if faults:
            args += ["--fault", faults]
        self.slot = slot
        self.started = time.monotonic()
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def remove(self):
        if self.proc.poll() is None:
            self.removed = time.monotonic()
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)


def panel(slot=0):
    return driver.find_element(By.CSS_SELECTOR, f'.panel[data-reader="{SLOTS[slot]}"]')


def describe(slot):
    try:
        p = panel(slot)
        return f"panel {SLOTS[slot]}: state={p.get_attribute('data-state')} text={p.text!r}"
    except Exception as e:  # the panel itself is missing
        return f"no panel {SLOTS[slot]} ({e.__class__.__name__}); page: {driver.find_element(By.TAG_NAME, 'body').text!r}"


def wait_state(slot, *states, timeout=15):
    try:
        WebDriverWait(driver, timeout, poll_frequency=0.01).until(
            lambda d: panel(slot).get_attribute("data-state") in states)
    except Exception as e:
        raise AssertionError(f"waiting for {states}: {describe(slot)}") from e
    return panel(slot)


def type_digits(slot, digits):
    p = panel(slot)
    for d in digits:
        p.find_element(By.XPATH, f'.//div[@class="keys"]/button[text()="{d}"]').click()
    p.find_element(By.CSS_SELECTOR, ".keys .send").click()


def start_log(slot):
    """Records every change of the panel (its session and text) in the page, from now on."""
    driver.execute_script("""
        const p = document.querySelector(`.panel[data-reader="${arguments[0]}"]`);
        window.__log = [];
        const snap = () => window.__log.push({session: p.dataset.session || null, state: p.dataset.state,
            text: p.textContent, imgs: [...p.querySelectorAll('img')].map(i => i.getAttribute('src')),
            verdicts: [...p.querySelectorAll('.match')].map(m => m.dataset.verdict)});
        snap();
        window.__obs && window.__obs.disconnect();
        window.__obs = new MutationObserver(snap);
        window.__obs.observe(p, {subtree: true, childList: true, characterData: true, attributes: true});
    """, SLOTS[slot])


def remove_and_wait(card):
    card.remove()
    wait_state(card.slot, "waiting")
    TIMINGS["removal_to_cleared"].append(time.monotonic() - card.removed)


class ReceptionBrowserTests(unittest.TestCase):
    def tearDown(self):
        for c in getattr(self, "cards", []):
            c.remove()

    def use(self, name, slot=0):
        card = Card(name, slot)
        self.cards = getattr(self, "cards", []) + [card]
        wait_state(slot, "card")
        TIMINGS["insert_to_card"].append(time.monotonic() - card.started)
        return card

    def test_1_pin_flow_to_eligible(self):
        card = self.use("00-ordinary")
        p = panel()
        self.assertEqual(p.find_element(By.CSS_SELECTOR, ".pin-tries").text.split()[0], "3")
        self.assertRegex(p.find_element(By.CSS_SELECTOR, ".cert-expiry").text, r"^\d{4}-\d{2}-\d{2}")
        p.find_element(By.CSS_SELECTOR, ".mode-pin").click()
        wait_state(0, "pin")
        type_digits(0, "1234")
        p = wait_state(0, "result")
        self.assertEqual(p.find_element(By.CSS_SELECTOR, ".status").get_attribute("data-status"), "eligible")
        self.assertEqual(p.find_element(By.CSS_SELECTOR, ".mode-used").get_attribute("data-mode"), "pin")
        self.assertEqual(p.find_element(By.CSS_SELECTOR, ".insurer").text, "06139991")
        self.assertIn("1001", p.find_element(By.CSS_SELECTOR, ".symbol-number").text)
        # A name alone never turns green: the PIN check reads no identity, so no verdict yet…
        self.assertEqual(p.find_element(By.CSS_SELECTOR, ".match").get_attribute("data-verdict"), "not_compared")
        # …until the receptionist compares the card's name and birth date (照合番号B).
        p.find_element(By.CSS_SELECTOR, ".match-card").click()
        wait_state(0, "key")
        type_digits(0, "55021720352285")
        p = wait_state(0, "result")
        self.assertEqual(p.find_element(By.CSS_SELECTOR, ".match").get_attribute("data-verdict"), "match")
        self.assertEqual(p.find_element(By.CSS_SELECTOR, ".card-name").text, "山田　太郎")
        self.assertEqual(p.find_element(By.CSS_SELECTOR, ".status").get_attribute("data-status"), "eligible")
        # The PIN is nowhere in the page, its storage or the address.
        self.assertNotIn("1234", driver.page_source)
        self.assertNotIn("55021720352285", driver.page_source)
        self.assertEqual(driver.execute_script("return localStorage.length + sessionStorage.length"), 0)
        self.assertNotIn("token", driver.current_url)
        if os.environ.get("SCREENSHOT_DIR"):
            other = self.use("01-kanji-variant", slot=1)
            panel(1).find_element(By.CSS_SELECTOR, ".mode-visual").click()
            wait_state(1, "key")
            type_digits(1, "04110320344711")
            wait_state(1, "visual")
            WebDriverWait(driver, 5).until(lambda d: d.execute_script(
                "const i=document.querySelector('.panel[data-reader=\"Virtual PCD 00 01\"] img.face');"
                "return i && i.complete && i.naturalWidth > 0"))
            driver.save_screenshot(os.path.join(os.environ["SCREENSHOT_DIR"], "reception.png"))
            remove_and_wait(other)
        # 「次の方」 clears the panel while the card is still there.
        p.find_element(By.CSS_SELECTOR, ".next").click()
        wait_state(0, "next")
        self.assertNotIn("06139991", panel().text)
        remove_and_wait(card)

    def test_2_wrong_pin_shows_tries_left(self):
        # Keyboard only: the PIN button has the focus, Enter opens the keypad, digits + Enter send.
        card = self.use("00-ordinary")
        WebDriverWait(driver, 5).until(
            lambda d: d.switch_to.active_element.get_attribute("class") == "primary mode-pin")
        driver.switch_to.active_element.send_keys(Keys.ENTER)
        wait_state(0, "pin")
        WebDriverWait(driver, 5).until(lambda d: d.switch_to.active_element.get_attribute("class") == "keypad")
        driver.switch_to.active_element.send_keys("9999" + Keys.ENTER)
        WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, '.panel .tries[data-tries="2"]'))
        self.assertEqual(panel().get_attribute("data-state"), "pin")
        remove_and_wait(card)

    def test_3_visual_mode_with_photo(self):
        card = self.use("00-ordinary")
        panel().find_element(By.CSS_SELECTOR, ".mode-visual").click()
        wait_state(0, "key")
        type_digits(0, "55021720352285")
        p = wait_state(0, "visual")
        WebDriverWait(driver, 5).until(lambda d: d.execute_script(
            "const i=document.querySelector('.panel img.face'); return i && i.complete && i.naturalWidth > 0"))
        self.assertEqual(p.find_element(By.CSS_SELECTOR, ".integrity").get_attribute("data-integrity"), "verified")
        self.assertEqual(p.find_element(By.CSS_SELECTOR, ".face-name").text, "山田　太郎")
        self.assertEqual(p.find_element(By.CSS_SELECTOR, ".face-birth").text, "1980-02-17")
        p.find_element(By.CSS_SELECTOR, ".confirm-visual").click()
        p = wait_state(0, "result")
        self.assertEqual(p.find_element(By.CSS_SELECTOR, ".status").get_attribute("data-status"), "eligible")
        self.assertEqual(p.find_element(By.CSS_SELECTOR, ".mode-used").get_attribute("data-mode"), "visual")
        self.assertEqual(p.find_element(By.CSS_SELECTOR, ".match").get_attribute("data-verdict"), "match")
        # Removal clears the answer within 1 s, and the photo is no longer served.
        photo = p.find_element(By.CSS_SELECTOR, "img.face").get_attribute("src") if p.find_elements(
            By.CSS_SELECTOR, "img.face") else None
        start_log(0)
        card.remove()
        wait_state(0, "waiting", timeout=1.0)
        elapsed = time.monotonic() - card.removed
        TIMINGS["removal_to_cleared"].append(elapsed)
        self.assertLess(elapsed, 1.0)
        self.assertNotIn("06139991", panel().text)
        self.assertFalse(panel().find_elements(By.CSS_SELECTOR, "img.face"))
        if photo:
            status = driver.execute_script(
                "return fetch(arguments[0], {cache: 'no-store'}).then(r => r.status)", photo)
            self.assertNotEqual(status, 200)

    def test_4_swap_never_shows_the_first_card(self):
        first = self.use("02-same-name-a")
        panel().find_element(By.CSS_SELECTOR, ".mode-visual").click()
        wait_state(0, "key")
        type_digits(0, "50040120351357")
        wait_state(0, "visual")
        old_session = panel().get_attribute("data-session")
        start_log(0)
        # The swap mid-flow: the receptionist confirms 02 and, while that answer is on its way,
        # 02 goes out and 03 comes in (no waiting in between).
        panel().find_element(By.CSS_SELECTOR, ".confirm-visual").click()
        first.remove()
        second = Card("03-same-name-b")
        self.cards.append(second)
        WebDriverWait(driver, 15, poll_frequency=0.01).until(
            lambda d: panel().get_attribute("data-state") == "card"
            and panel().get_attribute("data-session") not in (None, old_session))
        new_session = panel().get_attribute("data-session")
        panel().find_element(By.CSS_SELECTOR, ".mode-pin").click()
        wait_state(0, "pin")
        type_digits(0, "2222")
        wait_state(0, "result")
        log = driver.execute_script("return window.__log")
        self.assertTrue(any(e["imgs"] for e in log if e["session"] == old_session))  # the log saw 02
        for entry in log:
            if entry["session"] != old_session:
                # 02's photo, its face data and its registry record (insurer 141044, number 3003)
                # never appear outside its own session. (03's own record is linked to 02's person
                # in the test registry, so a birth date is no marker here.)
                self.assertNotIn("141044", entry["text"], entry["state"])
                self.assertNotIn("3003", entry["text"], entry["state"])
                self.assertEqual(entry["imgs"], [], entry["state"])
        self.assertEqual(panel().find_element(By.CSS_SELECTOR, ".status").get_attribute("data-status"),
                         "eligible")  # the wrong-person link of the test registry (see below)
        remove_and_wait(second)

    def test_5_same_name_wrong_link_never_matches(self):
        # The test registry links card 03 (佐藤　花子, 2003-08-20) to 02's person (佐藤　花子,
        # 1975-04-01): a wrong-person link with the same name. The page must say mismatch.
        card = self.use("03-same-name-b")
        panel().find_element(By.CSS_SELECTOR, ".mode-visual").click()
        wait_state(0, "key")
        type_digits(0, "15082020332468")
        wait_state(0, "visual")
        start_log(0)
        panel().find_element(By.CSS_SELECTOR, ".confirm-visual").click()
        p = wait_state(0, "result")
        self.assertEqual(p.find_element(By.CSS_SELECTOR, ".match").get_attribute("data-verdict"), "mismatch")
        self.assertEqual(p.find_element(By.CSS_SELECTOR, ".registry-name").text,
                         p.find_element(By.CSS_SELECTOR, ".card-name").text)
        log = driver.execute_script("return window.__log")
        self.assertTrue(any("mismatch" in e["verdicts"] for e in log))
        self.assertFalse([e for e in log if "match" in e["verdicts"]])
        self.assertFalse(p.find_elements(By.CSS_SELECTOR, '.match[data-verdict="match"]'))
        remove_and_wait(card)

    def test_5b_last_try_needs_confirmation(self):
        card = self.use("05-nearly-blocked")  # auth PIN 2468 with one try left; not linked
        p = panel()
        self.assertEqual(p.find_element(By.CSS_SELECTOR, ".pin-tries").text.split()[0], "1")
        p.find_element(By.CSS_SELECTOR, ".mode-pin").click()
        wait_state(0, "pin")
        type_digits(0, "2468")
        WebDriverWait(driver, 5).until(lambda d: panel().find_elements(By.CSS_SELECTOR, ".last-try"))
        self.assertEqual(panel().get_attribute("data-state"), "pin")  # nothing was sent yet
        panel().find_element(By.CSS_SELECTOR, ".send-last").click()
        p = wait_state(0, "result")
        self.assertEqual(p.find_element(By.CSS_SELECTOR, ".status").get_attribute("data-status"), "unknown_card")
        remove_and_wait(card)

    def test_5d_face_auth_card_offers_visual_only(self):
        card = self.use("08-face-auth-card")  # 顔認証マイナンバーカード: no PIN, modes [visual]
        p = panel()
        self.assertTrue(p.find_elements(By.CSS_SELECTOR, ".no-pin"))
        self.assertFalse(p.find_element(By.CSS_SELECTOR, ".mode-pin").is_enabled())
        self.assertTrue(p.find_element(By.CSS_SELECTOR, ".mode-visual").is_enabled())
        remove_and_wait(card)

    def test_5c_idle_timeout_clears(self):
        # scripts/browser-test starts jpki-reception with --idle-seconds 6.
        card = self.use("00-ordinary")
        shown = time.monotonic()
        self.assertIn("3", panel().find_element(By.CSS_SELECTOR, ".pin-tries").text)
        wait_state(0, "next", timeout=10)
        self.assertGreaterEqual(time.monotonic() - shown, 5.5)
        self.assertFalse(panel().find_elements(By.CSS_SELECTOR, ".card-info"))
        remove_and_wait(card)

    def test_6_refused_requests(self):
        host = urllib.parse.urlsplit(URL).netloc

        def req(method, path, headers, body=None):
            c = http.client.HTTPConnection(host, timeout=5)
            c.request(method, path, body=body, headers=headers)
            r = c.getresponse()
            data = r.read()
            c.close()
            return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data

        good = {"Host": host, "Cookie": f"jpki_reception={cookie}"}
        status, headers, _ = req("GET", "/", good)
        self.assertEqual(status, 200)
        self.assertIn("default-src 'self'", headers["content-security-policy"])
        self.assertEqual(headers["x-frame-options"], "DENY")
        self.assertEqual(headers["cache-control"], "no-store")
        # No token / no cookie, a used token, a wrong cookie.
        self.assertEqual(req("GET", "/", {"Host": host})[0], 403)
        self.assertEqual(req("GET", "/api/readers", {"Host": host})[0], 403)
        self.assertEqual(req("GET", urllib.parse.urlsplit(URL).path + "?" + urllib.parse.urlsplit(URL).query,
                             {"Host": host})[0], 403)
        self.assertEqual(req("GET", "/api/readers", {"Host": host, "Cookie": "jpki_reception=00"})[0], 403)
        # DNS rebinding: another Host name for 127.0.0.1.
        port = host.split(":")[1]
        self.assertEqual(req("GET", "/api/readers", dict(good, Host=f"rebind.example:{port}"))[0], 421)
        self.assertEqual(req("GET", "/api/readers", dict(good, Host=f"localhost:{port}"))[0], 421)
        # State-changing requests: wrong or missing Origin, cross-site fetch metadata.
        path = "/api/sessions/" + "0" * 32 + "/eligibility"
        body = json.dumps({"mode": "pin", "pin": "1234"})
        json_headers = dict(good, **{"Content-Type": "application/json"})
        self.assertEqual(req("POST", path, dict(json_headers, Origin="http://evil.example"), body)[0], 403)
        self.assertEqual(req("POST", path, json_headers, body)[0], 403)
        self.assertEqual(req("POST", path, dict(json_headers, Origin=f"http://127.0.0.1:{int(port) + 1}"),
                             body)[0], 403)
        self.assertEqual(req("GET", "/api/readers", dict(good, **{"Sec-Fetch-Site": "cross-site"}))[0], 403)
        # The right Origin passes the guard (the session does not exist: jpkid's 404).
        self.assertEqual(req("POST", path, dict(json_headers, Origin=origin), body)[0], 404)
        # The cookie cannot be read by script and is not sent cross-site.
        c = driver.get_cookie("jpki_reception")
        self.assertTrue(c["httpOnly"])
        self.assertEqual(c["sameSite"], "Strict")
        self.assertEqual(driver.execute_script("return document.cookie"), "")

    def test_7_english_toggle(self):
        self.assertEqual(driver.find_element(By.ID, "title").text, "マイナ保険証 受付")
        driver.find_element(By.ID, "lang").click()
        self.assertEqual(driver.find_element(By.TAG_NAME, "html").get_attribute("lang"), "en")
        self.assertIn("Place the My Number card", panel().text)
        driver.find_element(By.ID, "lang").click()
        self.assertIn("マイナンバーカードをカードリーダーに置いてください", panel().text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
