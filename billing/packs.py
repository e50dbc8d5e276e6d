"""Credit packs and their prices: the one place that says what a pack gives and costs.

A pack's credits are fixed here. Its price is per provider: Stripe charges whatever the Price
object in the Stripe dashboard says, so the expected amount is configuration
(`StripeOptions.prices`, defaulting to the original product's $10/$25/$70); Razorpay orders are
created by us with the amounts below (the original's ₹830/₹2075/₹5810). Webhooks compare what was
paid with the stored price, so a misconfigured or tampered amount never buys credits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from billing.errors import UnknownPack

__all__ = [
    "PACKS",
    "RAZORPAY_PRICES",
    "STRIPE_PRICES",
    "Pack",
    "Price",
    "check_prices",
    "get_pack",
]


@dataclass(frozen=True)
class Pack:
    """A one-time purchase of `credits` credits (1 credit = 1 clip)."""

    name: str
    credits: int


@dataclass(frozen=True)
class Price:
    """An amount in the currency's minor unit (cents, paise) and an upper-case ISO 4217 code."""

    amount: int
    currency: str

    def __post_init__(self) -> None:
        if self.amount <= 0:
            raise ValueError(f"price amount must be > 0, not {self.amount}")
        if len(self.currency) != 3 or not self.currency.isupper():
            raise ValueError(f"currency must be an upper-case ISO 4217 code, not {self.currency!r}")


PACKS: Mapping[str, Pack] = MappingProxyType(
    {pack.name: pack for pack in (Pack("small", 50), Pack("medium", 150), Pack("large", 500))}
)

STRIPE_PRICES: Mapping[str, Price] = MappingProxyType(
    {"small": Price(1000, "USD"), "medium": Price(2500, "USD"), "large": Price(7000, "USD")}
)

RAZORPAY_PRICES: Mapping[str, Price] = MappingProxyType(
    {"small": Price(83000, "INR"), "medium": Price(207500, "INR"), "large": Price(581000, "INR")}
)


def get_pack(name: str) -> Pack:
    """The pack called `name`; raises `UnknownPack` naming the valid ones."""
    try:
        return PACKS[name]
    except KeyError:
        raise UnknownPack(name, tuple(PACKS)) from None


def check_prices(prices: Mapping[str, Price], provider: str) -> None:
    """Refuse a price table that misses a pack or names one that does not exist."""
    if set(prices) != set(PACKS):
        raise ValueError(
            f"{provider} prices must cover exactly the packs {sorted(PACKS)}, got {sorted(prices)}"
        )
