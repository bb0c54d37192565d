"""The HTML page in a real browser: headless Debian Chromium driven through ChromeDriver.

It loads the page offline, checks that the console stays clean and that no plugin string
ran as code, sorts a table by clicking headers, filters by suite and opens a drill-down.
Needs the Debian packages ``chromium`` and ``chromium-driver`` (scripts/apt-packages.txt);
without them the test is skipped, except under CI, where it fails.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from vla_bench_leaderboard import html

from harness.results import load_run

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
PWN = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'

pytestmark = pytest.mark.slow


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver are missing: run scripts/setup.sh")
        pytest.skip("needs Debian chromium and chromium-driver (scripts/setup.sh installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1440,1000",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(
    tmp_path: Path,
    make_run: Callable[..., Path],
    task: Callable[..., dict[str, Any]],
    gif: Callable[..., bytes],
) -> Path:
    games = {"lander": task("lander", suite="games", has_ee=False, control_hz=50)}
    roots = [
        make_run(
            "a",
            {"pick": [True] * 15 + [False] * 5, "stack": [True] * 9 + [False] * 11},
            policy="alpha",
            act_s=0.08,
            videos={("pick", 0): gif((220, 60, 60)), ("pick", 16): gif((60, 60, 220))},
        ),
        make_run(
            "b",
            {"pick": [True] * 13 + [False] * 7, "stack": [True] * 3 + [False] * 17},
            policy=PWN,
            act_s=0.01,
            n_action_steps=1,
        ),
        make_run(
            "c",
            {"pick": [True] * 2 + [False] * 18, "stack": [False] * 20},
            policy="zeta-random",
            weights="random",
            act_s=0.3,
        ),
        make_run("d", {"lander": [True] * 4 + [False] * 6}, policy="alpha", tasks=games),
    ]
    out = tmp_path / "leaderboard.html"
    out.write_text(html.render([load_run(r) for r in roots], []), encoding="utf-8")
    return out


def policies(table: Any) -> list[str]:
    """The policy names of a table's main rows, top to bottom."""
    rows = table.find_elements("xpath", "./tbody/tr[contains(@class, 'main')]")
    return [r.find_element("css selector", ".pname").get_attribute("textContent") for r in rows]


def test_page_in_chromium(browser: Any, page: Path, tmp_path: Path) -> None:
    browser.get(page.as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    assert browser.execute_script("return window.__pwned") is None
    assert PWN in browser.find_element("tag name", "body").text  # shown as text

    # sort the pick table by clicking headers: order changes and follows the column
    pick = browser.find_element("xpath", "//section[@id='tasks']//h3[starts-with(., 'pick')]/..")
    table = pick.find_element("css selector", "table.sortable")
    before = policies(table)
    assert before[0] == "alpha"  # ranked order: the leader first
    header = table.find_element("xpath", ".//th[normalize-space()='p50']")
    header.click()
    after = policies(table)
    assert after != before
    assert after == [PWN, "alpha", "zeta-random"]  # fastest act() first
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    assert policies(table) == list(reversed(after))

    # a main row and its drill-down travel together when the suite table is sorted
    suite = browser.find_element("css selector", "#overall table.sortable")
    suite.find_element("xpath", ".//th[normalize-space()='Policy']").click()
    rows = suite.find_elements("xpath", "./tbody/tr")
    kinds = [r.get_attribute("class").split()[0] for r in rows]
    assert kinds == ["main", "detail"] * (len(rows) // 2)
    assert policies(suite) == sorted(policies(suite), key=str.lower)
    at = policies(suite).index("alpha")
    main, detail = rows[2 * at], rows[2 * at + 1]
    assert not detail.is_displayed()
    main.find_element("css selector", "button.toggle").click()
    assert detail.is_displayed()
    clips = detail.find_elements("css selector", "figure.clip img")
    assert [c.find_element("xpath", "..").get_attribute("class") for c in clips] == [
        "clip success",
        "clip failure",
    ]

    # the suite filter hides the other suite's tables
    games = browser.find_elements("css selector", ".group[data-suite='games']")
    demo = browser.find_elements("css selector", ".group[data-suite='demo']")
    browser.find_element("css selector", ".filter button[data-filter='games']").click()
    assert all(g.is_displayed() for g in games) and not any(d.is_displayed() for d in demo)
    browser.find_element("css selector", ".filter button[data-filter='']").click()
    assert all(d.is_displayed() for d in demo)

    images = browser.execute_script(
        "return Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)"
    )
    assert images and all(images)  # every embedded figure and rollout decodes
    assert browser.execute_script("return window.__pwned") is None
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert errors == []

    shot = tmp_path / "leaderboard.png"
    browser.set_window_size(1440, browser.execute_script("return document.body.scrollHeight"))
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 50_000
