"""The API documents itself: OpenAPI at /openapi.json, the UI at /docs."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_openapi_lists_every_route_with_readable_ids(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    operations = {
        (method.upper(), path): operation["operationId"]
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    }
    assert operations == {
        ("POST", "/auth/signup"): "auth-signup",
        ("POST", "/auth/login"): "auth-login",
        ("GET", "/me"): "auth-read_me",
        ("POST", "/uploads"): "uploads-create_upload_url",
        ("GET", "/uploads"): "uploads-read_uploads",
        ("POST", "/uploads/{upload_id}/complete"): "uploads-complete_upload",
        ("POST", "/uploads/{upload_id}/process"): "uploads-process_upload",
        ("GET", "/jobs"): "jobs-read_jobs",
        ("GET", "/jobs/{job_id}"): "jobs-read_job",
        ("DELETE", "/jobs/{job_id}"): "jobs-delete_job",
        ("GET", "/jobs/{job_id}/clips"): "jobs-read_job_clips",
        ("GET", "/jobs/{job_id}/events"): "jobs-job_events",
        ("GET", "/clips"): "clips-read_clips",
        ("GET", "/clips/{clip_id}/url"): "clips-read_clip_url",
        ("GET", "/billing/packs"): "billing-read_packs",
        ("POST", "/billing/stripe/checkout"): "billing-create_stripe_checkout",
        ("POST", "/billing/razorpay/orders"): "billing-create_razorpay_order",
        ("GET", "/billing/payments"): "billing-read_payments",
        ("GET", "/billing/ledger"): "billing-read_ledger",
        ("POST", "/api/webhooks/stripe"): "webhooks-stripe_webhook",
        ("POST", "/api/webhooks/razorpay"): "webhooks-razorpay_webhook",
        ("POST", "/process_video"): "process_video-process_video",
        ("PUT", "/files/{key}"): "files-put_file",
        ("GET", "/files/{key}"): "files-get_file",
    }
    signup = spec["paths"]["/auth/signup"]["post"]["responses"]
    assert signup["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorPublic"
    }
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_docs_page(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()
