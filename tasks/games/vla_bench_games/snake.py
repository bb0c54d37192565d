"""``snake``: the classic game on a 10 x 10 grid, drawn as an image, won at length 10.

Rules: the snake starts with length 3 at the centre, heading in a seeded random direction;
each step it moves one cell. Actions are absolute headings ("up", "down", "left", "right")
plus "continue" (keep the heading), which is the no-op; turning straight back into the neck
is ignored. Eating the food grows the snake by one and places new food on a free cell
(seeded). Hitting a wall or the body ends the episode. Success: length ``TARGET_LENGTH``.
Reward: +1 per food, -1 for a crash. Coordinates are (x, y) with x to the right and y
downward, (0, 0) the top-left cell.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from harness.contract import ActionSpace, EpisodeSpec, Observation, PolicyConfig, TaskSpec
from vla_bench_games.base import GameEnv, GameTask
from vla_bench_games.experts import ExpertBase

GRID = 10
TARGET_LENGTH = 10
START_LENGTH = 3
CELL_PX = 20
IMAGE_PX = (GRID + 2) * CELL_PX  # one wall cell on every side

Cell = tuple[int, int]
HEADINGS: dict[str, Cell] = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}

ACTIONS = ActionSpace(
    name="snake_discrete",
    names=("continue", "up", "down", "left", "right"),
    discrete=True,
    description=(
        "0 continue in the current heading; 1-4 turn to an absolute heading (up = towards "
        "the top of the image). Turning straight back is ignored."
    ),
    hold=(0,),  # keep the heading while the policy thinks
)

STATE_FIELDS = ("head_x", "head_y", "heading_x", "heading_y", "food_x", "food_y", "length")

SPEC = TaskSpec(
    name="snake",
    version="1",
    suite="games",
    instruction=(
        f"Steer the green snake to eat the red food and grow to length {TARGET_LENGTH} "
        "without hitting the grey walls or its own body."
    ),
    control_hz=10.0,
    max_steps=500,
    action_space=ACTIONS,
    state_fields=STATE_FIELDS,
    cameras={"front": (IMAGE_PX, IMAGE_PX)},
    has_ee_pose=False,
    description=(
        f"Snake on a {GRID}x{GRID} grid (x right, y down). State: head cell, heading, food "
        f"cell, length; the full body is in the text. Success: length {TARGET_LENGTH}."
    ),
)

_WALL = (128, 128, 128)
_FLOOR = (245, 245, 235)
_BODY = (60, 170, 60)
_HEAD = (10, 90, 10)
_FOOD = (220, 30, 30)


class SnakeGame(GameEnv):
    """Our own Snake, seeded through Gymnasium's ``np_random``."""

    def __init__(self, spec: TaskSpec = SPEC, *, render: bool = True) -> None:
        super().__init__(spec, render=render)
        self.body: deque[Cell] = deque()
        self.heading: Cell = (1, 0)
        self.food: Cell = (0, 0)
        self.crashed = False

    # -- rules ------------------------------------------------------------------------------
    def _game_reset(self, seed: int | None, options: dict[str, Any] | None) -> None:
        self.heading = list(HEADINGS.values())[int(self.np_random.integers(4))]
        centre = (GRID // 2, GRID // 2)
        dx, dy = self.heading
        self.body = deque((centre[0] - i * dx, centre[1] - i * dy) for i in range(START_LENGTH))
        self.crashed = False
        self._place_food()

    def _place_food(self) -> None:
        taken = set(self.body)
        free = [(x, y) for y in range(GRID) for x in range(GRID) if (x, y) not in taken]
        self.food = free[int(self.np_random.integers(len(free)))]

    def _game_step(self, action: int) -> tuple[float, bool]:
        if action != 0:
            wanted = HEADINGS[self.task_spec.action_space.names[action]]
            if (wanted[0] + self.heading[0], wanted[1] + self.heading[1]) != (0, 0):
                self.heading = wanted
        head = (self.body[0][0] + self.heading[0], self.body[0][1] + self.heading[1])
        eats = head == self.food
        # the tail cell is free this step unless the snake grows
        body = list(self.body) if eats else list(self.body)[:-1]
        if not (0 <= head[0] < GRID and 0 <= head[1] < GRID) or head in body:
            self.crashed = True
            return -1.0, True
        self.body.appendleft(head)
        if not eats:
            self.body.pop()
            return 0.0, False
        if len(self.body) >= TARGET_LENGTH:
            return 1.0, True  # won: the game ends here
        self._place_food()
        return 1.0, False

    def _game_success(self, terminated: bool) -> bool:
        return not self.crashed and len(self.body) >= TARGET_LENGTH

    def _game_info(self) -> dict[str, Any]:
        return {"length": len(self.body)}

    # -- what the agent sees ----------------------------------------------------------------
    def _game_state(self) -> np.ndarray:
        head = self.body[0]
        return np.array([*head, *self.heading, *self.food, len(self.body)], dtype=np.float32)

    def board(self) -> list[str]:
        """The board as text rows, walls included (# wall, H head, o body, F food, . empty)."""
        rows = [["."] * GRID for _ in range(GRID)]
        for x, y in list(self.body)[1:]:
            rows[y][x] = "o"
        rows[self.food[1]][self.food[0]] = "F"
        hx, hy = self.body[0]
        rows[hy][hx] = "H"
        wall = "#" * (GRID + 2)
        return [wall, *("#" + "".join(r) + "#" for r in rows), wall]

    def _game_text(self) -> str:
        name = {v: k for k, v in HEADINGS.items()}[self.heading]
        cells = " ".join(f"({x},{y})" for x, y in self.body)
        board = "\n".join(self.board())
        return (
            f"Snake length {len(self.body)} (goal {TARGET_LENGTH}). Head at {self.body[0]} "
            f"heading {name}. Food at {self.food}.\n"
            f"Body from head to tail: {cells}.\n"
            f"Grid {GRID}x{GRID}: x grows to the right, y grows downward, (0, 0) is the "
            f"top-left cell; the walls surround it.\n"
            f"Board (# wall, H head, o body, F food, . empty):\n{board}"
        )

    def _game_frame(self) -> np.ndarray:
        n = GRID + 2
        cells = np.empty((n, n, 3), dtype=np.uint8)
        cells[:] = _WALL
        cells[1:-1, 1:-1] = _FLOOR
        cells[self.food[1] + 1, self.food[0] + 1] = _FOOD
        for x, y in list(self.body)[1:]:
            cells[y + 1, x + 1] = _BODY
        hx, hy = self.body[0]
        cells[hy + 1, hx + 1] = _HEAD
        frame = np.repeat(np.repeat(cells, CELL_PX, axis=0), CELL_PX, axis=1)
        # thin grid lines make cells countable for a vision model
        frame[::CELL_PX, :] = frame[::CELL_PX, :] * 0.85
        frame[:, ::CELL_PX] = frame[:, ::CELL_PX] * 0.85
        return frame


def make_task() -> GameTask:
    """The ``snake`` task (track seeds 4000..4049)."""
    return GameTask(SPEC, SnakeGame, base_seed=4000)


class SnakeExpert(ExpertBase):
    """Shortest path to the food that keeps the tail reachable; otherwise chase the tail.

    Breadth-first search on the true board. Taking a path to the food is accepted only if,
    after it, the head can still reach the tail (the classic safety check); when no safe
    path exists the snake follows its tail, and as a last resort takes any move that survives.
    """

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__(config)
        self._game: SnakeGame | None = None

    def reset(self, task: TaskSpec, episode: EpisodeSpec, env: Any) -> None:
        """Keep the game to read the body and food."""
        self._game = self.unwrap(env, SnakeGame)

    @staticmethod
    def _neighbours(cell: Cell) -> list[Cell]:
        x, y = cell
        return [(x + dx, y + dy) for dx, dy in HEADINGS.values()]

    @staticmethod
    def _path(start: Cell, goal: Cell, blocked: set[Cell]) -> list[Cell] | None:
        """Shortest path start -> goal (excluding start) avoiding ``blocked``, or None."""
        previous: dict[Cell, Cell] = {}
        queue = deque([start])
        seen = {start}
        while queue:
            cell = queue.popleft()
            if cell == goal:
                path = [cell]
                while path[-1] in previous and previous[path[-1]] != start:
                    path.append(previous[path[-1]])
                return path[::-1]
            for nxt in SnakeExpert._neighbours(cell):
                in_grid = 0 <= nxt[0] < GRID and 0 <= nxt[1] < GRID
                if in_grid and nxt not in seen and (nxt not in blocked or nxt == goal):
                    seen.add(nxt)
                    previous[nxt] = cell
                    queue.append(nxt)
        return None

    def _safe_after(self, body: list[Cell], path: list[Cell], food: Cell) -> bool:
        """Whether, after walking ``path`` (eating at its end), the tail stays reachable."""
        snake = list(body)
        for cell in path:
            snake.insert(0, cell)
            if cell != food:
                snake.pop()
        if len(snake) >= TARGET_LENGTH:
            return True  # the game is won on arrival
        return self._path(snake[0], snake[-1], set(snake[:-1])) is not None

    def _move_to(self, head: Cell, cell: Cell) -> int:
        delta = (cell[0] - head[0], cell[1] - head[1])
        name = {v: k for k, v in HEADINGS.items()}[delta]
        return ACTIONS.names.index(name)

    def choose(self, observation: Observation) -> int:
        """The next heading along a safe path (see the class docstring)."""
        assert self._game is not None, "reset() must come before act()"
        body = list(self._game.body)
        head, food = body[0], self._game.food
        path = self._path(head, food, set(body[:-1]))
        if path and self._safe_after(body, path, food):
            return self._move_to(head, path[0])
        to_tail = self._path(head, body[-1], set(body[:-1]))
        if to_tail:
            return self._move_to(head, to_tail[0])
        for cell in self._neighbours(head):
            if 0 <= cell[0] < GRID and 0 <= cell[1] < GRID and cell not in body[:-1]:
                return self._move_to(head, cell)
        return 0
