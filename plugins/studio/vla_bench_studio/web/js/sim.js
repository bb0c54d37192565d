// One manipulation episode on MuJoCo's WASM build, stepped exactly as the Python env steps it.
//
// The episode comes from vla_bench_studio/episode.py: the env's MJCF, the model fields its reset
// changed, MuJoCo's integration state after the reset, the controller's constants and the
// success rule. step() is a line-by-line port of ManipulationEnv.step
// (tasks/manipulation/vla_bench_manipulation/env.py): clip the ee_delta_7d action, move the
// mocap target from where the hand is (lag-limited) inside the workspace, rotate it about the
// world axes, set the finger position targets, and pull the target there in equal increments
// over the control period's physics substeps.

import { evaluate } from "./rules.js";

/** Hamilton product a * b of (w, x, y, z) quaternions (geometry.quat_mul). */
export function quatMul(a, b) {
  const [aw, ax, ay, az] = a;
  const [bw, bx, by, bz] = b;
  return [
    aw * bw - ax * bx - ay * by - az * bz,
    aw * bx + ax * bw + ay * bz - az * by,
    aw * by - ax * bz + ay * bw + az * bx,
    aw * bz + ax * by - ay * bx + az * bw,
  ];
}

/** Roll about world x, then pitch about y, then yaw about z (geometry.quat_from_euler). */
export function quatFromEuler(roll, pitch, yaw) {
  const qx = [Math.cos(roll / 2), Math.sin(roll / 2), 0, 0];
  const qy = [Math.cos(pitch / 2), 0, Math.sin(pitch / 2), 0];
  const qz = [Math.cos(yaw / 2), 0, 0, Math.sin(yaw / 2)];
  return quatMul(qz, quatMul(qy, qx));
}

function norm(v) {
  let s = 0;
  for (const x of v) s += x * x;
  return Math.sqrt(s);
}

function clip(x, lo, hi) {
  return Math.min(Math.max(x, lo), hi);
}

let fileCounter = 0;

/** Load the episode's model into MuJoCo's WASM module and apply the reset's changes. */
export function loadModel(mujoco, episode) {
  const path = `/studio-${episode.task}-${fileCounter++}.xml`;
  mujoco.FS.writeFile(path, episode.xml);
  const model = mujoco.MjModel.loadFromXML(path);
  mujoco.FS.unlink(path);
  for (const [name, values] of Object.entries(episode.overrides)) {
    const field = model[name];
    if (!field || field.length !== values.length) {
      throw new Error(`model field ${name} differs between Python and WASM MuJoCo (${field?.length} vs ${values.length} values)`);
    }
    field.set(values);
  }
  return model;
}

export class Sim {
  /** A simulator at the episode's initial state; `mujoco` is the loaded WASM module. */
  constructor(mujoco, episode) {
    this.mujoco = mujoco;
    this.episode = episode;
    this.ctl = episode.controller;
    this.model = loadModel(mujoco, episode);
    this.data = new mujoco.MjData(this.model);
    this.reset();
  }

  /** Back to the episode's initial state (as after the Python env's reset). */
  reset() {
    const { mujoco, model, data, episode } = this;
    mujoco.mj_resetData(model, data);
    mujoco.mj_setState(model, data, episode.state, episode.state_spec);
    mujoco.mj_forward(model, data);
    this.targetPos = [...this.ctl.target_pos];
    this.targetQuat = [...this.ctl.target_quat];
    this.steps = 0;
    this.clippedTotal = 0;
    this.warnings = this.divergenceWarnings();
    this.result = { ...this.evaluate(), failure: null, clipped: 0 };
    return this.result;
  }

  /** Pinch-point position (world, m). */
  eePos() {
    const h = 3 * this.ctl.hand_body;
    return Array.from(this.data.xpos.subarray(h, h + 3));
  }

  /** Hand orientation (w, x, y, z). */
  eeQuat() {
    const h = 4 * this.ctl.hand_body;
    return Array.from(this.data.xquat.subarray(h, h + 4));
  }

  /** Gap between the jaws (m). */
  gripperOpening() {
    const q = this.data.qpos;
    return 0 + q[this.ctl.finger_qpos[0]] + q[this.ctl.finger_qpos[1]];
  }

  /** The observation's state vector (STATE_FIELDS). */
  state() {
    return [...this.eePos(), ...this.eeQuat(), this.gripperOpening()];
  }

  /** Success and progress now (the task's rule on the WASM state). */
  evaluate() {
    return evaluate(this.episode.rule, this.model, this.data);
  }

