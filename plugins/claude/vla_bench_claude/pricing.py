"""Per-call cost from token usage: a documented list-price table, overridable per run.

Prices are USD per million tokens, Anthropic's list prices for the Claude API as published on
https://platform.claude.com/docs/en/about-claude/pricing (model pricing and prompt-caching
tables; Sonnet 5.5 with the cache-read price cut of 2026-10-07), as of 2026-11. Batch, fast
mode, data-residency and long-context surcharges do not apply to this agent's requests.
Claude Haiku 5.5 bills a request whose prompt exceeds 100,000 tokens at 5x; that band is
modelled. A model missing here, or any OpenAI-compatible endpoint, is priced with the
``price_in=`` / ``price_out=`` policy options (USD per million tokens); a self-hosted model
costs 0 unless you give it a price.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Usage:
    """Token counts of one call, split the way the Messages API bills them.

    ``input_tokens`` excludes cached tokens (Anthropic reports the three separately; an
    OpenAI-compatible server reports only ``input_tokens`` and ``output_tokens``).
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0

    @property
    def prompt_tokens(self) -> int:
        """Every input token of the call, cached or not."""
        return self.input_tokens + self.cache_write_tokens + self.cache_read_tokens


@dataclass(frozen=True)
class Price:
    """USD per million tokens for one model."""

    input: float
    output: float
    cache_write: float | None = None
    cache_read: float | None = None
    long_prompt_tokens: int | None = None
    long_prompt_factor: float = 1.0

    def cost(self, usage: Usage) -> float:
        """The USD cost of one call."""
        write = self.input * 1.25 if self.cache_write is None else self.cache_write
        read = self.input * 0.1 if self.cache_read is None else self.cache_read
        total = (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_write_tokens * write
            + usage.cache_read_tokens * read
        ) / 1e6
        if self.long_prompt_tokens is not None and usage.prompt_tokens > self.long_prompt_tokens:
            total *= self.long_prompt_factor
        return total


_OPUS_4_5 = Price(5.0, 25.0, 6.25, 0.50)
_OPUS_4_0 = Price(15.0, 75.0, 18.75, 1.50)
_SONNET_4 = Price(3.0, 15.0, 3.75, 0.30)

ANTHROPIC_PRICES: dict[str, Price] = {
    "claude-fable-5-1": Price(10.0, 50.0, 12.50, 0.25),
    "claude-mythos-5-1": Price(10.0, 50.0, 12.50, 0.25),
    "claude-fable-5": Price(10.0, 50.0, 12.50, 1.00),
    "claude-mythos-5": Price(10.0, 50.0, 12.50, 1.00),
    "claude-opus-5-5": Price(4.0, 20.0, 5.00, 0.20),
    "claude-opus-5": _OPUS_4_5,
    "claude-opus-4-8": _OPUS_4_5,
    "claude-opus-4-7": _OPUS_4_5,
    "claude-opus-4-6": _OPUS_4_5,
    "claude-opus-4-5": _OPUS_4_5,
    "claude-opus-4-1": _OPUS_4_0,
    "claude-opus-4-0": _OPUS_4_0,
    "claude-opus-4": _OPUS_4_0,
    "claude-sonnet-5-5": Price(2.0, 10.0, 2.50, 0.10),
    "claude-sonnet-5": Price(2.0, 10.0, 2.50, 0.20),
    "claude-sonnet-4-6": _SONNET_4,
    "claude-sonnet-4-5": _SONNET_4,
    "claude-sonnet-4-0": _SONNET_4,
    "claude-sonnet-4": _SONNET_4,
    "claude-haiku-5-5": Price(
        0.10, 0.50, 0.125, 0.01, long_prompt_tokens=100_000, long_prompt_factor=5.0
    ),
    "claude-haiku-4-5": Price(1.0, 5.0, 1.25, 0.10),
    "claude-3-5-haiku": Price(0.80, 4.0, 1.00, 0.08),
    "claude-3-haiku": Price(0.25, 1.25, 0.30, 0.03),
}
"""List prices by model id; dated snapshots ("claude-haiku-4-5-20251001") use their alias."""


def price_for(model: str, table: dict[str, Price]) -> Price | None:
    """The price of ``model``: an exact entry, else the longest entry it starts with."""
    if model in table:
        return table[model]
    prefixes = [key for key in table if model.startswith(key + "-")]
    return table[max(prefixes, key=len)] if prefixes else None
