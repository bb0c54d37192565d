"""Digest the official LIBERO init states into ``vla_bench_libero/official_init_states.json``.

The official states are the ``.pruned_init`` files (torch pickles of NumPy arrays) that
``hf-libero`` ships in its wheel. The wheel is read as a zip and never installed or imported
(importing hf-libero fetches assets from the Hugging Face hub)::

    pip download --no-deps hf-libero==0.1.4 -d /tmp/hf
    .venv/bin/python tasks/libero/scripts/official_init_digest.py \
        /tmp/hf/hf_libero-0.1.4-py3-none-any.whl

Files are loaded with ``torch.load(weights_only=True)``, allowing only the three NumPy globals
an array pickle needs, so nothing else in them can run. It also prints whether every standard
task's package states match.
"""

from __future__ import annotations

import io
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy._core.multiarray import _reconstruct
from vla_bench_libero.catalog import STANDARD_SUITES, suites
from vla_bench_libero.init_states import OFFICIAL_DIGESTS_FILE, package_states, state_digest

NUMPY_PICKLE_GLOBALS: list[Any] = [
    (_reconstruct, "numpy.core.multiarray._reconstruct"),
    np.ndarray,
    np.dtype,
    np.dtypes.Float64DType,
]


def official_states(wheel: Path) -> dict[str, np.ndarray]:
    """``"<suite>/<task>"`` -> states, read from the wheel's ``<suite>/<task>.pruned_init``."""
    out: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            parts = member.split("/")
            if "init_files" not in parts or not member.endswith(".pruned_init"):
                continue
            suite, filename = parts[-2], parts[-1]
            if suite not in STANDARD_SUITES:
                continue
            with torch.serialization.safe_globals(NUMPY_PICKLE_GLOBALS):
                states = torch.load(io.BytesIO(archive.read(member)), weights_only=True)
            out[f"{suite}/{filename.removesuffix('.pruned_init')}"] = np.asarray(states)
    return out


def main(wheel: Path) -> int:
    """Write the digest file and compare the installed package's states with it."""
    official = official_states(wheel)
    digests = {key: state_digest(states) for key, states in sorted(official.items())}
    OFFICIAL_DIGESTS_FILE.write_text(json.dumps(digests, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(digests)} digests to {OFFICIAL_DIGESTS_FILE}")
    mismatches = 0
    for name in STANDARD_SUITES:
        for task in suites()[name].tasks:
            key = f"{name}/{task.libero_name}"
            ours = package_states(name, task.index)
            same = key in official and np.array_equal(ours, official[key])
            mismatches += not same
            if not same:
                print(f"DIFFERENT: {key}")
    total = sum(len(suites()[n].tasks) for n in STANDARD_SUITES)
    print(f"{total - mismatches}/{total} standard tasks: package states equal the official ones")
    return 1 if mismatches else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1])))
