// Hand-tracking teleoperation and demo capture, fed one tracked frame at a time.
//
// The WebXR frame loop (xr.js) turns each XRFrame into a plain frame and calls onFrame(); a test
// feeds synthetic frames to the same function. A frame is
//   {t: seconds, head: {position, orientation} | null,
//    hands: {right: {wrist: {position, orientation}, "thumb-tip": {position},
//                    "index-finger-tip": {position}}, left: {...}}}
// with positions in metres and orientations (x, y, z, w) as WebXR gives them, in the XR
// reference space (y up).
//
// The mapping to the task is the calibration model of `bench import-handtracking`
// (vla_bench_training/handtracking.py): p_task = scale * R p + translate and
// q_task = q_R q q_hand, where the position is the pinch point (between thumb and index tips)
// and the orientation the wrist's. Calibrating (pinch and hold still for a second) sets R from
// the head's facing direction (task +y ahead, +z up), and translate and q_hand so that the hand
// sits on the gripper. Control follows the importer exactly: calibrated samples are resampled at
// the task's control rate from the session's first sample (positions linearly, orientations by
// slerp, pinch held from the last sample), and step k's action moves pose k to pose k+1
// (position delta, relative rotation as extrinsic x-y-z angles, gripper +1 while pinched),
// clipped to the action bounds. So what the page simulates is what the import replays.

import {
  matVec,
  matrixToQuat,
  quatConj,
  quatMul,
  quatRotate,
  quatToEulerXYZ,
  quatToMatrix,
  quatToRotvec,
  rotvecToQuat,
} from "./quat.js";

export const PINCH_CLOSE_M = 0.015;
/** Thumb-index distance below which an open hand counts as pinched (m). */
export const PINCH_OPEN_M = 0.035;
/** Distance above which a pinched hand counts as open again (m): the hysteresis band. */
export const HOLD_S = 1.0;
/** How long a still pinch must last to calibrate, and a left pinch to discard a take (s). */
export const HOLD_STILL_M = 0.02;
export const LOG_FORMAT = "vla-bench-handtracking/1";

/** A pinch detector with hysteresis on the thumb-index distance. */
export class Pinch {
  constructor(close = PINCH_CLOSE_M, open = PINCH_OPEN_M) {
    this.close = close;
    this.open = open;
    this.pinched = false;
  }

  update(distance) {
    if (this.pinched ? distance > this.open : distance < this.close) this.pinched = !this.pinched;
    return this.pinched;
  }
}

const wxyz = (q) => [q[3], q[0], q[1], q[2]];
const xyzw = (q) => [q[1], q[2], q[3], q[0]];

function handSample(hand) {
  const wrist = hand?.wrist;
  const thumb = hand?.["thumb-tip"];
  const index = hand?.["index-finger-tip"];
  if (!wrist || !thumb || !index) return null;
  const a = thumb.position;
  const b = index.position;
  return {
    position: [0, 1, 2].map((i) => (a[i] + b[i]) / 2),
    quat: wxyz(wrist.orientation),
    distance: Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]),
  };
}

/** The XR-to-task rotation for a viewer facing `head` (forward becomes +y, up +z). */
export function facingRotation(head) {
  let f = [0, 0, -1];
  if (head) f = quatRotate(wxyz(head.orientation), f);
  const n = Math.hypot(f[0], f[2]);
  const forward = n > 1e-6 ? [f[0] / n, 0, f[2] / n] : [0, 0, -1];
  const up = [0, 1, 0];
  const right = [forward[1] * up[2] - forward[2] * up[1], forward[2] * up[0] - forward[0] * up[2], forward[0] * up[1] - forward[1] * up[0]];
  return [right, forward, up];
}

/** Calibration in the form `bench import-handtracking --calibration` reads. */
export class Calibration {
  constructor({ rotate = [1, 0, 0, 0], translate = [0, 0, 0], scale = 1, hand_rotation = [1, 0, 0, 0] } = {}) {
    this.rotate = rotate;
    this.translate = translate;
    this.scale = scale;
    this.hand_rotation = hand_rotation;
    this.matrix = quatToMatrix(rotate);
  }

  position(p) {
    const r = matVec(this.matrix, p);
    return r.map((v, i) => this.scale * v + this.translate[i]);
  }

  orientation(q) {
    return quatMul(quatMul(this.rotate, q), this.hand_rotation);
  }

