"""Packs and price tables: one definition, checked where it is configured."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from billing.errors import UnknownPack
from billing.packs import PACKS, RAZORPAY_PRICES, STRIPE_PRICES, Price, get_pack
from billing.razorpay import RazorpayOptions


def test_packs_match_the_original_product() -> None:
    assert {name: pack.credits for name, pack in PACKS.items()} == {
        "small": 50,
        "medium": 150,
        "large": 500,
    }
    assert {name: (p.amount, p.currency) for name, p in STRIPE_PRICES.items()} == {
        "small": (1000, "USD"),
        "medium": (2500, "USD"),
        "large": (7000, "USD"),
    }
    assert {name: (p.amount, p.currency) for name, p in RAZORPAY_PRICES.items()} == {
        "small": (83000, "INR"),
        "medium": (207500, "INR"),
        "large": (581000, "INR"),
    }


def test_get_pack_names_the_valid_packs() -> None:
    assert get_pack("large").credits == 500
    with pytest.raises(UnknownPack, match="unknown credit pack 'xl'; expected one of: small"):
        get_pack("xl")


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [(0, "USD", "amount must be > 0"), (100, "usd", "upper-case"), (100, "RUPEE", "ISO 4217")],
)
def test_price_refuses_nonsense(amount: int, currency: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Price(amount, currency)


def test_price_table_must_cover_every_pack() -> None:
    with pytest.raises(ValueError, match="Razorpay prices must cover exactly the packs"):
        RazorpayOptions(
            key_id="rzp_test_key",
            key_secret=SecretStr("s"),
            webhook_secret=SecretStr("w"),
            prices={"small": Price(100, "INR")},
        )
