// Each manipulation task's success rule, evaluated on the WASM state: a port of the envs'
// evaluate() with the episode's parameters from vla_bench_studio/rules.py. The browser test
// checks it against Python's evaluate() at every step of expert and random rollouts.

function valve(rule, model, data) {
  const turned = rule.direction * (data.qpos[rule.qpos] - rule.start_angle);
  const error = rule.goal - turned;
  return { success: Math.abs(error) <= rule.tolerance, progress: { angle_error: error, turned } };
}

function handle(rule, model, data) {
  const angle = data.qpos[rule.qpos];
  return { success: angle >= rule.threshold, progress: { angle_error: rule.threshold - angle, angle } };
}

function fingerTouches(rule, data) {
  const objects = new Set(rule.object_geoms);
  const fingers = new Set(rule.finger_geoms);
  const contacts = data.contact;
  try {
    for (let i = 0; i < data.ncon; i++) {
      const c = contacts.get(i);
      const g1 = c.geom1;
      const g2 = c.geom2;
      c.delete();
      if ((objects.has(g1) && fingers.has(g2)) || (objects.has(g2) && fingers.has(g1))) return true;
    }
    return false;
  } finally {
    contacts.delete();
  }
}

function pickPlace(rule, model, data) {
  const o = 3 * rule.object_body;
  const r = 3 * rule.receptacle_body;
  const dx = data.xpos[o] - data.xpos[r];
  const dy = data.xpos[o + 1] - data.xpos[r + 1];
  const distance = Math.sqrt(dx * dx + dy * dy);
  const z = data.xpos[o + 2];
  const success = distance < rule.radius && z < rule.low_below && !fingerTouches(rule, data);
  return { success, progress: { distance, height: z - rule.surface } };
}

const RULES = { valve, handle, pick_place: pickPlace };

/** Success and progress of the episode's task on the current state (after mj_forward). */
export function evaluate(rule, model, data) {
  const fn = RULES[rule.kind];
  if (!fn) throw new Error(`no success rule for task kind ${rule.kind}: the studio knows ${Object.keys(RULES)}`);
  return fn(rule, model, data);
}
