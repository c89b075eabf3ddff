"""Local adapter of upload URLs: HS256-signed tokens naming one key, a size cap and an expiry.

The local stack's ``PUT /_cellucid/upload?token=…`` route verifies the token and streams the
body into the uploads folder, refusing bodies over the cap with 413; a part token of a
multipart upload (:mod:`~cellucid_cloud.storage.local_multipart`) names its upload, number and
offset too, and its cap is the part's exact size.

As strict as S3's presigned PUT, which signs the declared ``Content-Length``: a URL for a
declared size takes a body of exactly that size. Each token has its own id, so the upload
route can let each URL be used once (:mod:`~cellucid_cloud.local.upload_claims`).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from urllib.parse import quote

import jwt

from cellucid_cloud.core.ports import Timer
from cellucid_cloud.signed_tokens import ExpiredTokenError, InvalidTokenError, decode_token
from cellucid_cloud.storage.upload_urls import MAX_UPLOAD_EXPIRY, UploadUrl

__all__ = ["LocalUploadUrls", "PartGrant", "UploadGrant", "UploadTokenError"]

AUDIENCE = "local-upload"


class UploadTokenError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class PartGrant:
    multipart_id: str
    number: int
    offset: int


@dataclass(frozen=True, slots=True)
class UploadGrant:
    key: str
    max_bytes: int
    part: PartGrant | None = None
    """Set for one part of a multipart upload (then ``max_bytes`` is the part's exact size)."""
    token_id: str = ""
    exact: bool = False
    """The curator declared the size: the body must be exactly ``max_bytes`` long."""


class LocalUploadUrls:
    def __init__(self, base_url: str, secret: str, clock: Timer = time.time) -> None:
        self.base_url = base_url.rstrip("/")
        self._secret = secret
        self.clock = clock

    def upload_url(
        self, key: str, *, max_bytes: int, expires_in: int, size: int | None = None
    ) -> UploadUrl:
        """With ``size`` (the length the curator declared), the URL takes exactly that many
        bytes, as a presigned S3 PUT does; without it, up to ``max_bytes``."""
        expires_in = min(expires_in, MAX_UPLOAD_EXPIRY)
        cap = min(size, max_bytes) if size is not None else max_bytes
        claims: dict[str, object] = {"key": key, "max": cap, **({"exact": 1} if size else {})}
        return UploadUrl(
            url=self._url(claims, expires_in),
            headers={"Content-Type": "application/octet-stream"},
            expires_in=expires_in,
            max_bytes=cap,
        )

    def part_url(self, key: str, part: PartGrant, size: int, expires_in: int) -> str:
        """A URL for one part of a multipart upload: exactly ``size`` bytes, at its offset."""
        claims = {
            "key": key,
            "max": size,
            "mp": part.multipart_id,
            "part": part.number,
            "off": part.offset,
        }
        return self._url(claims, min(expires_in, MAX_UPLOAD_EXPIRY))

    def _url(self, claims: dict[str, object], expires_in: int) -> str:
        now = int(self.clock())
        token = jwt.encode(
            {
                **claims,
                "jti": uuid.uuid4().hex,
                "aud": AUDIENCE,
                "iat": now,
                "exp": now + expires_in,
            },
            self._secret,
            algorithm="HS256",
        )
        return f"{self.base_url}/_cellucid/upload?token={quote(token)}"

    def verify(self, token: str) -> UploadGrant:
        try:
            claims = decode_token(
                token,
                self._secret,
                audience=AUDIENCE,
                require=["key", "max", "jti"],
                now=self.clock(),
            )
        except InvalidTokenError:
            raise UploadTokenError("invalid upload token") from None
        except ExpiredTokenError:
            raise UploadTokenError("the upload URL has expired; ask for a new one") from None
        part = (
            PartGrant(str(claims["mp"]), int(claims["part"]), int(claims["off"]))
            if "mp" in claims
            else None
        )
        return UploadGrant(
            key=str(claims["key"]),
            max_bytes=int(claims["max"]),
            part=part,
            token_id=str(claims["jti"]),
            exact=bool(claims.get("exact")),
        )
