"""The 50 Meta-World v3 tasks as LeRobot 0.6.1 evaluates them: names, instructions, difficulty.

Plain data, imported by the plugin module, so it imports nothing. The instructions and the
difficulty grouping are LeRobot's (``lerobot/envs/metaworld_config.json``: ``TASK_DESCRIPTIONS``,
``DIFFICULTY_TO_TASKS``): the text a policy is given must be the text it was trained with, and
the groups are the ones LeRobot reports. ``tests/test_catalog.py`` checks both against the
installed LeRobot.
"""

from __future__ import annotations

DIFFICULTIES = ("easy", "medium", "hard", "very_hard")
"""LeRobot's difficulty groups, in its order; suite ``metaworld_<difficulty>`` each."""

TASKS: dict[str, tuple[str, str]] = {
    # easy
    "button-press-v3": ("easy", "Press a button"),
    "button-press-topdown-v3": ("easy", "Press a button from the top"),
    "button-press-topdown-wall-v3": ("easy", "Bypass a wall and press a button from the top"),
    "button-press-wall-v3": ("easy", "Bypass a wall and press a button"),
    "coffee-button-v3": ("easy", "Push a button on the coffee machine"),
    "dial-turn-v3": ("easy", "Rotate a dial 180 degrees"),
    "door-close-v3": ("easy", "Close a door with a revolving joint"),
    "door-lock-v3": ("easy", "Lock the door by rotating the lock clockwise"),
    "door-open-v3": ("easy", "Open a door with a revolving joint"),
    "door-unlock-v3": ("easy", "Unlock the door by rotating the lock counter-clockwise"),
    "drawer-close-v3": ("easy", "Push and close a drawer"),
    "drawer-open-v3": ("easy", "Open a drawer"),
    "faucet-close-v3": ("easy", "Rotate the faucet clockwise"),
    "faucet-open-v3": ("easy", "Rotate the faucet counter-clockwise"),
    "handle-press-v3": ("easy", "Press a handle down"),
    "handle-press-side-v3": ("easy", "Press a handle down sideways"),
    "handle-pull-v3": ("easy", "Pull a handle up"),
    "handle-pull-side-v3": ("easy", "Pull a handle up sideways"),
    "lever-pull-v3": ("easy", "Pull a lever down 90 degrees"),
    "plate-slide-v3": ("easy", "Slide a plate into a cabinet"),
    "plate-slide-back-v3": ("easy", "Get a plate from the cabinet"),
    "plate-slide-back-side-v3": ("easy", "Get a plate from the cabinet sideways"),
    "plate-slide-side-v3": ("easy", "Slide a plate into a cabinet sideways"),
    "reach-v3": ("easy", "Reach a goal position"),
    "reach-wall-v3": ("easy", "Bypass a wall and reach a goal"),
    "window-close-v3": ("easy", "Push and close a window"),
    "window-open-v3": ("easy", "Push and open a window"),
    "peg-unplug-side-v3": ("easy", "Unplug a peg sideways"),
    # medium
    "basketball-v3": ("medium", "Dunk the basketball into the basket"),
    "bin-picking-v3": ("medium", "Grasp the puck from one bin and place it into another bin"),
    "box-close-v3": ("medium", "Grasp the cover and close the box with it"),
    "coffee-pull-v3": ("medium", "Pull a mug from a coffee machine"),
    "coffee-push-v3": ("medium", "Push a mug under a coffee machine"),
    "hammer-v3": ("medium", "Hammer a screw on the wall"),
    "peg-insert-side-v3": ("medium", "Insert a peg sideways"),
    "push-wall-v3": ("medium", "Bypass a wall and push a puck to a goal"),
    "soccer-v3": ("medium", "Kick a soccer into the goal"),
    "sweep-v3": ("medium", "Sweep a puck off the table"),
    "sweep-into-v3": ("medium", "Sweep a puck into a hole"),
    # hard
    "assembly-v3": ("hard", "Pick up a nut and place it onto a peg"),
    "hand-insert-v3": ("hard", "Insert the gripper into a hole"),
    "pick-out-of-hole-v3": ("hard", "Pick up a puck from a hole"),
    "pick-place-v3": ("hard", "Pick and place a puck to a goal"),
    "push-v3": ("hard", "Push the puck to a goal"),
    "push-back-v3": ("hard", "Push the puck to a goal"),
    # very_hard
    "shelf-place-v3": ("very_hard", "Pick and place a puck onto a shelf"),
    "disassemble-v3": ("very_hard", "Pick a nut out of a peg"),
    "stick-pull-v3": ("very_hard", "Grasp a stick and pull a box with the stick"),
    "stick-push-v3": ("very_hard", "Grasp a stick and push a box using the stick"),
    "pick-place-wall-v3": ("very_hard", "Pick a puck, bypass a wall and place the puck"),
}
"""Task name -> (difficulty, instruction), in LeRobot's difficulty order (its MT50 order)."""


def suite_tasks(difficulty: str) -> list[str]:
    """The tasks of one difficulty group, in LeRobot's order."""
    return [name for name, (group, _) in TASKS.items() if group == difficulty]
