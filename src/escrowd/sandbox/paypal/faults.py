"""PayPal's error object, as the sandbox answers it."""

from __future__ import annotations

from typing import Any

from escrowd.sandbox.paypal.store import debug_id

_NAMES = {
    400: (
        "INVALID_REQUEST",
        "Request is not well-formed, syntactically incorrect, or violates schema.",
    ),
    403: ("NOT_AUTHORIZED", "Authorization failed due to insufficient permissions."),
    404: ("RESOURCE_NOT_FOUND", "The specified resource does not exist."),
    422: (
        "UNPROCESSABLE_ENTITY",
        "The requested action could not be performed, semantically "
        "incorrect, or failed business validation.",
    ),
}


class PayPalError(Exception):
    """A refusal with PayPal's error body; ``body`` overrides the standard one (OAuth)."""

    def __init__(
        self,
        status: int,
        issue: str | None = None,
        description: str | None = None,
        *,
        field: str | None = None,
        location: str = "body",
        name: str | None = None,
        message: str | None = None,
        links: list[dict[str, str]] | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(issue or name or str(status))
        self.status = status
        default_name, default_message = _NAMES.get(
            status, ("INTERNAL_SERVER_ERROR", "An internal server error occurred.")
        )
        if body is None:
            body = {
                "name": name or default_name,
                "message": message or default_message,
                "debug_id": debug_id(),
            }
            if issue is not None:
                detail: dict[str, str] = {"issue": issue}
                if field is not None:
                    detail["field"] = field
                    detail["location"] = location
                if description is not None:
                    detail["description"] = description
                body["details"] = [detail]
            if links:
                body["links"] = links
        self.body = body


def invalid(field: str, issue: str, description: str) -> PayPalError:
    return PayPalError(400, issue, description, field=field)


def not_found(what: str, field: str) -> PayPalError:
    return PayPalError(
        404,
        "INVALID_RESOURCE_ID",
        f"Specified resource ID does not exist ({what}).",
        field=field,
        location="path",
    )


def unprocessable(issue: str, description: str, field: str | None = None) -> PayPalError:
    return PayPalError(422, issue, description, field=field)
