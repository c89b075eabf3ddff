"""HS256 tokens checked against an injected clock (curator bearer tokens, local upload URLs).

PyJWT checks ``exp`` and ``iat`` against the real time; we check expiry against the caller's
clock instead, so tests can move time and both token kinds expire the same way.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ExpiredTokenError", "InvalidTokenError", "decode_token"]


class InvalidTokenError(Exception):
    pass


class ExpiredTokenError(Exception):
    pass


def decode_token(
    token: str,
    secret: str,
    *,
    audience: str,
    require: list[str],
    now: float,
    issuer: str | None = None,
) -> dict[str, Any]:
    """The claims of a valid, unexpired token; :class:`InvalidTokenError` or
    :class:`ExpiredTokenError` otherwise."""
    import jwt

    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=audience,
            issuer=issuer,
            options={"require": ["exp", *require], "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError:
        raise InvalidTokenError from None
    if claims["exp"] <= now:
        raise ExpiredTokenError
    return claims
