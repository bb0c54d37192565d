// Keyboard, mouse and gamepad to ee_delta_7d actions, read once per control step.
//
// Each held key moves its axis by `speed` times the action bound per step (Shift: fine speed);
// Space toggles the gripper. Mouse: Shift + drag moves the gripper in the table plane by the
// dragged distance (consumed at most one bound per step), Shift + wheel moves it up and down.
// A standard-mapping gamepad: left stick x/y, right stick z and yaw, bumpers roll, d-pad pitch,
// right trigger closes and left trigger opens.

export const KEYS = [
  // key, action index, sign, label
  ["KeyD", 0, +1, "D / A: +x / -x (right / left)"],
  ["KeyA", 0, -1, null],
  ["KeyW", 1, +1, "W / S: +y / -y (away / towards the front camera)"],
  ["KeyS", 1, -1, null],
  ["KeyR", 2, +1, "R / F: up / down"],
  ["KeyF", 2, -1, null],
  ["KeyU", 3, +1, "U / O: roll + / -"],
  ["KeyO", 3, -1, null],
  ["KeyI", 4, +1, "I / K: pitch + / -"],
  ["KeyK", 4, -1, null],
  ["KeyJ", 5, +1, "J / L: yaw left / right"],
  ["KeyL", 5, -1, null],
];

export const LEGEND = [
  ...KEYS.filter((k) => k[3]).map((k) => k[3]),
  "Space: close / open the gripper",
  "Shift: fine moves; Shift + drag / wheel: move the gripper with the mouse",
  "Backspace: reset the episode; [ / ]: previous / next track episode",
  "Enter: start / stop recording a demo; X: discard the take",
  "drag: orbit the view; 1 / 2 / 3: orbit, front and wrist camera",
  "gamepad: sticks move, bumpers roll, d-pad pitch, triggers grip",
];

const DEAD_ZONE = 0.15;

export class Teleop {
  constructor({ low, high, speed = 0.5, fine = 0.15 }) {
    this.low = low;
    this.high = high;
    this.speed = speed;
    this.fine = fine;
    this.held = new Set();
    this.shift = false;
    this.gripper = -1;
    this.pending = [0, 0, 0];
  }

  /** A key went down (KeyboardEvent.code); returns true when the teleop used it. */
  keyDown(code, shift = false) {
    this.shift = shift;
    if (code === "Space") {
      this.gripper = -this.gripper;
      return true;
    }
    if (KEYS.some((k) => k[0] === code)) {
      this.held.add(code);
      return true;
    }
    return false;
  }

  keyUp(code, shift = false) {
    this.shift = shift;
    this.held.delete(code);
  }

  /** Forget held keys (the window lost focus: a key-up would never come). */
  releaseAll() {
    this.held.clear();
  }

  /** The mouse asked the gripper to move by (dx, dy, dz) metres (accumulated until used). */
  mouseMove(dx, dy, dz) {
    this.pending[0] += dx;
    this.pending[1] += dy;
    this.pending[2] += dz;
  }

  /** The action for this control step, from every input; `gamepad` is a Gamepad or null. */
  action(gamepad = null) {
    const a = [0, 0, 0, 0, 0, 0, this.gripper];
    const speed = this.shift ? this.fine : this.speed;
    for (const [code, i, sign] of KEYS) {
      if (this.held.has(code)) a[i] += sign * speed * this.high[i];
    }
    for (let i = 0; i < 3; i++) {
      const take = Math.min(Math.max(this.pending[i], this.low[i]), this.high[i]);
      a[i] += take;
      this.pending[i] -= take;
    }
    if (gamepad) this.addGamepad(a, gamepad);
    return a.map((v, i) => Math.min(Math.max(v, this.low[i]), this.high[i]));
  }

  addGamepad(a, pad) {
    const axis = (i) => {
      const v = pad.axes[i] ?? 0;
      return Math.abs(v) < DEAD_ZONE ? 0 : v;
    };
    const pressed = (i) => pad.buttons[i]?.value ?? 0;
    a[0] += axis(0) * this.high[0];
    a[1] -= axis(1) * this.high[1];
    a[2] -= axis(3) * this.high[2];
    a[5] -= axis(2) * this.high[5];
    a[3] += (pressed(5) - pressed(4)) * this.speed * this.high[3];
    a[4] += (pressed(12) - pressed(13)) * this.speed * this.high[4];
    if (pressed(7) > 0.5) this.gripper = 1;
    if (pressed(6) > 0.5) this.gripper = -1;
    a[6] = this.gripper;
  }
}