  /** The same rotation and scale, moved so that raw pose (p, q) lands on the task pose (pos, quat). */
  anchored(p, q, pos, quat) {
    const r = matVec(this.matrix, p);
    return new Calibration({
      rotate: this.rotate,
      scale: this.scale,
      translate: pos.map((v, i) => v - this.scale * r[i]),
      hand_rotation: quatMul(quatConj(quatMul(this.rotate, q)), quat),
    });
  }

  toJSON() {
    return { rotate: this.rotate, translate: this.translate, scale: this.scale, hand_rotation: this.hand_rotation };
  }
}

function slerp(q0, q1, alpha) {
  // scipy's Slerp: q0 * exp(alpha * log(q0^-1 q1)).
  const r = quatToRotvec(quatMul(quatConj(q0), q1));
  return quatMul(q0, rotvecToQuat(r.map((v) => v * alpha)));
}

/** Calibrated samples of one control session and the control steps taken on them. */
class Session {
  constructor(t0, hz) {
    this.t0 = t0;
    this.hz = hz;
    this.t = [];
    this.pos = [];
    this.quat = [];
    this.pinch = [];
    this.k = 0;
    this.previous = null;
    this.raw = [];
    this.actions = [];
  }

  add(t, pos, quat, pinch, raw) {
    this.t.push(t);
    this.pos.push(pos);
    this.quat.push(quat);
    this.pinch.push(pinch);
    this.raw.push(raw);
    if (this.previous === null) this.previous = { pos, quat, pinch };
  }

  /** The pose at time T inside the samples (numpy.interp, scipy Slerp, zero-order-hold pinch). */
  at(T) {
    const n = this.t.length;
    let i = 0;
    while (i + 1 < n && this.t[i + 1] <= T) i++;
    if (i + 1 >= n) return { pos: this.pos[n - 1], quat: this.quat[n - 1], pinch: this.pinch[n - 1] };
    const dt = this.t[i + 1] - this.t[i];
    const alpha = (T - this.t[i]) / dt;
    const pos = this.pos[i].map((v, k) => ((this.pos[i + 1][k] - v) / dt) * (T - this.t[i]) + v);
    return { pos, quat: slerp(this.quat[i], this.quat[i + 1], alpha), pinch: this.pinch[i] };
  }

  /** Control steps now due: [action, ...] for every tick the latest sample has passed. */
  due(low, high) {
    const out = [];
    const last = this.t[this.t.length - 1];
    while (last >= this.t0 + (this.k + 1) / this.hz) {
      const pose = this.at(this.t0 + (this.k + 1) / this.hz);
      const previous = this.previous;
      const rel = quatMul(pose.quat, quatConj(previous.quat));
      const raw = [...pose.pos.map((v, i) => v - previous.pos[i]), ...quatToEulerXYZ(rel), pose.pinch ? 1 : -1];
      out.push(raw.map((v, i) => Math.min(Math.max(v, low[i]), high[i])));
      this.previous = pose;
      this.k += 1;
    }
    return out;
  }
}

/**
 * Teleoperation and recording from tracked hands. `target` is the simulated episode:
 * {gripperPose() -> {pos, quat}, reset(), step(action) -> {success, failure, done}, about() -> {...}};
 * `onEvent(type, detail)` hears "calibrating", "calibrated", "live", "recording", "step",
 * "demo" (a finished take, ready to send) and "discarded".
 */
export class HandCapture {
  constructor({ hz, low, high, target, onEvent = () => {}, hand = "right", scale = 1 }) {
    this.hz = hz;
    this.low = low;
    this.high = high;
    this.target = target;
    this.onEvent = onEvent;
    this.hand = hand;
    this.other = hand === "right" ? "left" : "right";
    this.scale = scale;
    this.pinch = new Pinch();
    this.otherPinch = new Pinch();
    this.state = "uncalibrated";
    this.calibration = null;
    this.progress = 0;
    this.session = null;
    this.pending = null;
    this.hold = null;
    this.otherDown = null;
  }

