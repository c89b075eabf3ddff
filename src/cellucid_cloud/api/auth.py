"""Curator authentication: API keys (stored hashed) exchanged for short-lived bearer tokens.

An API key carries 256 random bits, so a plain SHA-256 of it is a safe stored form (a slow
password hash protects low-entropy secrets; these are not). Tokens are HS256 JWTs signed with
the deployment's secret, valid for ``token_ttl`` seconds, naming the curator in ``sub`` and, when
a key was exchanged for them, the key's hash in ``kid``: such a token stops working once its key
is revoked (deleted, or marked ``revoked``), at the latest :data:`KEY_CHECK_SECONDS` later, the
time a key's state is remembered.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable

from cachetools import TTLCache

from cellucid_cloud.catalog.models import ApiKeyRecord, utcnow
from cellucid_cloud.catalog.repository import Put
from cellucid_cloud.core.ports import CatalogRepository, Clock
from cellucid_cloud.http.errors import AuthError
from cellucid_cloud.signed_tokens import ExpiredTokenError, InvalidTokenError, decode_token

__all__ = [
    "KEY_CHECK_SECONDS",
    "Authenticator",
    "bearer_token",
    "hash_api_key",
    "new_secret",
]

KEY_PREFIX = "ccak_"
KEY_CHECK_SECONDS = 30.0
"""How long a key's state (valid or revoked) is remembered: a revoked key's tokens stop
working within this time, well inside the minute the deployment promises."""
ISSUER = "cellucid-cloud"
AUDIENCE = "curation"


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header, as FastAPI's HTTPBearer reads it (for
    hosts without FastAPI)."""
    scheme, _, token = (authorization or "").partition(" ")
    return token if scheme.lower() == "bearer" and token else None


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Authenticator:
    """``signing_secret`` is the secret, or a function that reads it when first needed (the
    Lambda functions' Secrets Manager read, which :meth:`forget` makes happen again)."""

    def __init__(
        self,
        repository: CatalogRepository,
        signing_secret: str | Callable[[], str],
        token_ttl: int = 3600,
        clock: Clock = utcnow,
    ) -> None:
        self.repo = repository
        self._read_secret = signing_secret if callable(signing_secret) else None
        self._secret = None if callable(signing_secret) else _checked(signing_secret)
        self.token_ttl = token_ttl
        self.clock = clock
        self._keys: TTLCache[str, bool] = TTLCache(
            # looked up at each call, so that tests can move the clock on
            maxsize=4096,
            ttl=KEY_CHECK_SECONDS,
            timer=lambda: time.monotonic(),  # noqa: PLW0108
        )
        self._lock = threading.Lock()

    def forget(self) -> None:
        """Drop the secret read from its source and every remembered key state (after a
        SnapStart restore: the snapshot's copies may be stale)."""
        with self._lock:
            if self._read_secret is not None:
                self._secret = None
            self._keys.clear()

    def _signing_secret(self) -> str:
        with self._lock:
            if self._secret is None:
                assert self._read_secret is not None
                self._secret = _checked(self._read_secret())
            return self._secret

    def create_api_key(self, curator_id: str, label: str = "") -> str:
        """A new key for ``curator_id``; only its hash is stored, so show it to the user now."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        record = ApiKeyRecord(
            key_hash=hash_api_key(key), curator_id=curator_id, label=label, created_at=self.clock()
        )
        self.repo.commit([Put(record, create=True)])
        return key

    def curator_for_key(self, key: str | None) -> str:
        return self._key_record(key).curator_id

    def _key_record(self, key: str | None) -> ApiKeyRecord:
        if not key or len(key) > 200:
            raise AuthError("send your API key in the x-api-key header")
        record = self.repo.get(ApiKeyRecord, hash_api_key(key))
        if record is None or record.revoked:
            raise AuthError("unknown or revoked API key")
        return record

    def token_for_key(self, key: str | None) -> str:
        """A bearer token for the curator of an API key, bound to that key (``kid``)."""
        record = self._key_record(key)
        return self.issue_token(record.curator_id, key_hash=record.key_hash)

    def issue_token(self, curator_id: str, key_hash: str | None = None) -> str:
        """A token for ``curator_id``; with ``key_hash``, one that dies with that key."""
        import jwt  # with cryptography ~150 ms: imported when a curator first needs it

        now = int(self.clock().timestamp())
        claims: dict[str, str | int] = {
            "sub": curator_id,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + self.token_ttl,
        }
        if key_hash is not None:
            claims["kid"] = key_hash
        return jwt.encode(claims, self._signing_secret(), algorithm="HS256")

    def curator_for_bearer(self, token: str | None) -> str:
        """The curator of an ``Authorization: Bearer`` token; None when the header is missing."""
        if token is None:
            raise AuthError("send Authorization: Bearer <token> (POST /curation/v1/auth/token)")
        return self.curator_for_token(token)

    def curator_for_token(self, token: str) -> str:
        try:
            claims = decode_token(
                token,
                self._signing_secret(),
                audience=AUDIENCE,
                issuer=ISSUER,
                require=["sub", "iat"],
                now=self.clock().timestamp(),
            )
        except InvalidTokenError:
            raise AuthError("invalid access token") from None
        except ExpiredTokenError:
            raise AuthError("the access token has expired; get a new one") from None
        key_hash = claims.get("kid")
        if key_hash is not None and not self._key_valid(str(key_hash)):
            raise AuthError("the API key of this token was revoked")
        return str(claims["sub"])

    def _key_valid(self, key_hash: str) -> bool:
        with self._lock:
            valid = self._keys.get(key_hash)
        if valid is None:
            record = self.repo.get(ApiKeyRecord, key_hash)
            valid = record is not None and not record.revoked
            with self._lock:
                self._keys[key_hash] = valid
        return valid


def _checked(secret: str) -> str:
    if len(secret) < 32:
        raise ValueError("the token signing secret must have at least 32 characters")
    return secret
