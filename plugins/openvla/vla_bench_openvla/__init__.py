"""OpenVLA for vla-bench, native: the Prismatic DINOv2+SigLIP / Llama-2 model in this package's
own code on current transformers, loading the published checkpoints by weight-name mapping.

Nothing here imports torch at import time: the plugin module registers a lazy target and the
model code is imported only when ``--policy openvla`` is used.
"""

__version__ = "0.1.0"
