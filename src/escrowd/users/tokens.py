"""Access tokens: JWT, HS256 only, timed by the injected clock.

Claims: ``sub`` (user id), ``role``, ``iat``, ``exp``, ``iss``, ``aud``, ``jti`` and
``typ: "access"``. Decoding pins the algorithm (``alg: none`` and every other algorithm are
refused) and checks issuer and audience with PyJWT; ``exp`` and ``iat`` are checked here
against escrowd's clock, so tests (and the sandbox's test clock) can move time.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from uuid import uuid4

import jwt

from escrowd.clock import Clock, unix
from escrowd.config import Settings
from escrowd.errors import AuthenticationError

ALGORITHM: Final = "HS256"
TOKEN_TYPE: Final = "access"  # noqa: S105 - the typ claim, not a secret
#: Tolerated clock skew for ``iat`` between the server that issued a token and the one
#: checking it. ``exp`` gets none: an expired token is expired.
LEEWAY_SECONDS: Final = 30
_REQUIRED: Final = ["sub", "role", "iat", "exp", "iss", "aud", "jti", "typ"]


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: datetime
    expires_in: int


@dataclass(frozen=True, slots=True)
class TokenClaims:
    sub: str
    role: str
    jti: str
    issued_at: int
    expires_at: int


def _invalid(reason: str, code: str = "token_invalid") -> AuthenticationError:
    return AuthenticationError(
        f"The access token is {reason}. Log in again (POST /v1/auth/tokens) and send the new "
        "token as 'Authorization: Bearer <token>'.",
        code=code,
        headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{reason}"'},
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def issue(*, settings: Settings, clock: Clock, user_id: str, role: str) -> IssuedToken:
    now = clock.now().replace(microsecond=0)
    ttl = settings.access_token_ttl_seconds
    expires_at = now + timedelta(seconds=ttl)
    jti = uuid4().hex
    claims: dict[str, Any] = {
        "sub": user_id,
        "role": role,
        "iat": unix(now),
        "exp": unix(expires_at),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "jti": jti,
        "typ": TOKEN_TYPE,
    }
    token = jwt.encode(claims, settings.secret_key, algorithm=ALGORITHM, headers={"typ": "JWT"})
    return IssuedToken(token=token, jti=jti, expires_at=expires_at, expires_in=ttl)


def decode(token: str, *, settings: Settings, clock: Clock) -> TokenClaims:
    """Verified claims, or :class:`AuthenticationError` saying what to do."""
    claims = _verified(token, settings.secret_key, settings.jwt_audience, settings.jwt_issuer)
    now = unix(clock.now())
    if claims.expires_at <= now:
        raise _invalid("expired", code="token_expired")
    if claims.issued_at > now + LEEWAY_SECONDS:
        raise _invalid("issued in the future (check the server clocks)")
    return claims


@functools.lru_cache(maxsize=4096)
def _verified(token: str, secret_key: str, audience: str, issuer: str) -> TokenClaims:
    """The signature and the claims' shape checked: the same answer for the same token and
    key, so it is kept (a request's token is decoded twice, by the idempotency middleware and
    by the route, and a client sends it again and again). A refusal raises and is not kept.
    Time is not checked here: ``decode`` checks it against the clock on every call."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret_key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            options={
                "require": _REQUIRED,
                # Time is checked by decode, against escrowd's clock, not the host's.
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.InvalidAudienceError:
        raise _invalid("meant for another service (wrong audience)") from None
    except jwt.InvalidIssuerError:
        raise _invalid("from another issuer") from None
    except jwt.MissingRequiredClaimError as exc:
        raise _invalid(f"missing the '{exc.claim}' claim") from None
    except jwt.InvalidAlgorithmError:
        raise _invalid(f"not signed with {ALGORITHM}") from None
    except jwt.InvalidSignatureError:
        raise _invalid("not signed by this server") from None
    except jwt.PyJWTError:
        raise _invalid("malformed") from None

    if claims.get("typ") != TOKEN_TYPE:
        raise _invalid("not an access token")
    sub, role, jti = claims.get("sub"), claims.get("role"), claims.get("jti")
    iat, exp = claims.get("iat"), claims.get("exp")
    if not (isinstance(sub, str) and isinstance(role, str) and isinstance(jti, str)):
        raise _invalid("malformed")
    if not (_is_int(iat) and _is_int(exp)):
        raise _invalid("malformed")
    assert isinstance(iat, int)
    assert isinstance(exp, int)
    return TokenClaims(sub=sub, role=role, jti=jti, issued_at=iat, expires_at=exp)
