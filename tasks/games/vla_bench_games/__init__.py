"""vla-bench task suite ``games``: LunarLander, CartPole, CartPole swing and Snake.

Each task gives the contract's observation (a rendered frame, the numeric state, the
instruction and a text rendering of the state for language agents), named discrete actions,
a documented success rule and a privileged scripted expert (``bench run --policy scripted``).
"""
