"""vla-bench rewards: VLM judges, reward-shaped RL (Stable-Baselines3) and an Eureka-style loop."""

__version__ = "0.1.0"
