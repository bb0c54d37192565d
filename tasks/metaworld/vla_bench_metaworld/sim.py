"""One Meta-World simulation, built as LeRobot 0.6.1's ``MetaworldEnv`` builds it.

LeRobot (``lerobot/envs/metaworld.py``, ``MetaworldEnv._ensure_env``) makes each env from the
``MT1`` benchmark of its task with seed 42, sets the benchmark's first training task, moves the
``corner2`` camera, resets once and then lets every reset draw a new initial state from the
env's own seeded generator. An episode is then fixed by ``env.seed(seed)`` followed by
``env.reset()``. We build it the same way, so a seed gives the state lerobot-eval gives.

Nothing here is imported before a task is built: ``metaworld`` loads MuJoCo and its assets.
"""

from __future__ import annotations

from typing import Any

CAMERA = "corner2"
CORNER2_POS = (0.75, 0.075, 0.7)
"""Where LeRobot puts the ``corner2`` camera (Meta-World's own position frames the scene badly)."""
MT1_SEED = 42
"""The seed LeRobot builds each task's ``MT1`` benchmark with."""
IMAGE_SHAPE = (480, 480)
"""(height, width): Meta-World's default render size, which LeRobot does not change."""
MAX_STEPS = 500
"""Meta-World's ``max_path_length``, which is LeRobot's step limit (``_max_episode_steps``)."""
RENDER_MODES = ("canonical", "fast")
"""``canonical``: Meta-World's own render settings (shadows, 4x MSAA), as the published
numbers were made. ``fast``: no shadows and no multisampling; physics is unchanged."""


def import_metaworld() -> Any:
    """The ``metaworld`` module, or an error that says what to install."""
    try:
        import metaworld
    except ImportError as exc:
        raise ImportError(
            f"Meta-World is not importable ({exc}); install it with "
            "`pip install metaworld==3.0.0` (the version LeRobot 0.6.1 pins)"
        ) from exc
    return metaworld


class Blueprint:
    """What every simulation of one task is built from: its env class and LeRobot's task.

    Building ``MT1`` samples 50 tasks (about a second), so a blueprint does it once.
    """

    def __init__(self, task: str) -> None:
        metaworld = import_metaworld()
        benchmark = metaworld.MT1(task, seed=MT1_SEED)
        self.task = task
        self.env_class = benchmark.train_classes[task]
        self.mt1_task = benchmark.train_tasks[0]

    def build(self, render: str) -> Any:
        """A fresh Meta-World env, ready for ``seed(s)`` then ``reset()``."""
        env = self.env_class(render_mode="rgb_array", camera_name=CAMERA)
        env.set_task(self.mt1_task)
        env.model.cam_pos[env.model.camera(CAMERA).id] = CORNER2_POS
        set_render_mode(env, render)
        env.reset()
        # As LeRobot: resets draw new initial states, from the generator env.seed() fixes.
        env._freeze_rand_vec = False
        env.seeded_rand_vec = True
        return env


def set_render_mode(env: Any, render: str) -> None:
    """Apply a render mode to a Meta-World env that has not rendered yet.

    Both settings are read when the renderer's GL context is made (at the first frame) and
    never by the physics, so ``fast`` changes pixels only.
    """
    if render not in RENDER_MODES:
        raise ValueError(f"render={render!r} is not one of {', '.join(RENDER_MODES)}")
    if render == "fast":
        env.model.light_castshadow[:] = 0
        env.model.vis.quality.offsamples = 0
