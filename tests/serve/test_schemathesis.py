"""Schemathesis fuzzes every operation in /openapi.json against the in-process app: whatever the
input, the answer is never a 5xx (`not_a_server_error`).

The app runs on a migrated SQLite file with local storage, both in a temporary directory, with
Stripe and Razorpay on against their loopback stubs. Every request carries a real user's bearer
token, so the authenticated routes run past their 401.
Hooks make some path ids name objects that exist (the user's upload, job, clip and stored file)
and some bodies obey the rules the schema cannot state (an email's form, a filename matching its
content type, a pack that exists), so the routes also run past their
404 and 422. Left out: the Server-Sent Events stream `/jobs/{job_id}/events` (it stays open
while its job runs) and `/process_video`, which runs the real pipeline synchronously (its
validation and auth are tested in routes/test_process_video.py, and the whole call end to end in
test_flow.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from sqlalchemy.orm import sessionmaker

from billing.packs import PACKS
from db.engine import make_engine, make_session_factory
from db.migrate import upgrade
from serve.app import create_app
from serve.resources import storage_for
from tests.utils.api import api_settings, finish_with_clips, sign_up, start_job, upload_video
from tests.utils.razorpay_stub import RazorpayStub
from tests.utils.stripe_stub import StripeStub

schemathesis = pytest.importorskip("schemathesis")

EXCLUDED_PATHS = ["/jobs/{job_id}/events", "/process_video"]
KNOWN = "known-object"  # stands for the id of an existing object in generated path parameters
KNOWN_PARAMETERS = ("upload_id", "job_id", "clip_id", "key")
PACK_BODIES = st.fixed_dictionaries({"pack": st.sampled_from(sorted(PACKS))})
# Bodies that satisfy what the OpenAPI schema cannot say: an email's form, a password's length,
# a filename's extension matching its content type, a pack that exists.
VALID_BODIES = {
    ("POST", "/auth/signup"): st.fixed_dictionaries(
        {
            "email": st.from_regex(r"[a-z0-9]{1,20}@[a-z]{1,10}\.(com|org|io)", fullmatch=True),
            "password": st.text(min_size=8, max_size=18),
        }
    ),
    ("POST", "/uploads"): st.sampled_from(
        sorted(api_settings().allowed_upload_types.items())
    ).flatmap(
        lambda kind: st.fixed_dictionaries(
            {
                "filename": st.text(min_size=1, max_size=40).map(lambda stem: f"{stem}.{kind[0]}"),
                "content_type": st.just(kind[1]),
                "size": st.integers(min_value=1, max_value=2**40),
            }
        )
    ),
    ("POST", "/billing/stripe/checkout"): PACK_BODIES,
    ("POST", "/billing/razorpay/orders"): PACK_BODIES,
}


@dataclass(frozen=True)
class FuzzTarget:
    app: FastAPI
    user_headers: dict[str, str]
    known_ids: dict[str, str]  # path parameter name -> a value that exists


def _billing_settings(stripe_api: str, razorpay_api: str) -> dict[str, Any]:
    """Both providers on, against loopback stubs: the billing routes run past their 503."""
    return {
        "stripe_secret_key": "sk_test_schemathesis",
        "stripe_webhook_secret": "whsec_schemathesis",
        "stripe_price_small": "price_small",
        "stripe_price_medium": "price_medium",
        "stripe_price_large": "price_large",
        "stripe_api_base": stripe_api,
        "razorpay_key_id": "rzp_test_schemathesis",
        "razorpay_key_secret": "rzp_secret_schemathesis",
        "razorpay_webhook_secret": "rzp_webhook_schemathesis",
        "razorpay_base_url": razorpay_api,
    }


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    root: Path = tmp_path_factory.mktemp("schemathesis")
    url = f"sqlite:///{root / 'clipzz.db'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with StripeStub() as stripe_stub, RazorpayStub() as razorpay_stub:
        config = api_settings(
            local_storage_dir=root / "storage",
            upload_urls_per_minute=10_000,
            max_active_jobs=10_000,
            max_jobs_per_day=10_000,
            signup_credits=1_000,
            **_billing_settings(stripe_stub.base_url, razorpay_stub.base_url),
        )
        app = create_app(
            config,
            session_factory=sessions,
            storage=storage_for(config),
        )
        with TestClient(app) as client:
            user = sign_up(client)
            upload = upload_video(client, user)
            job_id = start_job(client, user, upload["upload_id"], num_clips=1)
            finish_with_clips(sessions, job_id, ["one"])
            clips = client.get(f"/jobs/{job_id}/clips", headers=user.headers).json()["data"]
        yield FuzzTarget(
            app=app,
            user_headers=user.headers,
            known_ids={
                "upload_id": upload["upload_id"],
                "job_id": job_id,
                "clip_id": clips[0]["id"],
                "key": upload["storage_key"],
            },
        )
    engine.dispose()


def _load_schema() -> Any:
    """The app's OpenAPI document, from an app like the fixture's (it needs no database)."""
    config = api_settings()
    app = create_app(config, session_factory=sessionmaker(), storage=storage_for(config))
    loaded = schemathesis.openapi.from_dict(app.openapi()).exclude(path=EXCLUDED_PATHS)

    @loaded.hook
    def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> Any:
        """Some cases name existing objects: the test puts their ids in."""
        present = path_parameters or {}
        known = {name: KNOWN for name in KNOWN_PARAMETERS if name in present}
        if not known:
            return st.just(path_parameters)
        return st.sampled_from([path_parameters, {**present, **known}])

    @loaded.hook
    def flatmap_body(context: Any, body: Any) -> Any:
        """Some bodies obey the rules the schema cannot state, to reach past the 422."""
        valid = VALID_BODIES.get((context.operation.method.upper(), context.operation.path))
        return st.just(body) if valid is None else st.one_of(st.just(body), valid)

    return loaded


# Loaded at import, not from a fixture: schemathesis' `from_fixture` breaks on pytest 9 (it
# sets `Function._nodeid`, which pytest 9 no longer has).
schema = _load_schema()


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_server_errors(case: Any, fuzz_target: FuzzTarget) -> None:
    for name, value in (case.path_parameters or {}).items():
        if value == KNOWN:
            case.path_parameters[name] = fuzz_target.known_ids[name]
    case.call_and_validate(
        app=fuzz_target.app,
        headers=fuzz_target.user_headers,
        checks=[schemathesis.checks.not_a_server_error],
    )
