"""Errors raised by billing/ on purpose.

    BillingError                    base of everything billing/ raises on purpose
     ├── BillingNotConfigured       the provider has no options (keys unset): answer 503
     ├── UnknownPack                a pack name outside `billing.packs.PACKS`: answer 400
     ├── PaymentVerificationFailed  a webhook's signature is missing, wrong or stale, or its
     │                              signed body is not an event: answer 400, store nothing
     └── PaymentProviderError       the provider's API failed or could not be reached: answer 502

Provider SDK exceptions never leave billing/: each provider module translates them at its edge
into `PaymentProviderError` or `PaymentVerificationFailed`, chained `from exc`. A verified event
that cannot be credited (unknown user or pack, wrong amount) is not an error: it is stored as a
failed webhook event and reported in `WebhookOutcome`, so the provider stops retrying. The serve
layer maps this tree to HTTP status codes; billing/ knows nothing of HTTP.
"""

from __future__ import annotations

__all__ = [
    "BillingError",
    "BillingNotConfigured",
    "PaymentProviderError",
    "PaymentVerificationFailed",
    "UnknownPack",
]


class BillingError(Exception):
    """Base class of the errors billing/ raises on purpose; messages are safe to show."""


class BillingNotConfigured(BillingError):
    def __init__(self, provider: str) -> None:
        super().__init__(f"{provider} payments are not configured on this server")
        self.provider = provider


class UnknownPack(BillingError):
    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        super().__init__(f"unknown credit pack {name!r}; expected one of: {', '.join(known)}")
        self.name = name


class PaymentVerificationFailed(BillingError):
    """The webhook cannot be trusted: nothing from it was stored or credited."""

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(f"{provider} webhook rejected: {message}")
        self.provider = provider


class PaymentProviderError(BillingError):
    """The provider refused the request or did not answer; `__cause__` holds the SDK error."""

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(f"{provider} request failed: {message}")
        self.provider = provider
