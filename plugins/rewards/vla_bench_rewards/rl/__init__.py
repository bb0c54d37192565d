"""Reward-shaped reinforcement learning through Stable-Baselines3."""
