// The 3D replay viewer: an episode's recorded body poses (vla-bench-replay3d/1, written by the
// manipulation env) drawn with three.js, with orbit, scrub and play. Bundled with three.js into
// one classic script (global VlaReplay) that a report inlines: no network, no WASM.
//
// Markup: <div data-vla-replay><script type="application/json">{replay}</script></div>;
// mountAll() mounts every such element not mounted yet (data-lazy: after a click).

import * as THREE from "three";
import { OrbitControls } from "three/examples/jsm/controls/OrbitControls.js";
import { buildScene, lookThrough, orbitCamera } from "./scene3d.js";

const FORMAT = "vla-bench-replay3d/1";

function floats(b64) {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return new Float32Array(bytes.buffer);
}

function el(tag, props = {}, children = []) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

/** Mount a viewer for `data` (a parsed replay) in `element`; returns its controller. */
export function mount(element, data) {
  if (data.format !== FORMAT) throw new Error(`not a ${FORMAT} replay: ${data.format}`);
  const nbody = data.bodies.length;
  const pos = floats(data.pos);
  const quat = floats(data.quat);
  if (pos.length !== data.steps * nbody * 3 || quat.length !== data.steps * nbody * 4) {
    throw new Error(`replay arrays do not match ${data.steps} steps of ${nbody} bodies`);
  }
  const world = buildScene(data);
  const canvas = el("canvas", { className: "vla-replay-canvas" });
  canvas.style.cssText = "display:block;width:100%;aspect-ratio:4/3;background:#8c99a6;border-radius:4px";
  const play = el("button", { type: "button", textContent: "play" });
  const slider = el("input", { type: "range", min: 0, max: data.steps - 1, step: "any", value: 0 });
  slider.style.flex = "1";
  const label = el("span", { textContent: "" });
  const view = el("select", {}, [new Option("orbit", "orbit"), ...Object.keys(world.cameras).map((c) => new Option(c, c))]);
  const bar = el("div", {}, [play, slider, label, view]);
  bar.style.cssText = "display:flex;gap:8px;align-items:center;margin-top:4px;font:12px system-ui,sans-serif";
  const caption = el("div", { textContent: `${data.task ?? ""}${data.seed != null ? ` · seed ${data.seed}` : ""} · ${data.instruction ?? ""}` });
  caption.style.cssText = "font:12px system-ui,sans-serif;color:#445;margin-bottom:4px";
  element.replaceChildren(caption, canvas, bar);

  const renderer = new THREE.WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true });
  const camera = orbitCamera(4 / 3);
  const controls = new OrbitControls(camera, canvas);
  controls.target.set(0, 0.05, 0.05);
  controls.update();
  const p = new Float32Array(nbody * 3);
  const q = new Float32Array(nbody * 4);
  const qa = new THREE.Quaternion();
  const qb = new THREE.Quaternion();
  let frame = 0;
  let playing = false;
  let last = null;

  function pose(f) {
    const i = Math.min(Math.floor(f), data.steps - 1);
    const j = Math.min(i + 1, data.steps - 1);
    const a = f - i;
    for (let b = 0; b < nbody; b++) {
      for (let k = 0; k < 3; k++) p[3 * b + k] = pos[(i * nbody + b) * 3 + k] * (1 - a) + pos[(j * nbody + b) * 3 + k] * a;
      const oi = (i * nbody + b) * 4;
      const oj = (j * nbody + b) * 4;
      qa.set(quat[oi + 1], quat[oi + 2], quat[oi + 3], quat[oi]);
      qb.set(quat[oj + 1], quat[oj + 2], quat[oj + 3], quat[oj]);
      qa.slerp(qb, a);
      q.set([qa.w, qa.x, qa.y, qa.z], 4 * b);
    }
    world.setPoses(p, q);
  }

  function draw() {
    const w = canvas.clientWidth;
    const h = canvas.clientHeight;
    if (w > 0 && h > 0 && (canvas.width !== w || canvas.height !== h)) {
      renderer.setSize(w, h, false);
      camera.aspect = w / h;
      camera.updateProjectionMatrix();
    }
    pose(frame);
    const eye = view.value === "orbit" ? camera : lookThroughCamera();
    renderer.render(world.scene, eye);
    label.textContent = `step ${Math.round(frame)} / ${data.steps - 1}`;
    slider.value = frame;
  }

  const fixed = new THREE.PerspectiveCamera(45, 4 / 3, 0.01, 20);
  fixed.up.set(0, 0, 1);
  function lookThroughCamera() {
    pose(frame);
    lookThrough(fixed, world.cameras[view.value]);
    fixed.aspect = camera.aspect;
    fixed.updateProjectionMatrix();
    return fixed;
  }

  function loop(time) {
    if (!playing) return;
    if (last !== null) frame += ((time - last) / 1000) * (data.control_hz ?? 10);
    last = time;
    if (frame >= data.steps - 1) {
      frame = data.steps - 1;
      playing = false;
      play.textContent = "play";
    }
    draw();
    if (playing) requestAnimationFrame(loop);
  }

  const controller = {
    data,
    renderer,
    world,
    play() {
      if (frame >= data.steps - 1) frame = 0;
      playing = true;
      last = null;
      play.textContent = "pause";
      requestAnimationFrame(loop);
    },
    pause() {
      playing = false;
      play.textContent = "play";
    },
    seek(f) {
      frame = Math.max(0, Math.min(data.steps - 1, f));
      draw();
    },
    get frame() {
      return frame;
    },
  };
  play.onclick = () => (playing ? controller.pause() : controller.play());
  slider.oninput = () => controller.seek(Number(slider.value));
  view.onchange = draw;
  controls.addEventListener("change", draw);
  new ResizeObserver(draw).observe(canvas);
  element.vlaReplay = controller;
  draw();
  return controller;
}

/** Mount every replay element on the page not mounted yet. */
export function mountAll(root = document) {
  for (const element of root.querySelectorAll("[data-vla-replay]")) {
    if (element.vlaReplay || element.dataset.mounting) continue;
    const data = JSON.parse(element.querySelector('script[type="application/json"]').textContent);
    if (element.hasAttribute("data-lazy")) {
      element.dataset.mounting = "1";
      const open = el("button", { type: "button", textContent: "open 3D replay" });
      open.onclick = () => mount(element, data);
      element.append(open);
    } else {
      mount(element, data);
    }
  }
}
