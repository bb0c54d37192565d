// Three.js objects for a MuJoCo scene described as vla_bench_manipulation/replay.py writes it
// (bodies, visible primitive geoms, cameras, key light). Shared by the studio (poses from the
// WASM simulation) and the 3D replay viewer (poses from an episode's recording). MuJoCo's world
// is z-up; cameras here are given up = +z rather than rotating the world.

import * as THREE from "three";

const Z_UP = new THREE.Vector3(0, 0, 1);

/** three.js quaternion from MuJoCo's (w, x, y, z). */
export function mjQuat(q, offset = 0) {
  return new THREE.Quaternion(q[offset + 1], q[offset + 2], q[offset + 3], q[offset]);
}

function geometryFor(geom) {
  const s = geom.size;
  switch (geom.type) {
    case "plane":
      return new THREE.PlaneGeometry(2 * (s[0] || 10), 2 * (s[1] || 10));
    case "sphere":
      return new THREE.SphereGeometry(s[0], 24, 16);
    case "ellipsoid":
      return new THREE.SphereGeometry(1, 24, 16).scale(s[0], s[1], s[2]);
    case "capsule":
      return new THREE.CapsuleGeometry(s[0], 2 * s[1], 6, 16).rotateX(Math.PI / 2);
    case "cylinder":
      return new THREE.CylinderGeometry(s[0], s[0], 2 * s[1], 32).rotateX(Math.PI / 2);
    case "box":
      return new THREE.BoxGeometry(2 * s[0], 2 * s[1], 2 * s[2]);
    default:
      throw new Error(`cannot draw geom type ${geom.type}`);
  }
}

/**
 * Build the scene. Returns {scene, bodies, cameras, setPoses(pos, quat, offset)}: `bodies[i]` is
 * the Object3D of MuJoCo body i; setPoses reads nbody x 3 positions and nbody x 4 (w, x, y, z)
 * orientations starting at body offset `offset` of flat arrays.
 */
export function buildScene(description) {
  const scene = new THREE.Scene();
  scene.background = new THREE.Color(0x8c99a6);
  const bodies = description.bodies.map((name) => {
    const group = new THREE.Group();
    group.name = name;
    scene.add(group);
    return group;
  });
  const materials = new Map();
  for (const geom of description.geoms) {
    const key = geom.rgba.join(",");
    if (!materials.has(key)) {
      const [r, g, b, a] = geom.rgba;
      materials.set(
        key,
        new THREE.MeshLambertMaterial({ color: new THREE.Color().setRGB(r, g, b, THREE.SRGBColorSpace), transparent: a < 1, opacity: a }),
      );
    }
    const mesh = new THREE.Mesh(geometryFor(geom), materials.get(key));
    mesh.position.fromArray(geom.pos);
    mesh.quaternion.copy(mjQuat(geom.quat));
    bodies[geom.body].add(mesh);
  }
  const light = description.light;
  const ambient = light.ambient[0];
  scene.add(new THREE.AmbientLight(0xffffff, 2.2 * ambient));
  const key = new THREE.DirectionalLight(0xffffff, 2.8 * light.diffuse[0]);
  key.position.set(-light.dir[0], -light.dir[1], -light.dir[2]).multiplyScalar(3);
  scene.add(key, key.target);
  // MuJoCo's headlight shines from the viewpoint; a fill light from above-front stands in.
  const fill = new THREE.DirectionalLight(0xffffff, 1.0);
  fill.position.set(0, -2, 2);
  scene.add(fill, fill.target);

  const cameras = {};
  for (const cam of description.cameras) {
    const camera = new THREE.PerspectiveCamera(cam.fovy, 1, 0.01, 20);
    camera.name = cam.name;
    camera.position.fromArray(cam.pos);
    camera.quaternion.copy(mjQuat(cam.quat));
    bodies[cam.body].add(camera);
    cameras[cam.name] = camera;
  }

  function setPoses(pos, quat, offset = 0) {
    for (let i = 0; i < bodies.length; i++) {
      const p = 3 * (offset + i);
      const q = 4 * (offset + i);
      bodies[i].position.set(pos[p], pos[p + 1], pos[p + 2]);
      bodies[i].quaternion.set(quat[q + 1], quat[q + 2], quat[q + 3], quat[q]);
    }
  }
  return { scene, bodies, cameras, setPoses };
}

/** A free-viewing camera looking at the table from the front-left, z up. */
export function orbitCamera(aspect) {
  const camera = new THREE.PerspectiveCamera(45, aspect, 0.01, 30);
  camera.up.copy(Z_UP);
  camera.position.set(-0.42, -0.88, 0.62);
  camera.lookAt(0, 0.05, 0.05);
  return camera;
}

/** Copy a scene camera's world pose and field of view into `view` (for "look through"). */
export function lookThrough(view, camera) {
  camera.updateWorldMatrix(true, false);
  camera.matrixWorld.decompose(view.position, view.quaternion, new THREE.Vector3());
  view.fov = camera.fov;
  view.updateProjectionMatrix();
}
