"""Studio figures: WASM physics and render time in headless Chromium, WASM vs Python agreement,
and the cost of the env's 3D replay recording.

    MUJOCO_GL=egl .venv/bin/python plugins/studio/benchmarks/bench_studio.py [--episodes 50]

For each manipulation task, in headless Chromium (software WebGL, 1280x800 window):
- one ``mj_step`` of MuJoCo's WASM build (batches of 200 at the reset state) and one control
  step of the page's port of ``ManipulationEnv.step`` (50 substeps; averaged over the expert's
  episode), next to the same in Python MuJoCo;
- one three.js frame (render + a 1-pixel read-back so the GPU work is finished), at the page's
  canvas size and at 480x360;
Timings print as median (min) over repeats: with other work on the machine the minimum is the
least disturbed.
- the expert's actions of the first N track episodes replayed in the page: does success come at
  the same step as in Python, and the largest |qpos| difference at the end;
- the env's per-step pose recording (``PoseLog.add``) against a whole ``env.step``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ["HF_HUB_OFFLINE"] = "1"

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from studio_kit import rollout

TASKS = ("valve", "pick_place", "handle")

TIME_PAGE = """
const [actions, repeats, batch] = arguments;
const s = window.studio;
const control = [];
for (let r = 0; r < repeats; r++) {
  s.sim.reset();
  const t = performance.now();  // per episode: the page's clock is coarse (0.1 ms)
  for (const a of actions) s.sim.step(a);
  control.push((performance.now() - t) / actions.length);
}
s.sim.reset();
const mj = s.mujoco, m = s.sim.model, d = s.sim.data;
const step = [];
for (let r = 0; r < 20; r++) {
  const t = performance.now();
  for (let i = 0; i < batch; i++) mj.mj_step(m, d);
  step.push((performance.now() - t) / batch);
}
s.sim.reset();
const gl = s.renderer.getContext();
const px = new Uint8Array(4);
const frame = [];
for (let r = 0; r < 60; r++) {
  const t = performance.now();
  s.world.setPoses(d.xpos, d.xquat);
  s.renderer.render(s.world.scene, s.camera);
  gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
  frame.push(performance.now() - t);
}
const c = s.renderer.domElement;
const size = [c.width, c.height];
s.renderer.setSize(480, 360, false);
const small = [];
for (let r = 0; r < 60; r++) {
  const t = performance.now();
  s.renderer.render(s.world.scene, s.camera);
  gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
  small.push(performance.now() - t);
}
s.renderer.setSize(size[0], size[1], false);
return {control, step, frame, small, size};
"""

LOAD = """
const [query, done] = arguments;
window.studio.load(query).then(() => done(null), (e) => done(String(e)));
"""


def median(values: list[float]) -> float:
    """The median."""
    return float(statistics.median(values))


def figure(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    """``median (min)``: the minimum is the least disturbed by other load on the machine."""
    return f"{median(values) * scale:.{digits}f} ({min(values) * scale:.{digits}f})"


def python_times(
    task_name: str, actions: list[list[float]], repeats: int
) -> tuple[list[float], list[float]]:
    """Python control steps (s) on the same actions, and mj_step batches (s per step)."""
    import mujoco
    from vla_bench_training.demos import load_task

    task, _ = load_task(task_name)
    episode = task.track().episodes[0]
    env = task.make_env(episode, render=False)
    control = []
    try:
        for _ in range(repeats):
            env.reset(seed=episode.seed)
            t = time.perf_counter()
            for a in actions:
                env.step(np.asarray(a))
            control.append((time.perf_counter() - t) / len(actions))
        env.reset(seed=episode.seed)
        batches = []
        for _ in range(20):
            t = time.perf_counter()
            mujoco.mj_step(env.model, env.data, nstep=500)
            batches.append((time.perf_counter() - t) / 500)
    finally:
        env.close()
    return control, batches


def recording_cost(task_name: str, actions: list[list[float]]) -> tuple[float, float]:
    """Median ``PoseLog.add`` (µs) and median ``env.step`` (ms)."""
    from vla_bench_training.demos import load_task

    task, _ = load_task(task_name)
    episode = task.track().episodes[0]
    env = task.make_env(episode, render=False)
    try:
        env.reset(seed=episode.seed)
        steps = []
        for a in actions:
            t = time.perf_counter()
            env.step(np.asarray(a))
            steps.append(time.perf_counter() - t)
        log = env._poses  # the env's own recorder, timed alone
        adds = []
        for _ in range(2000):
            t = time.perf_counter()
            log.add(env.data)
            adds.append(time.perf_counter() - t)
    finally:
        env.close()
    return median(adds) * 1e6, median(steps) * 1e3


def main() -> None:
    """Print the figures (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=50, help="track episodes compared")
    args = parser.parse_args()

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from vla_bench_studio.server import StudioConfig, StudioServer

    with open("/proc/loadavg") as f:
        print(f"load average before: {f.read().split()[:3]}  ({os.cpu_count()} CPUs)")
    out = Path(tempfile.mkdtemp(prefix="bench-studio-"))
    server = StudioServer(StudioConfig(port=0, out=out), report=lambda line: None)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--use-angle=swiftshader",
                 "--enable-unsafe-swiftshader", "--window-size=1280,800",
                 f"--user-data-dir={out / 'profile'}"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    driver.set_script_timeout(600)
    try:
        t0 = time.perf_counter()
        driver.get(server.url)
        while not driver.execute_script("return Boolean(window.studio && window.studio.ready)"):
            time.sleep(0.05)
        print(f"page ready (WASM loaded, valve shown) in {time.perf_counter() - t0:.2f} s")
        version = driver.execute_script("return window.studio.mujocoVersion")
        import mujoco

        print(f"MuJoCo WASM {version} (mujoco-js) vs Python {mujoco.__version__}\n")
        print("median (min) over repeats; WASM and three.js in Chromium, Python in this process")
        header = (
            f"{'task':<11} {'mj_step µs WASM':>16} {'Python':>12} {'control step ms WASM':>21} "
            f"{'Python':>12} {'frame ms (canvas)':>22} {'frame ms 480x360':>17}"
        )
        print(header)
        agreement = {}
        for name in TASKS:
            ref = rollout(name, 0)
            assert driver.execute_async_script(LOAD, {"task": name, "index": 0}) is None
            page = driver.execute_script(TIME_PAGE, ref.actions, 15, 200)
            py_control, py_step = python_times(name, ref.actions, 15)
            w, h = page["size"]
            frame = figure(page["frame"], 1, 0) + f" ({w}x{h})"
            print(
                f"{name:<11} {figure(page['step'], 1e3):>16} {figure(py_step, 1e6):>12} "
                f"{figure(page['control'], 1, 2):>21} {figure(py_control, 1e3, 2):>12} "
                f"{frame:>22} {figure(page['small'], 1, 0):>17}"
            )
            agreement[name] = compare(driver, name, args.episodes)
        print(f"\nexpert actions of the first {args.episodes} track episodes replayed in the page:")
        for name, (same, total, worst, where) in agreement.items():
            print(
                f"  {name:<11} success at the same step in {same}/{total}; largest final "
                f"|qpos| difference {worst:.3g} (episode {where})"
            )
        print("\n3D replay recording in the env (PoseLog.add per control step):")
        for name in TASKS:
            ref = rollout(name, 0)
            add_us, step_ms = recording_cost(name, ref.actions)
            print(
                f"  {name:<11} {add_us:.2f} µs per step against a {step_ms:.2f} ms step "
                f"({100 * add_us / (step_ms * 1e3):.3f} %)"
            )
    finally:
        driver.quit()
        server.shutdown()
        server.server_close()
    with open("/proc/loadavg") as f:
        print(f"load average after: {f.read().split()[:3]}")


def compare(driver: object, name: str, episodes: int) -> tuple[int, int, float, int]:
    """Replay the expert's actions of ``episodes`` track episodes in the page."""
    same, worst, where = 0, 0.0, -1
    for index in range(episodes):
        ref = rollout(name, index)
        assert driver.execute_async_script(LOAD, {"task": name, "index": index}) is None  # type: ignore[attr-defined]
        page = driver.execute_script(  # type: ignore[attr-defined]
            "return window.studio.replayActions(arguments[0])", ref.actions
        )
        same += [r["success"] for r in page["results"]] == ref.success
        difference = float(np.max(np.abs(np.asarray(page["qpos"]) - np.asarray(ref.qpos[-1]))))
        if difference >= worst:
            worst, where = difference, index
    return same, episodes, worst, where


if __name__ == "__main__":
    main()
