"""Billing settings mapped onto billing/'s typed options, and the routes' dependencies on them.

A provider is off (None: its routes answer 503) while none of its keys is set, and fully on once
they all are. Anything in between is a mistake that would surface only when the first buyer
pays, so it stops the app at start-up instead, naming the settings that are missing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from pydantic import AliasChoices, SecretStr

from billing.razorpay import RazorpayOptions
from billing.stripe import StripeOptions
from pipeline.errors import InvalidInput
from serve.settings import Settings

__all__ = [
    "RazorpayOptionsDep",
    "StripeOptionsDep",
    "razorpay_options",
    "stripe_options",
]

# Pack name -> the setting holding its Stripe Price id.
_STRIPE_PRICE_FIELDS = {
    "small": "stripe_price_small",
    "medium": "stripe_price_medium",
    "large": "stripe_price_large",
}


def stripe_options(settings: Settings) -> StripeOptions | None:
    """Stripe's options, or None when neither its secret key nor its webhook secret is set.

    Either one set requires both, and a Price id for every pack; raises `InvalidInput`
    naming what is missing. Relative success and cancel URLs are joined to `public_base_url`.
    """
    if not (_is_set(settings.stripe_secret_key) or _is_set(settings.stripe_webhook_secret)):
        return None
    required = ["stripe_secret_key", "stripe_webhook_secret", *_STRIPE_PRICE_FIELDS.values()]
    _require_all(settings, "Stripe", required)
    assert settings.stripe_secret_key is not None and settings.stripe_webhook_secret is not None
    return StripeOptions(
        secret_key=settings.stripe_secret_key,
        webhook_secret=settings.stripe_webhook_secret,
        price_ids={pack: getattr(settings, name) for pack, name in _STRIPE_PRICE_FIELDS.items()},
        success_url=_absolute_url(settings, settings.stripe_success_url),
        cancel_url=_absolute_url(settings, settings.stripe_cancel_url),
        api_base=settings.stripe_api_base,
    )


def razorpay_options(settings: Settings) -> RazorpayOptions | None:
    """Razorpay's options, or None when none of its key id, key secret and webhook secret is
    set; one set requires all three (raises `InvalidInput` naming what is missing)."""
    required = ["razorpay_key_id", "razorpay_key_secret", "razorpay_webhook_secret"]
    if not any(_is_set(getattr(settings, name)) for name in required):
        return None
    _require_all(settings, "Razorpay", required)
    assert settings.razorpay_key_id is not None
    assert settings.razorpay_key_secret is not None
    assert settings.razorpay_webhook_secret is not None
    return RazorpayOptions(
        key_id=settings.razorpay_key_id,
        key_secret=settings.razorpay_key_secret,
        webhook_secret=settings.razorpay_webhook_secret,
        base_url=settings.razorpay_base_url,
    )


def _is_set(value: str | SecretStr | None) -> bool:
    """An empty value (`STRIPE_SECRET_KEY=` in an env file) counts as unset."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return bool(value)


def _require_all(settings: Settings, provider: str, fields: list[str]) -> None:
    missing = [name for name in fields if not _is_set(getattr(settings, name))]
    if missing:
        names = "; ".join(_env_names(name) for name in missing)
        raise InvalidInput(
            f"{provider} is only partly configured: set {names}, "
            f"or unset all of its keys to turn {provider} payments off"
        )


def _env_names(field: str) -> str:
    """The environment variables that set `field`, e.g. "STRIPE_SECRET_KEY or CLIPZZ_…"."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return " or ".join(str(choice) for choice in alias.choices)
    return f"CLIPZZ_{field.upper()}"


def _absolute_url(settings: Settings, url: str) -> str:
    """`url` as is when it has a scheme, else joined to `public_base_url`. Plain joining keeps
    a base path and Stripe's `{CHECKOUT_SESSION_ID}` placeholder intact."""
    if "://" in url:
        return url
    return f"{settings.public_base_url.rstrip('/')}/{url.lstrip('/')}"


def get_stripe_options(request: Request) -> StripeOptions | None:
    return request.app.state.stripe_options


def get_razorpay_options(request: Request) -> RazorpayOptions | None:
    return request.app.state.razorpay_options


# None when the provider is off; billing/ then raises `BillingNotConfigured` (503).
StripeOptionsDep = Annotated[StripeOptions | None, Depends(get_stripe_options)]
RazorpayOptionsDep = Annotated[RazorpayOptions | None, Depends(get_razorpay_options)]
