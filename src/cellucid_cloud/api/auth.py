"""Curator authentication: API keys (stored hashed) exchanged for short-lived bearer tokens.

An API key carries 256 random bits, so a plain SHA-256 of it is a safe stored form (a slow
password hash protects low-entropy secrets; these are not). Tokens are HS256 JWTs signed with
the deployment's secret, valid for ``token_ttl`` seconds, naming the curator in ``sub``.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import datetime

from cellucid_cloud.catalog.models import ApiKeyRecord, utcnow
from cellucid_cloud.catalog.repository import CatalogRepository, Put
from cellucid_cloud.signed_tokens import ExpiredTokenError, InvalidTokenError, decode_token

__all__ = ["AuthError", "Authenticator", "hash_api_key", "new_secret"]

KEY_PREFIX = "ccak_"
ISSUER = "cellucid-cloud"
AUDIENCE = "curation"


class AuthError(Exception):
    """Missing, malformed, expired or revoked credentials (HTTP 401)."""


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Authenticator:
    def __init__(
        self,
        repository: CatalogRepository,
        signing_secret: str,
        token_ttl: int = 3600,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if len(signing_secret) < 32:
            raise ValueError("the token signing secret must have at least 32 characters")
        self.repo = repository
        self._secret = signing_secret
        self.token_ttl = token_ttl
        self.clock = clock

    def create_api_key(self, curator_id: str, label: str = "") -> str:
        """A new key for ``curator_id``; only its hash is stored, so show it to the user now."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        record = ApiKeyRecord(
            key_hash=hash_api_key(key), curator_id=curator_id, label=label, created_at=self.clock()
        )
        self.repo.commit([Put(record, create=True)])
        return key

    def curator_for_key(self, key: str | None) -> str:
        if not key or len(key) > 200:
            raise AuthError("send your API key in the x-api-key header")
        record = self.repo.get(ApiKeyRecord, hash_api_key(key))
        if record is None or record.revoked:
            raise AuthError("unknown or revoked API key")
        return record.curator_id

    def issue_token(self, curator_id: str) -> str:
        import jwt  # with cryptography ~150 ms: imported when a curator first needs it

        now = int(self.clock().timestamp())
        claims = {
            "sub": curator_id,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + self.token_ttl,
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def curator_for_bearer(self, token: str | None) -> str:
        """The curator of an ``Authorization: Bearer`` token; None when the header is missing."""
        if token is None:
            raise AuthError("send Authorization: Bearer <token> (POST /curation/v1/auth/token)")
        return self.curator_for_token(token)

    def curator_for_token(self, token: str) -> str:
        try:
            claims = decode_token(
                token,
                self._secret,
                audience=AUDIENCE,
                issuer=ISSUER,
                require=["sub", "iat"],
                now=self.clock().timestamp(),
            )
        except InvalidTokenError:
            raise AuthError("invalid access token") from None
        except ExpiredTokenError:
            raise AuthError("the access token has expired; get a new one") from None
        return str(claims["sub"])
