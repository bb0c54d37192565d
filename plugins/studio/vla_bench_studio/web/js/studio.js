// The studio page: a track episode on MuJoCo's WASM build, drawn with three.js, driven by
// keyboard / mouse / gamepad or WebXR hand tracking, with demo recording. window.studio is the
// Studio instance (the browser tests and the benchmark drive it).

import * as THREE from "three";
import { OrbitControls } from "three/examples/jsm/controls/OrbitControls.js";
import { Calibration, HandCapture } from "./handcapture.js";
import { quatConj } from "./quat.js";
import { buildScene, lookThrough, mjQuat, orbitCamera } from "./scene3d.js";
import { Sim } from "./sim.js";
import { LEGEND, Teleop } from "./teleop.js";
import { readFrame, startSession, xrUnavailable } from "./xr.js";

const $ = (id) => document.getElementById(id);
const xyzw = (q) => [q[1], q[2], q[3], q[0]];
const IDENTITY = { rotate: [1, 0, 0, 0], translate: [0, 0, 0], scale: 1, hand_rotation: [1, 0, 0, 0] };
// Before calibrating in XR the table stands 0.6 m ahead of the starting spot, 0.75 m high.
const XR_DEFAULT = new Calibration({ rotate: [Math.SQRT1_2, Math.SQRT1_2, 0, 0], translate: [0, -0.6, -0.75] });

async function getJSON(url, options) {
  const response = await fetch(url, options);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || `${url}: HTTP ${response.status}`);
  return body;
}

function dispose(object) {
  object.traverse((o) => {
    o.geometry?.dispose();
    o.material?.dispose?.();
  });
}

/** Text and a hold-progress ring drawn in the scene, for the headset (the DOM is not visible). */
class XRStatus {
  constructor() {
    this.canvas = Object.assign(document.createElement("canvas"), { width: 512, height: 192 });
    this.texture = new THREE.CanvasTexture(this.canvas);
    this.panel = new THREE.Mesh(new THREE.PlaneGeometry(0.36, 0.135), new THREE.MeshBasicMaterial({ map: this.texture, transparent: true }));
    // In the task frame: above the back of the table, facing the demonstrator (-y).
    this.panel.position.set(0, 0.32, 0.42);
    this.panel.rotation.x = Math.PI / 2;
    this.ring = new THREE.Mesh(new THREE.RingGeometry(0.014, 0.019, 32), new THREE.MeshBasicMaterial({ color: 0xe9c46a, side: THREE.DoubleSide }));
    this.ring.visible = false;
    this.lines = [];
  }

  /** Show `lines` on the panel. */
  show(lines) {
    this.lines = lines;
    const g = this.canvas.getContext("2d");
    g.fillStyle = "rgba(29, 35, 42, 0.85)";
    g.fillRect(0, 0, this.canvas.width, this.canvas.height);
    g.fillStyle = "#fff";
    g.font = "bold 30px system-ui, sans-serif";
    lines.forEach((line, i) => g.fillText(line, 20, 48 + 46 * i, this.canvas.width - 40));
    this.texture.needsUpdate = true;
  }

  /** The calibration hold's progress (0..1) as a ring at the pinch point; hidden at 0. */
  progress(fraction, position) {
    this.ring.visible = fraction > 0 && fraction < 1;
    if (!this.ring.visible) return;
    this.ring.geometry.dispose();
    this.ring.geometry = new THREE.RingGeometry(0.014, 0.019, 32, 1, Math.PI / 2, -2 * Math.PI * fraction);
    this.ring.position.copy(position);
  }
}

class Studio {
  constructor() {
    this.ready = false;
    this.canvas = $("canvas");
    this.renderer = new THREE.WebGLRenderer({ canvas: this.canvas, antialias: true });
    this.renderer.setPixelRatio(Math.min(2, window.devicePixelRatio));
    this.renderer.xr.enabled = true;
    this.camera = orbitCamera(1);
    this.controls = new OrbitControls(this.camera, this.canvas);
    this.controls.target.set(0, 0.05, 0.05);
    this.controls.update();
    // Software WebGL takes 100+ ms a frame: draw only when something moved.
    this.dirty = true;
    this.controls.addEventListener("change", () => (this.dirty = true));
    this.view = "orbit";
    this.root = new THREE.Group();
    this.markers = [0x2a9d8f, 0xe9c46a].map((color) => {
      const m = new THREE.Mesh(new THREE.SphereGeometry(0.008), new THREE.MeshBasicMaterial({ color }));
      m.visible = false;
      return m;
    });
    this.status = new XRStatus();
    this.clock = { last: null, acc: 0, running: false };
    this.recording = null;
    this.over = null;
    this.xrSession = null;
  }

