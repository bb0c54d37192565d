"""The studio page in headless Chromium: the WASM simulation against Python MuJoCo, keyboard
teleoperation, and hand-tracking capture through to a replay-checked LeRobot dataset."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pytest
from studio_kit import QPOS_TOLERANCE, console_errors, rollout, xr_session

pytestmark = pytest.mark.slow

LOAD = """
const [query, done] = arguments;
window.studio.load(query).then(() => done(null), (e) => done(String(e)));
"""


def load(driver: Any, task: str, index: int = 0) -> None:
    """Open a track episode in the page (and check it opened)."""
    error = driver.execute_async_script(LOAD, {"task": task, "index": index})
    assert error is None, error


def test_page_shows_the_task_scene_in_wasm(studio: Any) -> None:
    from vla_bench_studio.episode import build_task, episode_spec

    load(studio, "valve", 0)
    info = studio.execute_script(
        """const s = window.studio;
        return {version: s.mujocoVersion,
                instruction: document.getElementById('instruction').textContent,
                nbody: s.sim.model.nbody, xpos: Array.from(s.sim.data.xpos),
                steps: s.sim.steps, meshes: s.world.scene.children.length}"""
    )
    assert info["version"].startswith("3.3.")  # mujoco-js 0.0.7 is MuJoCo 3.3.8
    task = build_task("valve")
    episode = episode_spec(task, 0)
    env = task.make_env(episode, render=False)
    try:
        obs, _ = env.reset(seed=episode.seed)
        assert info["instruction"] == obs["instruction"]
        assert info["nbody"] == env.model.nbody
        # The page's reset state is the Python env's: every body where Python put it.
        assert np.allclose(info["xpos"], env.data.xpos.reshape(-1), atol=1e-12, rtol=0)
    finally:
        env.close()
    assert info["steps"] == 0  # the control clock waits for the first input
    pixels = studio.execute_script(
        """const c = document.getElementById('canvas');
        const gl = window.studio.renderer.getContext();
        window.studio.renderer.render(window.studio.world.scene, window.studio.camera);
        const px = new Uint8Array(4 * 64);
        const [x, y] = [Math.floor(c.width / 2) - 32, Math.floor(c.height / 2)];
        gl.readPixels(x, y, 64, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
        return Array.from(px);"""
    )
    assert len(set(pixels)) > 8  # the scene is drawn, not a cleared canvas
    assert console_errors(studio) == []


@pytest.mark.parametrize(("task", "index"), [("valve", 1), ("pick_place", 2), ("handle", 3)])
def test_expert_actions_replayed_in_the_page_match_python(
    studio: Any, task: str, index: int
) -> None:
    ref = rollout(task, index)
    assert ref.success[-1], "the expert solves this episode in Python"
    load(studio, task, index)
    page = studio.execute_script("return window.studio.replayActions(arguments[0])", ref.actions)
    results = page["results"]
    assert [r["success"] for r in results] == ref.success  # same rule, same step
    for mine, theirs in zip(results, ref.progress, strict=True):
        assert mine["progress"].keys() == theirs.keys()
        assert np.allclose([mine["progress"][k] for k in theirs], list(theirs.values()), atol=1e-6)
    difference = np.max(np.abs(np.asarray(page["qpos"]) - np.asarray(ref.qpos[-1])))
    print(
        f"{task} episode {index}: {len(ref.actions)} steps, max |qpos| difference {difference:.3g}"
    )
    assert difference <= QPOS_TOLERANCE
    assert console_errors(studio) == []


@pytest.mark.parametrize("task", ["pick_place", "valve"])
def test_success_rule_port_agrees_on_random_actions(studio: Any, task: str) -> None:
    ref = rollout(task, 4, policy="random", seed=7)
    load(studio, task, 4)
    results = studio.execute_script("return window.studio.replayActions(arguments[0])", ref.actions)
    for mine, theirs, success in zip(results["results"], ref.progress, ref.success, strict=True):
        assert mine["success"] == success
        assert np.allclose([mine["progress"][k] for k in theirs], list(theirs.values()), atol=1e-6)


def test_keyboard_and_mouse_move_the_end_effector(studio: Any) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    load(studio, "valve", 0)
    read = (
        "const s = window.studio.sim;"
        "return {ee: s.eePos(), steps: s.steps, gap: s.gripperOpening()}"
    )
    before = studio.execute_script(read)
    time.sleep(0.3)
    assert studio.execute_script(read)["steps"] == 0  # idle: no input, no steps
    canvas = studio.find_element("id", "canvas")

    def hold(key: str, steps: int) -> dict[str, Any]:
        """Hold ``key`` for ``steps`` more control steps (however slowly the page runs)."""
        ActionChains(studio).click(canvas).key_down(key).perform()
        target = studio.execute_script(read)["steps"] + steps  # counted from the key press
        deadline = time.monotonic() + 20
        while studio.execute_script(read)["steps"] < target and time.monotonic() < deadline:
            time.sleep(0.05)
        ActionChains(studio).key_up(key).perform()
        return studio.execute_script(read)

    moved = hold("d", 4)
    dx, dy, dz = np.subtract(moved["ee"], before["ee"])
    assert moved["steps"] >= 4
    assert dx > 0.04 and abs(dy) < 0.01 and abs(dz) < 0.01  # D is +x only
    after = hold("w", 3)
    assert after["ee"][1] - moved["ee"][1] > 0.02  # W is +y
    ActionChains(studio).send_keys(" ").perform()
    time.sleep(0.2)
    closed = hold("r", 4)
    assert closed["gap"] < after["gap"] - 0.02  # Space closed the jaws
    assert closed["ee"][2] > after["ee"][2] + 0.02  # R is up
    # Shift + drag to the right moves the gripper in the table plane, towards screen right (+x).
    from selenium.webdriver.common.keys import Keys

    start = studio.execute_script(read)
    drag = ActionChains(studio).key_down(Keys.SHIFT).move_to_element(canvas).click_and_hold()
    drag.move_by_offset(60, 0).move_by_offset(60, 0).release().key_up(Keys.SHIFT).perform()
    deadline = time.monotonic() + 20
    while studio.execute_script(read)["steps"] < start["steps"] + 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    dragged = np.subtract(studio.execute_script(read)["ee"], start["ee"])
    assert dragged[0] > 0.02 and abs(dragged[2]) < 0.005
    legend = studio.find_element("id", "legend").text
    assert "W / S" in legend and "Space" in legend
    assert console_errors(studio) == []


FEED = """
const [frames, done] = arguments;
const s = window.studio;
const events = [];
const sent = [];
const original = s.sendDemo.bind(s);
s.sendDemo = (demo) => {
  const p = original(demo);
  sent.push(p.then((r) => ({demo, result: r})));
  return p;
};
const listen = s.capture.onEvent;
s.capture.onEvent = (type, detail) => {
  if (type === "calibrated") events.push({type, calibration: detail.calibration});
  else if (type !== "step") events.push({type});
  listen(type, detail);
};
for (const f of frames) s.onHandFrame(f);
s.sendDemo = original;
s.capture.onEvent = listen;
Promise.all(sent).then(
  (demos) => done({events, demos, state: s.capture.state, panel: s.status.lines}),
  (e) => done({error: String(e)}),
);
"""


def test_hand_tracking_capture_becomes_a_replay_checked_dataset(studio: Any, server: Any) -> None:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    # A take that does what the expert did, by hand: calibrate, start, move, auto-stop on success.
    load(studio, "valve", 5)
    frames, truth = xr_session("valve", 5)
    out = studio.execute_async_script(FEED, frames)
    assert "error" not in out, out
    types = [e["type"] for e in out["events"]]
    assert types[:5] == ["calibrating", "armed", "calibrated", "live", "recording"], types
    calibration = next(e["calibration"] for e in out["events"] if e["type"] == "calibrated")
    assert np.allclose(calibration["translate"], truth.translate, atol=1e-9)
    q, t = np.asarray(calibration["hand_rotation"]), truth.hand_rotation
    assert min(np.abs(q - t).max(), np.abs(q + t).max()) < 1e-9
    from scipy.spatial.transform import Rotation

    page_r = Rotation.from_quat(np.roll(calibration["rotate"], -1)).as_matrix()
    assert np.allclose(page_r, truth.rotation, atol=1e-12)
    assert len(out["demos"]) == 1
    demo, result = out["demos"][0]["demo"], out["demos"][0]["result"]
    assert demo["input"] == "xr" and demo["success"]  # the page saw success and stopped
    assert result["replay_success"] and result["kept"]
    # The page's actions are the importer's: same resampling, same calibration model.
    assert result["max_action_difference"] < 1e-6
    assert out["panel"][0] == "demo 1: replays to success"  # shown in the headset too

    # A take stopped a third of the way: it cannot succeed on replay, so it is flagged, not added.
    load(studio, "valve", 5)
    frames, _ = xr_session("valve", 5, part=0.35)
    out = studio.execute_async_script(FEED, frames)
    assert "error" not in out, out
    result = out["demos"][0]["result"]
    assert not result["replay_success"] and not result["kept"]
    assert studio.find_element("id", "demo-count").text == "2"
    assert studio.find_element("id", "demo-kept").text == "1"

    folder = server.config.out / "valve"
    manifest = [json.loads(x) for x in (folder / "demos.jsonl").read_text().splitlines()]
    assert [m["replay_success"] for m in manifest] == [True, False]
    assert {m["mujoco_wasm"] for m in manifest} == {
        studio.execute_script("return window.studio.mujocoVersion")
    }
    log = json.loads((server.config.out / manifest[0]["log"]).read_text())
    assert log["format"] == "vla-bench-handtracking/1" and log["seed"] == demo["seed"]
    data = LeRobotDataset("vla-bench/local", root=folder / "dataset", video_backend="pyav")
    assert data.num_episodes == 1
    assert data[0]["task"] == demo["instruction"]
    assert tuple(data[0]["observation.images.front"].shape) == (3, 32, 32)
    assert any("FAILS on replay" in line for line in server.lines)
    assert console_errors(studio) == []


def test_a_keyboard_take_is_logged_and_replays_in_python(studio: Any, server: Any) -> None:
    """A take driven by actions (what keys do): logged as target poses, imported, replayed."""
    ref = rollout("handle", 6)
    load(studio, "handle", 6)
    out = studio.execute_async_script(
        """const [actions, done] = arguments;
        const s = window.studio;
        const original = s.sendDemo.bind(s);
        let sent = null;
        s.sendDemo = (demo) => (sent = original(demo).then((result) => ({demo, result})));
        s.toggleRecording();
        s.replayActions(actions);
        s.sendDemo = original;
        (sent ?? Promise.resolve(null)).then(done, (e) => done({error: String(e)}));""",
        ref.actions,
    )
    assert out is not None and "error" not in out, out  # success stopped the take and sent it
    demo, result = out["demo"], out["result"]
    assert (
        demo["input"] == "keyboard" and demo["success"] and len(demo["actions"]) == len(ref.actions)
    )
    assert len(demo["log"]["samples"]) == len(ref.actions) + 1  # the start pose, then one per step
    assert result["replay_success"] and result["kept"]
    assert result["max_action_difference"] < 1e-9  # pose differences give back the actions
    line = json.loads((server.config.out / "handle" / "demos.jsonl").read_text().splitlines()[-1])
    assert line["input"] == "keyboard" and line["replay_success"]
