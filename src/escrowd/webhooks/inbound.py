"""``POST /v1/webhooks/stripe``: verify, store once, acknowledge; ``process_pending`` acts later.

There is no bearer auth on this route: the Stripe-Signature header is the authentication.
Nothing is stored unless the signature verifies, and the answer never waits on handlers.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel

from escrowd.api import errors
from escrowd.api.deps import ContainerDep
from escrowd.clock import unix
from escrowd.errors import ApiError, InvalidRequestError
from escrowd.logging import get_logger
from escrowd.providers.stripe import signature
from escrowd.providers.stripe.events import EventParseError, parse_event
from escrowd.webhooks import service
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
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    errors.install(app)
    app.include_router(router, prefix="/v1")
    return app
