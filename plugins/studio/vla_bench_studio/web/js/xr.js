// The WebXR side of hand capture: an immersive session with hand tracking, and the reading of
// each XRFrame into the plain frame handcapture.js takes (the page's frame loop calls both).

const JOINTS = ["wrist", "thumb-tip", "index-finger-tip"];

function pose(p) {
  const { position: a, orientation: o } = p.transform;
  return { position: [a.x, a.y, a.z], orientation: [o.x, o.y, o.z, o.w] };
}

/** The plain frame of one XRFrame: head and the tracked joints of each hand (see handcapture.js). */
export function readFrame(time, xrFrame, space) {
  const viewer = xrFrame.getViewerPose(space);
  const frame = { t: time / 1000, head: viewer ? pose(viewer) : null, hands: {} };
  for (const source of xrFrame.session.inputSources) {
    if (!source.hand) continue;
    const joints = {};
    for (const name of JOINTS) {
      const joint = source.hand.get(name);
      const p = joint && xrFrame.getJointPose(joint, space);
      if (p) joints[name] = pose(p);
    }
    if (Object.keys(joints).length === JOINTS.length) frame.hands[source.handedness] = joints;
  }
  return frame;
}

/** Why an immersive hand-tracking session cannot start here, or null when it can. */
export async function xrUnavailable() {
  if (!("xr" in navigator)) return "this browser has no WebXR (use a headset's browser: visionOS Safari, Quest Browser)";
  if (!window.isSecureContext) return "WebXR needs a secure context: open the page as http://127.0.0.1 or over https";
  try {
    if (!(await navigator.xr.isSessionSupported("immersive-vr"))) return "no immersive-vr session on this device";
  } catch (error) {
    return `WebXR refused: ${error.message}`;
  }
  return null;
}

/** Start an immersive hand-tracking session on the three.js renderer; the renderer's animation
 * loop then receives XRFrames (the page reads them with readFrame). */
export async function startSession(renderer) {
  const session = await navigator.xr.requestSession("immersive-vr", {
    requiredFeatures: ["hand-tracking"],
    optionalFeatures: ["local-floor"],
  });
  // Without a floor-level space the origin is the head's start: calibration places the table.
  const floor = session.enabledFeatures?.includes("local-floor") ?? true;
  renderer.xr.setReferenceSpaceType(floor ? "local-floor" : "local");
  await renderer.xr.setSession(session);
  return session;
}
