"""vla-bench: a pluggable benchmark harness for robot Vision-Language-Action policies."""

from importlib import metadata

try:
    __version__ = metadata.version("vla-bench")
except metadata.PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"