  async init() {
    this.config = await getJSON("/api/config");
    const { default: loadMujoco } = await import("/vendor/mujoco_wasm.js");
    this.mujoco = await loadMujoco();
    this.mujocoVersion = this.mujoco.mj_versionString();
    $("versions").textContent = `MuJoCo ${this.mujocoVersion} (WASM, mujoco-js ${this.config.mujoco_js}) · Python MuJoCo ${this.config.mujoco_python} · three ${this.config.three}`;
    $("legend").replaceChildren(...LEGEND.map((line) => Object.assign(document.createElement("li"), { textContent: line })));
    $("task").replaceChildren(...this.config.tasks.map((t) => new Option(t, t, false, t === this.config.task)));
    this.bindInputs();
    await this.load({ task: this.config.task, index: this.config.episode, seed: this.config.seed });
    this.renderer.setAnimationLoop((time, frame) => this.frame(time, frame));
    setInterval(() => fetch("/api/ping").catch(() => {}), 20000);
    this.setupXR();
    $("loading").hidden = true;
    this.ready = true;
  }

  /** Open a track episode (`index`) or any scene `seed` of `task`. */
  async load({ task, index = 0, seed = null }) {
    const query = new URLSearchParams({ task });
    if (seed !== null && seed !== undefined && seed !== "") query.set("seed", seed);
    else query.set("index", index);
    const episode = await getJSON(`/api/episode?${query}`);
    if (this.sim) this.sim.dispose();
    if (this.world) {
      this.root.remove(this.status.panel);
      this.world.scene.remove(...this.markers, this.status.ring);
      dispose(this.world.scene); // its lights and the last episode's bodies (in root)
      this.root.clear();
    }
    this.episode = episode;
    this.sim = new Sim(this.mujoco, episode);
    this.world = buildScene(episode.scene);
    for (const body of this.world.bodies) this.root.add(body);
    this.root.add(this.status.panel);
    this.world.scene.add(this.root, ...this.markers, this.status.ring);
    const ctl = episode.controller;
    this.teleop = new Teleop({ low: ctl.action_low, high: ctl.action_high });
    this.recording = null; // a keyboard take never spans two episodes
    this.showRecording(false);
    const previous = this.capture;
    this.capture = new HandCapture({
      hz: ctl.control_hz,
      low: ctl.action_low,
      high: ctl.action_high,
      scale: Number($("scale").value),
      target: {
        gripperPose: () => ({ pos: this.sim.eePos(), quat: this.sim.eeQuat() }),
        reset: () => this.resetEpisode(),
        step: (action) => this.applyAction(action),
        about: () => this.about(),
      },
      onEvent: (type, detail) => this.onCaptureEvent(type, detail),
    });
    if (previous?.calibration) {
      // Another episode, the same demonstrator: keep the calibration, take control on release.
      this.capture.calibration = previous.calibration;
      this.capture.setState("armed");
    }
    $("task").value = episode.task;
    $("episode").replaceChildren(
      ...episode.track_seeds.map((s, i) => new Option(`${i} (seed ${s})`, i, false, i === episode.episode)),
    );
    $("seed").value = episode.episode < 0 ? episode.seed : "";
    $("instruction").textContent = episode.instruction;
    $("max-steps").textContent = episode.max_steps;
    this.setDemoCount(episode.demos);
    this.resetEpisode();
    return episode;
  }

  /** Back to the episode's initial state; the control clock waits for the first input. */
  resetEpisode() {
    this.sim.reset();
    this.dirty = true;
    this.clock.running = false;
    this.over = null;
    this.teleop.gripper = -1;
    this.showStatus(this.sim.result);
    $("banner").hidden = true;
  }

  about() {
    return {
      task: this.episode.task,
      seed: this.episode.seed,
      episode: this.episode.episode,
      instruction: this.episode.instruction,
      success: this.sim.result.success,
      steps: this.sim.steps,
      mujoco_wasm: this.mujocoVersion,
    };
  }

