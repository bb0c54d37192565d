"""LeRobot policy backends for vla-bench (imports nothing heavy: see ``plugin``)."""
