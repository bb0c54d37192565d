"""openpi's policy wire protocol for vla-bench: a client policy and a policy server."""