  /** One control step with `action`; returns the step's result (success, progress, failure, done). */
  applyAction(action) {
    const result = { ...this.sim.step(action), done: this.sim.steps >= this.episode.max_steps };
    this.dirty = true;
    if (this.recording) {
      this.recording.actions.push(Array.from(action));
      this.recording.samples.push(this.keyboardSample(action[6] > 0));
    }
    this.showStatus(result);
    if (!this.over && (result.success || result.failure)) {
      this.over = { step: this.sim.steps, success: result.success };
      const banner = $("banner");
      banner.hidden = false;
      banner.className = result.success ? "success" : "failure";
      banner.textContent = result.success ? `success at step ${this.sim.steps}` : result.failure;
    }
    if (this.recording && (result.success || result.failure || result.done)) this.stopRecording();
    return result;
  }

  keyboardSample(pinch) {
    return {
      t: this.sim.steps / this.episode.controller.control_hz,
      position: [...this.sim.targetPos],
      orientation: xyzw(this.sim.targetQuat),
      pinch,
    };
  }

  /** Replay actions as fast as possible; per-step results and the final qpos (tests). */
  replayActions(actions) {
    const results = actions.map((a) => this.applyAction(a));
    return { results, qpos: Array.from(this.sim.data.qpos), state: this.sim.state() };
  }

  // -- the frame loop ---------------------------------------------------------------------------
  frame(time, xrFrame) {
    if (xrFrame) this.onHandFrame(readFrame(time, xrFrame, this.renderer.xr.getReferenceSpace()));
    else this.keyboardTicks(time);
    this.resize();
    if (!this.dirty && !xrFrame) return;
    this.dirty = false;
    this.status.panel.visible = Boolean(this.xrSession);
    if (this.view !== "orbit" && !this.xrSession) lookThrough(this.camera, this.world.cameras[this.view]);
    this.world.setPoses(this.sim.data.xpos, this.sim.data.xquat);
    this.renderer.render(this.world.scene, this.camera);
  }

  keyboardTicks(time) {
    const period = 1000 / this.episode.controller.control_hz;
    if (this.clock.last === null) this.clock.last = time;
    this.clock.acc = Math.min(this.clock.acc + time - this.clock.last, 3 * period);
    this.clock.last = time;
    while (this.clock.acc >= period) {
      this.clock.acc -= period;
      this.tick();
    }
  }

  /** One control period of keyboard / mouse / gamepad teleoperation. */
  tick() {
    const pad = navigator.getGamepads?.().find((p) => p && p.mapping === "standard") ?? null;
    const action = this.teleop.action(pad);
    const idle = action.slice(0, 6).every((v) => v === 0) && action[6] === -1;
    if (!this.clock.running && idle) return;
    this.clock.running = true;
    if (this.over && !this.over.success) return;
    this.applyAction(action);
  }

  /** One tracked hand frame (the XR frame loop and the tests call this). */
  onHandFrame(frame) {
    this.capture.onFrame(frame);
    ["right", "left"].forEach((hand, i) => {
      const joints = frame.hands?.[hand];
      this.markers[i].visible = Boolean(joints && this.xrSession);
      if (joints) {
        const a = joints["thumb-tip"].position;
        const b = joints["index-finger-tip"].position;
        this.markers[i].position.set((a[0] + b[0]) / 2, (a[1] + b[1]) / 2, (a[2] + b[2]) / 2);
      }
    });
    this.status.progress(this.capture.state === "calibrating" ? this.capture.progress : 0, this.markers[0].position);
    this.status.ring.lookAt(new THREE.Vector3(...(frame.head?.position ?? [0, 1.6, 0])));
    if (this.xrSession) this.placeRoot(this.capture.calibration ?? XR_DEFAULT);
  }

  /** Put the task frame where the calibration says it is in XR space. */
  placeRoot(cal) {
    const inverse = mjQuat(quatConj(cal.rotate));
    const t = new THREE.Vector3(...cal.translate).applyQuaternion(inverse).multiplyScalar(-1 / cal.scale);
    this.root.position.copy(t);
    this.root.quaternion.copy(inverse);
    this.root.scale.setScalar(1 / cal.scale);
  }

