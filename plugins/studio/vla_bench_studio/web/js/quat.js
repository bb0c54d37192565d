// Quaternion and rotation helpers, (w, x, y, z) as MuJoCo and the Python side write them.

import { quatMul } from "./sim.js";

export { quatMul };

export function quatConj(q) {
  return [q[0], -q[1], -q[2], -q[3]];
}

export function quatNormalize(q) {
  const n = Math.hypot(q[0], q[1], q[2], q[3]);
  return q.map((v) => v / n);
}

/** Rotate vector v by unit quaternion q. */
export function quatRotate(q, v) {
  const p = quatMul(quatMul(q, [0, v[0], v[1], v[2]]), quatConj(q));
  return [p[1], p[2], p[3]];
}

/** 3 x 3 rotation matrix (rows) of a unit quaternion. */
export function quatToMatrix(q) {
  const [w, x, y, z] = q;
  return [
    [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
    [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
    [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
  ];
}

/** Unit quaternion of a rotation matrix (rows), w >= 0. */
export function matrixToQuat(m) {
  const trace = m[0][0] + m[1][1] + m[2][2];
  let q;
  if (trace > 0) {
    const s = 2 * Math.sqrt(1 + trace);
    q = [s / 4, (m[2][1] - m[1][2]) / s, (m[0][2] - m[2][0]) / s, (m[1][0] - m[0][1]) / s];
  } else if (m[0][0] > m[1][1] && m[0][0] > m[2][2]) {
    const s = 2 * Math.sqrt(1 + m[0][0] - m[1][1] - m[2][2]);
    q = [(m[2][1] - m[1][2]) / s, s / 4, (m[0][1] + m[1][0]) / s, (m[0][2] + m[2][0]) / s];
  } else if (m[1][1] > m[2][2]) {
    const s = 2 * Math.sqrt(1 + m[1][1] - m[0][0] - m[2][2]);
    q = [(m[0][2] - m[2][0]) / s, (m[0][1] + m[1][0]) / s, s / 4, (m[1][2] + m[2][1]) / s];
  } else {
    const s = 2 * Math.sqrt(1 + m[2][2] - m[0][0] - m[1][1]);
    q = [(m[1][0] - m[0][1]) / s, (m[0][2] + m[2][0]) / s, (m[1][2] + m[2][1]) / s, s / 4];
  }
  q = quatNormalize(q);
  return q[0] < 0 ? q.map((v) => -v) : q;
}

export function matVec(m, v) {
  return m.map((row) => row[0] * v[0] + row[1] * v[1] + row[2] * v[2]);
}

export function transpose(m) {
  return [0, 1, 2].map((i) => [m[0][i], m[1][i], m[2][i]]);
}

/** Axis * angle of a unit quaternion (angle in [0, pi]). */
export function quatToRotvec(q) {
  const p = q[0] < 0 ? q.map((v) => -v) : q;
  const s = Math.hypot(p[1], p[2], p[3]);
  if (s < 1e-12) return [2 * p[1], 2 * p[2], 2 * p[3]];
  const angle = 2 * Math.atan2(s, p[0]);
  return [p[1] / s * angle, p[2] / s * angle, p[3] / s * angle];
}

export function rotvecToQuat(r) {
  const angle = Math.hypot(r[0], r[1], r[2]);
  if (angle < 1e-12) return quatNormalize([1, r[0] / 2, r[1] / 2, r[2] / 2]);
  const s = Math.sin(angle / 2) / angle;
  return [Math.cos(angle / 2), r[0] * s, r[1] * s, r[2] * s];
}

/** Extrinsic x-y-z Euler angles (roll, pitch, yaw): q = qz(yaw) qy(pitch) qx(roll). */
export function quatToEulerXYZ(q) {
  const m = quatToMatrix(q);
  const pitch = Math.asin(Math.min(1, Math.max(-1, -m[2][0])));
  return [Math.atan2(m[2][1], m[2][2]), pitch, Math.atan2(m[1][0], m[0][0])];
}