  /** Process one tracked frame (see the module comment); the XR frame loop calls this. */
  onFrame(frame) {
    this.otherHand(frame);
    const sample = handSample(frame.hands?.[this.hand]);
    if (!sample) return;
    const pinched = this.pinch.update(sample.distance);
    const t = frame.t;
    if (this.state === "uncalibrated" || this.state === "calibrating") {
      this.calibrating(frame, sample, pinched);
      return;
    }
    if (this.state === "armed") {
      if (!pinched) this.begin("live", frame, sample, pinched);
      return;
    }
    if (this.pending) {
      const next = this.pending;
      this.pending = null;
      if (next === "record") {
        this.target.reset();
        const g = this.target.gripperPose();
        this.calibration = this.calibration.anchored(sample.position, sample.quat, g.pos, g.quat);
        this.begin("recording", frame, sample, pinched);
        return;
      }
    }
    const s = this.session;
    const raw = { t, position: sample.position, orientation: xyzw(sample.quat), pinch: pinched };
    s.add(t, this.calibration.position(sample.position), this.calibration.orientation(sample.quat), pinched, raw);
    for (const action of s.due(this.low, this.high)) {
      s.actions.push(action);
      const result = this.target.step(action);
      this.onEvent("step", { action, result });
      if (this.state === "recording" && (result.success || result.failure || result.done)) {
        this.stopRecording();
        return;
      }
    }
  }

  calibrating(frame, sample, pinched) {
    if (!pinched) {
      this.hold = null;
      this.setState("uncalibrated");
      this.progress = 0;
      return;
    }
    const moved = this.hold && Math.hypot(...sample.position.map((v, i) => v - this.hold.position[i])) > HOLD_STILL_M;
    if (!this.hold || moved) this.hold = { t: frame.t, position: sample.position };
    this.setState("calibrating");
    this.progress = Math.min(1, (frame.t - this.hold.t) / HOLD_S);
    if (this.progress < 1) return;
    const R = facingRotation(frame.head);
    const base = new Calibration({ rotate: matrixToQuat(R), scale: this.scale });
    const g = this.target.gripperPose();
    this.calibration = base.anchored(sample.position, sample.quat, g.pos, g.quat);
    this.hold = null;
    this.setState("armed");
    this.onEvent("calibrated", { calibration: this.calibration.toJSON() });
  }

  begin(state, frame, sample, pinched) {
    this.session = new Session(frame.t, this.hz);
    const raw = { t: frame.t, position: sample.position, orientation: xyzw(sample.quat), pinch: pinched };
    this.session.add(frame.t, this.calibration.position(sample.position), this.calibration.orientation(sample.quat), pinched, raw);
    this.setState(state);
  }

  setState(state) {
    if (state !== this.state) {
      this.state = state;
      this.onEvent(state, {});
    }
  }

  otherHand(frame) {
    const sample = handSample(frame.hands?.[this.other]);
    if (!sample) return;
    const was = this.otherPinch.pinched;
    const now = this.otherPinch.update(sample.distance);
    if (now && !was) this.otherDown = frame.t;
    if (now && this.state === "recording" && this.otherDown !== null && frame.t - this.otherDown >= HOLD_S) {
      this.otherDown = null;
      this.discard();
    }
    if (!now && was && this.otherDown !== null) {
      this.otherDown = null;
      if (this.state === "recording") this.stopRecording();
      else this.startRecording();
    }
  }

  /** Begin a take at the next frame: the episode restarts and the hand is anchored on the gripper. */
  startRecording() {
    if (this.state === "live") this.pending = "record";
  }

  /** End the take; emits "demo" with the log, calibration and per-step actions. */
  stopRecording() {
    if (this.state !== "recording") return;
    const s = this.session;
    const about = this.target.about();
    const log = {
      format: LOG_FORMAT,
      source: "vla-bench-studio (WebXR hand tracking)",
      task: about.task,
      seed: about.seed,
      instruction: about.instruction,
      samples: s.raw,
    };
    this.onEvent("demo", { input: "xr", log, calibration: this.calibration.toJSON(), actions: s.actions, ...about });
    this.continueLive();
  }

  /** Drop the take in progress. */
  discard() {
    if (this.state !== "recording") return;
    this.onEvent("discarded", {});
    this.continueLive();
  }

  continueLive() {
    const s = this.session;
    const last = s.raw[s.raw.length - 1];
    this.session = new Session(last.t, this.hz);
    this.session.add(last.t, s.pos[s.pos.length - 1], s.quat[s.quat.length - 1], last.pinch, last);
    this.setState("live");
  }
}