  onCaptureEvent(type, detail) {
    const text = {
      uncalibrated: "not calibrated: pinch (right hand) and hold still for 1 s",
      calibrating: "calibrating: keep holding still…",
      armed: "calibrated: release the pinch to take control",
      live: "live: your hand drives the gripper; left pinch starts a take",
      recording: "recording: left pinch stops, 1 s left pinch discards",
    }[type];
    if (text) {
      $("xr-state").textContent = text;
      this.status.show([...text.split(": "), `demos: ${$("demo-count").textContent} sent, ${$("demo-kept").textContent} kept`]);
    }
    if (type === "recording") this.showRecording(true);
    if (type === "live" || type === "discarded") this.showRecording(false);
    if (type === "demo") this.sendDemo(detail);
  }

  // -- recording ------------------------------------------------------------------------------
  toggleRecording() {
    if (this.capture.state === "live") return this.capture.startRecording();
    if (this.capture.state === "recording") return this.capture.stopRecording();
    if (this.recording) return this.stopRecording();
    this.resetEpisode();
    this.recording = { samples: [this.keyboardSample(false)], actions: [] };
    this.clock.running = true;
    this.showRecording(true);
  }

  stopRecording() {
    const take = this.recording;
    this.recording = null;
    this.showRecording(false);
    const about = this.about();
    const log = { format: "vla-bench-handtracking/1", source: "vla-bench-studio (keyboard)", task: about.task, seed: about.seed, instruction: about.instruction, samples: take.samples };
    return this.sendDemo({ input: "keyboard", log, calibration: IDENTITY, actions: take.actions, ...about });
  }

  discard() {
    if (this.capture.state === "recording") return this.capture.discard();
    this.recording = null;
    this.showRecording(false);
  }

