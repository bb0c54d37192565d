"""The screenshots in reports/studio/: the studio page mid-task, the 3D replay of an episode that
``bench run`` recorded, and that replay's fragment inside a real ``bench report`` HTML page
beside the rollout clip; all in headless Chromium.

    MUJOCO_GL=egl .venv/bin/python plugins/studio/benchmarks/screenshots.py [-o reports/studio]
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ["HF_HUB_OFFLINE"] = "1"

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from studio_kit import rollout

ROOT = Path(__file__).resolve().parents[3]


def save_png(png: bytes, path: Path, crop: tuple[int, int, int, int] | None = None) -> None:
    """Write a screenshot as a small palette PNG."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    if crop:
        image = image.crop(crop)
    image.quantize(colors=192, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    print(f"{path}: {image.size[0]}x{image.size[1]}, {path.stat().st_size // 1024} kB")


def studio_shot(driver: object, out: Path) -> None:
    """The studio on pick_place episode 3, the object lifted on its way to the receptacle."""
    from vla_bench_studio.server import StudioConfig, StudioServer

    server = StudioServer(StudioConfig(port=0, out=Path(tempfile.mkdtemp())), report=print)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        driver.get(server.url)  # type: ignore[attr-defined]
        while not driver.execute_script("return Boolean(window.studio?.ready)"):  # type: ignore[attr-defined]
            time.sleep(0.05)
        ref = rollout("pick_place", 3)
        driver.execute_async_script(  # type: ignore[attr-defined]
            "const [q, done] = arguments; window.studio.load(q).then(() => done())",
            {"task": "pick_place", "index": 3},
        )
        driver.execute_script(  # type: ignore[attr-defined]
            "window.studio.replayActions(arguments[0])", ref.actions[: len(ref.actions) * 2 // 3]
        )
        time.sleep(1.0)
        save_png(driver.get_screenshot_as_png(), out / "studio.png")  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def replay_shot(driver: object, out: Path) -> None:
    """The 3D replay page of pick_place episode 0 of a real ``bench run``, mid-episode."""
    from vla_bench_studio.replay import load_replay, replay_page, replay_path

    work = Path(tempfile.mkdtemp(prefix="studio-shots-"))
    run = work / "run"
    subprocess.run(
        [str(ROOT / ".venv/bin/bench"), "run", "--policy", "scripted", "--task", "pick_place",
         "--episodes", "1", "--out", str(run)],
        check=True, capture_output=True,
    )  # fmt: skip
    replay = load_replay(replay_path(run, "pick_place", 0).read_bytes())
    path = work / "replay.html"
    path.write_text(replay_page([replay], "3D replay: pick_place, scripted expert"), "utf-8")
    driver.get(path.as_uri())  # type: ignore[attr-defined]
    viewer = driver.find_element("css selector", "[data-vla-replay]")  # type: ignore[attr-defined]
    driver.execute_script(  # type: ignore[attr-defined]
        "arguments[0].vlaReplay.seek(arguments[0].vlaReplay.data.steps * 0.55)", viewer
    )
    time.sleep(0.5)
    bottom = driver.execute_script(  # type: ignore[attr-defined]
        "return arguments[0].getBoundingClientRect().bottom", viewer
    )
    save_png(driver.get_screenshot_as_png(), out / "replay.png", (0, 0, 760, int(bottom) + 12))  # type: ignore[attr-defined]


def leaderboard_shot(driver: object, out: Path) -> None:
    """The ``bench report`` HTML of a real run with a replay fragment beside its rollout clip."""
    from vla_bench_leaderboard import html
    from vla_bench_studio.replay import replay_fragment

    from harness.results import load_run

    work = Path(tempfile.mkdtemp(prefix="studio-shots-"))
    run = work / "run"
    subprocess.run(
        [str(ROOT / ".venv/bin/bench"), "run", "--policy", "scripted", "--task", "pick_place",
         "--episodes", "2", "--video", "1", "--out", str(run)],
        check=True, capture_output=True,
    )  # fmt: skip
    page = html.render([load_run(run)], [])
    # The leaderboard does not embed replays itself yet: the fragment goes after the clip's box.
    at = page.index("</div>", page.index("</figure>", page.index('<figure class="clip')))
    at += len("</div>")
    box = (
        '<div class="clipbox" style="width:480px"><div class="sub">pick_place · 3D replay</div>'
        f"{replay_fragment(run, 'pick_place', 0)}</div>"
    )
    path = work / "leaderboard.html"
    path.write_text(page[:at] + box + page[at:], encoding="utf-8")
    driver.get(path.as_uri())  # type: ignore[attr-defined]
    driver.find_element("css selector", "#overall button.toggle").click()  # type: ignore[attr-defined]
    viewer = driver.find_element("css selector", "[data-vla-replay]")  # type: ignore[attr-defined]
    clips = viewer.find_element("xpath", "ancestor::div[@class='clips']")
    driver.execute_script(  # type: ignore[attr-defined]
        "arguments[0].scrollIntoView(); window.scrollBy(0, -40);"
        "arguments[1].vlaReplay.seek(arguments[1].vlaReplay.data.steps * 0.55)",
        clips,
        viewer,
    )
    time.sleep(0.5)
    top, bottom = driver.execute_script(  # type: ignore[attr-defined]
        "const r = arguments[0].getBoundingClientRect(); return [r.top, r.bottom]", clips
    )
    crop = (0, max(0, int(top) - 30), 1280, min(1000, int(bottom) + 12))
    save_png(driver.get_screenshot_as_png(), out / "replay-in-leaderboard.png", crop)  # type: ignore[attr-defined]


def main() -> None:
    """Write both screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", type=Path, default=ROOT / "reports" / "studio")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--use-angle=swiftshader",
                 "--enable-unsafe-swiftshader", "--window-size=1280,1000", "--hide-scrollbars",
                 f"--user-data-dir={tempfile.mkdtemp()}"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    driver.set_script_timeout(120)
    try:
        studio_shot(driver, args.out)
        replay_shot(driver, args.out)
        leaderboard_shot(driver, args.out)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