  /** Apply one ee_delta_7d action for one control period; returns {success, progress, failure, clipped}. */
  step(action) {
    const { mujoco, model, data, ctl } = this;
    if (!Array.isArray(action) && !ArrayBuffer.isView(action)) throw new Error("action must be 7 numbers");
    const a = Array.from(action, Number);
    if (a.length !== 7 || !a.every(Number.isFinite)) {
      throw new Error(`action must be 7 finite numbers (dx, dy, dz, droll, dpitch, dyaw, gripper), got ${a}`);
    }
    const c = a.map((v, i) => clip(v, ctl.action_low[i], ctl.action_high[i]));
    const nClipped = c.filter((v, i) => v !== a[i]).length;
    this.clippedTotal += nClipped;

    const ee = this.eePos();
    const newPos = [0, 1, 2].map((i) => {
      const base = ee[i] + clip(this.targetPos[i] - ee[i], -ctl.max_lag, ctl.max_lag);
      return clip(base + c[i], ctl.workspace_low[i], ctl.workspace_high[i]);
    });
    let newQuat = quatMul(quatFromEuler(c[3], c[4], c[5]), this.targetQuat);
    const n = norm(newQuat);
    newQuat = newQuat.map((v) => v / n);
    const finger = (ctl.finger_travel * (1.0 - c[6])) / 2.0;
    data.ctrl[0] = finger;
    data.ctrl[1] = finger;

    const oldPos = this.targetPos;
    const oldQuat = this.targetQuat;
    const chunks = ctl.interpolation_chunks;
    const perChunk = Math.floor(ctl.n_substeps / chunks);
    const m3 = 3 * ctl.mocap;
    const m4 = 4 * ctl.mocap;
    for (let k = 1; k <= chunks; k++) {
      const t = k / chunks;
      for (let i = 0; i < 3; i++) data.mocap_pos[m3 + i] = oldPos[i] + t * (newPos[i] - oldPos[i]);
      const q = [0, 1, 2, 3].map((i) => (1 - t) * oldQuat[i] + t * newQuat[i]);
      const qn = norm(q);
      for (let i = 0; i < 4; i++) data.mocap_quat[m4 + i] = q[i] / qn;
      const steps = k < chunks ? perChunk : ctl.n_substeps - perChunk * (k - 1);
      for (let s = 0; s < steps; s++) mujoco.mj_step(model, data);
    }
    mujoco.mj_forward(model, data);
    this.targetPos = newPos;
    this.targetQuat = newQuat;
    this.steps += 1;

    const failure = this.failure();
    this.result = failure
      ? { success: false, progress: {}, failure, clipped: nClipped }
      : { ...this.evaluate(), failure: null, clipped: nClipped };
    return this.result;
  }

  /** Why the simulation must stop (the Python env's checks on what the page can see), or null. */
  failure() {
    const { model, data, ctl } = this;
    if (!data.qpos.every(Number.isFinite) || !data.qvel.every(Number.isFinite)) {
      return "simulation unstable: NaN or inf in qpos/qvel";
    }
    if (this.divergenceWarnings() > this.warnings) {
      return "simulation unstable: MuJoCo found NaN or huge values and reset the state";
    }
    for (const j of ctl.free_joints) {
      const p = model.jnt_qposadr[j];
      const v = model.jnt_dofadr[j];
      const pos = data.qpos.subarray(p, p + 3);
      const vel = data.qvel.subarray(v, v + 3);
      if (Math.max(Math.abs(pos[0]), Math.abs(pos[1])) > ctl.flung_distance || pos[2] < -1.0 || norm(vel) > ctl.flung_speed) {
        return `simulation unstable: object ${this.mujoco.mj_id2name(model, this.mujoco.mjtObj.mjOBJ_BODY.value, model.jnt_bodyid[j])} flung away`;
      }
    }
    return null;
  }

  divergenceWarnings() {
    const warnings = this.data.warning;
    const { mjtWarning } = this.mujoco;
    let total = 0;
    for (const w of [mjtWarning.mjWARN_BADQPOS, mjtWarning.mjWARN_BADQVEL, mjtWarning.mjWARN_BADQACC]) {
      const stat = warnings.get(w.value);
      total += stat.number;
      stat.delete();
    }
    warnings.delete();
    return total;
  }

  /** Every body's world position (nbody x 3) and orientation (nbody x 4, w first), copied. */
  bodyPoses() {
    return { pos: Float64Array.from(this.data.xpos), quat: Float64Array.from(this.data.xquat) };
  }

  /** Free the WASM model and data. */
  dispose() {
    this.data.delete();
    this.model.delete();
  }
}
