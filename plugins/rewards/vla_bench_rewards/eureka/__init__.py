"""The Eureka-style loop: LLM-written reward code, trained with PPO, in a sandbox."""
