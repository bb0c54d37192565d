"""A minimal vla-bench plugin: the ``example-reach`` task and the ``example-pd`` policy."""