  /** Send a finished take to the server; resolves to its replay check. */
  async sendDemo(demo) {
    const item = document.createElement("li");
    item.textContent = `seed ${demo.seed}, ${demo.actions.length} steps: checking replay…`;
    $("demo-list").prepend(item);
    try {
      const r = await getJSON("/api/demos", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(demo) });
      item.className = r.replay_success ? "ok" : "flag";
      item.textContent = `demo ${r.demo}, seed ${demo.seed}: ${r.replay_success ? "replays to success" : "FAILS on replay in Python"}${r.kept ? ", kept" : ", not added"}`;
      this.setDemoCount(r);
      this.status.show([`demo ${r.demo}: ${r.replay_success ? "replays to success" : "FAILS on replay"}`, `demos: ${r.received} sent, ${r.added} kept`]);
      return r;
    } catch (error) {
      item.className = "flag";
      item.textContent = `demo not saved: ${error.message}`;
      throw error;
    }
  }

  setDemoCount(counts) {
    $("demo-count").textContent = counts.received;
    $("demo-kept").textContent = counts.added;
  }

  showRecording(on) {
    $("record").classList.toggle("on", on);
    $("record").textContent = on ? "stop" : "record";
    $("discard").disabled = !on;
    $("rec-state").textContent = on ? "recording (stops at success or the step limit)" : "not recording";
  }

  showStatus(result) {
    const over = this.sim.steps > this.episode.max_steps ? " (past the task's limit)" : "";
    $("steps").textContent = `${this.sim.steps}${over}`;
    $("success").textContent = result.success ? "yes" : "no";
    $("success").className = result.success ? "yes" : "no";
    $("progress").textContent = Object.entries(result.progress ?? {}).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(", ");
    $("gripper").textContent = `${(this.sim.gripperOpening() * 100).toFixed(1)} cm`;
  }

  // -- inputs ---------------------------------------------------------------------------------
  bindInputs() {
    const onControl = (e) => e.target.closest?.("input, select");
    window.addEventListener("keydown", (e) => {
      if (onControl(e)) return;
      if (e.repeat && e.code === "Space") return e.preventDefault(); // a held Space toggles once
      const special = {
        Backspace: () => this.resetEpisode(),
        BracketLeft: () => this.stepEpisode(-1),
        BracketRight: () => this.stepEpisode(1),
        Enter: () => this.toggleRecording(),
        KeyX: () => this.discard(),
        Digit1: () => this.setView("orbit"),
        Digit2: () => this.setView("front"),
        Digit3: () => this.setView("wrist"),
      }[e.code];
      if (special) {
        if (!e.repeat) special();
        e.preventDefault();
      } else if (this.teleop.keyDown(e.code, e.shiftKey)) {
        e.preventDefault();
      }
    });
    window.addEventListener("keyup", (e) => this.teleop.keyUp(e.code, e.shiftKey));
    window.addEventListener("blur", () => this.teleop.releaseAll());
    $("reset").onclick = () => this.resetEpisode();
    $("task").onchange = () => this.load({ task: $("task").value });
    $("episode").onchange = () => this.load({ task: this.episode.task, index: Number($("episode").value) });
    $("seed").onchange = () => this.load({ task: this.episode.task, seed: $("seed").value });
    $("camera").onchange = () => this.setView($("camera").value);
    $("record").onclick = () => this.toggleRecording();
    $("discard").onclick = () => this.discard();
    $("scale").onchange = () => { this.capture.scale = Number($("scale").value); };
    this.bindMouse();
  }

  bindMouse() {
    const ray = new THREE.Raycaster();
    const hit = (e, z) => {
      const r = this.canvas.getBoundingClientRect();
      ray.setFromCamera(new THREE.Vector2(((e.clientX - r.left) / r.width) * 2 - 1, -((e.clientY - r.top) / r.height) * 2 + 1), this.camera);
      return ray.ray.intersectPlane(new THREE.Plane(new THREE.Vector3(0, 0, 1), -z), new THREE.Vector3());
    };
    let drag = null;
    this.canvas.addEventListener("pointerdown", (e) => {
      if (!e.shiftKey) return;
      const z = this.sim.eePos()[2];
      drag = { z, at: hit(e, z) };
      this.controls.enabled = false; // before OrbitControls sees the press: no pan
    }, { capture: true });
    this.canvas.addEventListener("pointermove", (e) => {
      if (!drag) return;
      const at = hit(e, drag.z);
      if (at && drag.at) this.teleop.mouseMove(at.x - drag.at.x, at.y - drag.at.y, 0);
      drag.at = at;
    });
    window.addEventListener("pointerup", () => {
      drag = null;
      this.controls.enabled = this.view === "orbit";
    });
    this.canvas.addEventListener("wheel", (e) => {
      if (!e.shiftKey) return;
      e.preventDefault();
      e.stopImmediatePropagation();
      this.teleop.mouseMove(0, 0, -e.deltaY * 0.0002);
    }, { capture: true, passive: false });
  }

  stepEpisode(delta) {
    const n = this.episode.track_seeds.length;
    const index = Math.max(0, this.episode.episode) + delta;
    this.load({ task: this.episode.task, index: ((index % n) + n) % n });
  }

  setView(view) {
    this.view = view;
    this.dirty = true;
    $("camera").value = view;
    this.controls.enabled = view === "orbit";
    if (view === "orbit") {
      this.camera.fov = 45;
      this.camera.position.set(-0.42, -0.88, 0.62);
      this.camera.lookAt(this.controls.target);
      this.camera.updateProjectionMatrix();
      this.controls.update();
    }
  }

  resize() {
    const w = this.canvas.clientWidth;
    const h = this.canvas.clientHeight;
    const size = this.renderer.getSize(new THREE.Vector2());
    if (!this.xrSession && (size.x !== w || size.y !== h) && w > 0 && h > 0) {
      this.renderer.setSize(w, h, false);
      this.camera.aspect = w / h;
      this.camera.updateProjectionMatrix();
      this.dirty = true;
    }
  }

  async setupXR() {
    const reason = await xrUnavailable();
    const button = $("xr");
    if (reason) {
      button.title = reason;
      $("xr-state").textContent = reason;
      return;
    }
    button.disabled = false;
    button.onclick = async () => {
      try {
        this.xrSession = await startSession(this.renderer);
        this.xrSession.addEventListener("end", () => {
          this.xrSession = null;
          this.root.position.set(0, 0, 0);
          this.root.quaternion.identity();
          this.root.scale.setScalar(1);
        });
      } catch (error) {
        $("xr-state").textContent = `could not start XR: ${error.message}`;
      }
    };
  }
}

const studio = new Studio();
window.studio = studio;
studio.init().catch((error) => {
  $("loading").textContent = `failed: ${error.message}`;
  console.error(error);
});
