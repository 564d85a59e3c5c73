"""``POST /v1/webhooks/stripe`` and ``/paypal``: verify, store once, acknowledge.

``process_pending`` acts later.

There is no bearer auth on these routes: the provider's signature is the authentication.
Nothing is stored unless the signature verifies, and the answer never waits on handlers.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel

from escrowd.api import errors
from escrowd.api.deps import ContainerDep
from escrowd.api.telemetry import telemetry
from escrowd.clock import unix
from escrowd.config import PAYPAL_SANDBOX_WEBHOOK_ID
from escrowd.errors import ApiError, InvalidRequestError
from escrowd.logging import get_logger
from escrowd.providers.paypal import events as paypal_events
from escrowd.providers.paypal import webhook_signature as paypal_signature
from escrowd.providers.stripe import signature
from escrowd.providers.stripe.events import EventParseError, parse_event
from escrowd.webhooks import paypal_certs, service
from escrowd.webhooks.service import process_pending, requeue

__all__ = ["MAX_BODY_BYTES", "intake_app", "process_pending", "requeue", "router"]

log = get_logger(__name__)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

#: Stripe's events are a few kilobytes; anything far larger is not Stripe, and is refused
#: before an unauthenticated sender can make us buffer it.
MAX_BODY_BYTES = 1024 * 1024
#: Kept with the body for audits and replays; everything else a proxy adds is noise.
_KEPT_HEADERS = ("content-type", "user-agent", "stripe-signature")


class WebhookAck(BaseModel):
    received: bool
    #: Present (true) when this event id had already been stored; nothing was done again.
    duplicate: bool | None = None


@router.post(
    "/stripe",
    summary="Receive a Stripe event (configure this URL in Stripe's dashboard)",
    response_model=WebhookAck,
    response_model_exclude_none=True,
    responses={
        400: {"description": "Bad signature, stale or future timestamp, or not an event"},
        413: {"description": "Body larger than 1 MiB"},
        503: {"description": "No webhook secret configured"},
    },
    # The body is read raw (the signature covers its exact bytes), so FastAPI does not see the
    # header: it is declared here for the document only. A missing header is refused like a
    # bad one (400 `webhook_signature_invalid`, `param` Stripe-Signature). The body (a Stripe
    # Event) is not declared as JSON: it is not parsed before the signature verifies.
    openapi_extra={
        "parameters": [
            {
                "name": "Stripe-Signature",
                "in": "header",
                "required": True,
                "description": "Stripe's signature of the exact body: `t=<unix seconds>,"
                'v1=<hex HMAC-SHA256 of "<t>.<body>" with the endpoint\'s signing secret>`, '
                "possibly with several `v1` entries (docs/webhooks.md).",
                "schema": {"type": "string", "examples": ["t=1733328000,v1=5257a869e7…"]},
            }
        ],
    },
)
async def receive_stripe(request: Request, container: ContainerDep) -> WebhookAck:
    raw = await _read_body(request)
    secrets = container.settings.webhook_secrets
    if not secrets:
        log.error("webhook_secret_not_configured", provider="stripe")
        # Our fault, not Stripe's: a 5xx makes Stripe retry until the operator fixes it.
        raise ApiError(
            "No Stripe webhook secret is configured (ESCROWD_STRIPE_WEBHOOK_SECRETS).",
            code="webhook_secret_not_configured",
            status=503,
        )
    try:
        signature.verify(
            raw,
            request.headers.get("stripe-signature"),
            secrets,
            now=unix(container.clock.now()),
        )
    except signature.SignatureError as exc:
        log.warning("webhook_signature_refused", provider="stripe", reason=exc.reason.value)
        code = (
            "webhook_timestamp_out_of_tolerance"
            if exc.is_timestamp
            else "webhook_signature_invalid"
        )
        raise InvalidRequestError(exc.message, code=code, param="Stripe-Signature") from None
    try:
        event = parse_event(json.loads(raw))
    except (ValueError, RecursionError) as exc:
        detail = str(exc) if isinstance(exc, EventParseError) else "The body is not JSON."
        raise InvalidRequestError(
            f"Signed, but not a Stripe event: {detail}", code="webhook_payload_invalid"
        ) from None
    headers = {k: v for k in _KEPT_HEADERS if (v := request.headers.get(k)) is not None}
    created = await service.store(container, event, raw_body=raw, headers=headers)
    log.info(
        "webhook_received",
        provider="stripe",
        event_id=event.id,
        type=event.provider_type,
        duplicate=not created,
    )
    return WebhookAck(received=True, duplicate=None if created else True)


_PAYPAL_KEPT_HEADERS = (
    "content-type",
    "user-agent",
    *(h.lower() for h in paypal_signature.HEADERS),
)


def _paypal_header(name: str, description: str, example: str) -> dict[str, object]:
    return {
        "name": name,
        "in": "header",
        "required": True,
        "description": description,
        "schema": {"type": "string", "examples": [example]},
    }


@router.post(
    "/paypal",
    summary="Receive a PayPal event (configure this URL as a PayPal webhook listener)",
    response_model=WebhookAck,
    response_model_exclude_none=True,
    responses={
        400: {"description": "Bad signature or certificate URL, stale timestamp, or not an event"},
        413: {"description": "Body larger than 1 MiB"},
        503: {"description": "No PayPal webhook id configured"},
    },
    # As for Stripe: the body is read raw, so the headers are declared for the document only;
    # a missing one is refused like a bad one (400 `webhook_signature_invalid`).
    openapi_extra={
        "parameters": [
            _paypal_header("PAYPAL-TRANSMISSION-ID", "The delivery's id.", "69cd13f0-d67a"),
            _paypal_header(
                "PAYPAL-TRANSMISSION-TIME",
                "When PayPal sent it; at most ESCROWD_PAYPAL_WEBHOOK_TOLERANCE seconds from "
                "escrowd's clock.",
                "2026-12-05T10:00:00Z",
            ),
            _paypal_header(
                "PAYPAL-TRANSMISSION-SIG",
                'Base64 SHA256withRSA signature of "<transmission id>|<transmission time>|'
                '<webhook id>|<CRC32 of the body>" (docs/webhooks.md).',
                "lmsM0G…",
            ),
            _paypal_header(
                "PAYPAL-CERT-URL",
                "The signing certificate: https on PayPal's domain only.",
                "https://api.paypal.com/v1/notifications/certs/CERT-360caa42",
            ),
            _paypal_header("PAYPAL-AUTH-ALGO", "Must be SHA256withRSA.", "SHA256withRSA"),
        ],
    },
)
async def receive_paypal(request: Request, container: ContainerDep) -> WebhookAck:
    raw = await _read_body(request)
    own_cert = paypal_certs.sandbox_cert_url(container)
    webhook_ids = [i for i in (container.settings.paypal_webhook_id.strip(),) if i]
    if own_cert is not None:
        webhook_ids.append(PAYPAL_SANDBOX_WEBHOOK_ID)
    if not webhook_ids:
        log.error("webhook_secret_not_configured", provider="paypal")
        raise ApiError(
            "No PayPal webhook id is configured (ESCROWD_PAYPAL_WEBHOOK_ID).",
            code="webhook_secret_not_configured",
            status=503,
        )
    try:
        await paypal_signature.verify(
            raw,
            request.headers,
            webhook_ids=webhook_ids,
            certs=paypal_certs.cache_for(container),
            now=container.clock.now(),
            tolerance=container.settings.paypal_webhook_tolerance,
            own_sandbox_url=own_cert,
        )
    except paypal_signature.PayPalSignatureError as exc:
        log.warning("webhook_signature_refused", provider="paypal", reason=exc.message)
        code = (
            "webhook_timestamp_out_of_tolerance"
            if exc.is_timestamp
            else "webhook_signature_invalid"
        )
        raise InvalidRequestError(exc.message, code=code, param=exc.param) from None
    try:
        event = paypal_events.parse_event(json.loads(raw))
    except (ValueError, RecursionError) as exc:
        detail = str(exc) if isinstance(exc, paypal_events.EventParseError) else "not JSON"
        raise InvalidRequestError(
            f"Signed, but not a PayPal event: {detail}.", code="webhook_payload_invalid"
        ) from None
    headers = {k: v for k in _PAYPAL_KEPT_HEADERS if (v := request.headers.get(k)) is not None}
    created = await service.store(container, event, raw_body=raw, headers=headers)
    log.info(
        "webhook_received",
        provider="paypal",
        event_id=event.id,
        type=event.provider_type,
        duplicate=not created,
    )
    return WebhookAck(received=True, duplicate=None if created else True)


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large() -> InvalidRequestError:
    return InvalidRequestError(
        f"The webhook body is larger than {MAX_BODY_BYTES} bytes.",
        code="webhook_payload_too_large",
        status=413,
    )


def intake_app() -> FastAPI:
    """This endpoint alone, as an app: where the in-process sandbox delivers its events.

    Its ``state.container`` is set by the composition root. Same verification and storage
    as the public endpoint; none of the API's middleware applies to webhooks anyway.
    """
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, telemetry=telemetry(False))
    errors.install(app)
    app.include_router(router, prefix="/v1")
    return app
