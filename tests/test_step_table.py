"""The step table a chunk executor builds: the executed actions, row by row, in STEP_SCHEMA."""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.chunking import ChunkExecutor
from harness.contract import ActionChunk, ActionSpace, EpisodeSpec, Observation, TaskSpec
from harness.results import STEP_SCHEMA

BOX = ActionSpace("box2", ("dx", "dy"), low=(-1.0, -1.0), high=(1.0, 1.0))
KEYS = ActionSpace("keys", ("noop", "left", "right"), discrete=True)


class Replay:
    """Answers each act() with the next of the given chunks."""

    def __init__(self, chunks: list[list[list[float]]]) -> None:
        self.chunks = list(chunks)

    def reset(self, spec: TaskSpec, episode: EpisodeSpec, env: Any = None) -> None:
        """Nothing to forget."""

    def act(self, observation: Observation) -> ActionChunk:
        """The next chunk."""
        return ActionChunk(np.array(self.chunks.pop(0)))


def _drive(space: ActionSpace, chunks: list[list[list[float]]], steps: int) -> Any:
    executor = ChunkExecutor(Replay(chunks), space, None)  # type: ignore[arg-type]
    executed = [executor.next_action({}) for _ in range(steps)]
    table = executor.table("t", 3, [0.0] * steps, [False] * steps, [None] * steps)
    return executed, table


def test_continuous_actions_are_the_executed_clipped_rows() -> None:
    executed, table = _drive(BOX, [[[0.5, -0.25], [2.0, 0.0]], [[0.125, -3.0]]], 3)
    assert table.schema == STEP_SCHEMA
    assert table.column("action").to_pylist() == [[0.5, -0.25], [1.0, 0.0], [0.125, -1.0]]
    assert [np.asarray(a).tolist() for a in executed] == table.column("action").to_pylist()
    assert table.column("clipped").to_pylist() == [False, True, True]
    assert table.column("chunk").to_pylist() == [0, 0, 1]
    assert table.column("chunk_pos").to_pylist() == [0, 1, 0]
    assert table.column("step").to_pylist() == [0, 1, 2]


def test_discrete_actions_are_one_index_per_row() -> None:
    executed, table = _drive(KEYS, [[[2.0], [0.0]], [[1.0]]], 3)
    assert executed == [2, 0, 1]
    assert table.column("action").to_pylist() == [[2.0], [0.0], [1.0]]


def test_an_episode_without_steps_has_an_empty_table() -> None:
    _, table = _drive(BOX, [], 0)
    assert table.num_rows == 0 and table.schema == STEP_SCHEMA


def test_clipping_follows_the_rows_executed_after_truncation() -> None:
    executor = ChunkExecutor(
        Replay([[[0.0, 0.0], [5.0, 0.0], [9.0, 9.0]], [[0.5, 0.5], [0.0, -2.0]]]),  # type: ignore[arg-type]
        BOX,
        2,  # the third row of the first chunk never runs
    )
    executed = [np.asarray(executor.next_action({})).tolist() for _ in range(4)]
    assert executed == [[0.0, 0.0], [1.0, 0.0], [0.5, 0.5], [0.0, -1.0]]
    assert executor.clipped == [False, True, False, True] and executor.clipped_total == 2


def test_non_finite_rows_are_bad_actions_with_or_without_finite_bounds() -> None:
    import pytest

    from harness.chunking import BadAction

    unbounded = ActionSpace("free2", ("x", "y"), low=(-np.inf, -1.0), high=(np.inf, 1.0))
    for space, row in ((BOX, [np.nan, 0.0]), (BOX, [0.0, np.inf]), (unbounded, [np.inf, 0.0])):
        executor = ChunkExecutor(Replay([[[0.0, 0.0], row]]), space, None)  # type: ignore[arg-type]
        with pytest.raises(BadAction, match="non-finite"):
            executor.next_action({})
    executor = ChunkExecutor(Replay([[[1e9, 5.0]]]), unbounded, None)  # type: ignore[arg-type]
    assert np.asarray(executor.next_action({})).tolist() == [1e9, 1.0]
    assert executor.clipped == [True]
