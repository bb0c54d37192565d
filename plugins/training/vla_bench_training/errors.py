"""The errors a user of ``bench demos``, ``bench import-handtracking`` and ``bench train`` can fix.

The commands print these (and the engine's own user errors) as one line; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations


class TrainingInputError(ValueError):
    """A demonstration, import or training request that cannot be carried out as asked; the
    message names the problem and the fix."""
