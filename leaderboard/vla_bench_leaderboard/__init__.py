"""vla-bench report renderers: terminal, Markdown and a self-contained HTML leaderboard.

``table.build`` turns loaded runs into the leaderboard; ``term``, ``markdown`` and ``html``
each render it. All three are registered as reporters by ``plugin``.
"""

__version__ = "0.1.0"
