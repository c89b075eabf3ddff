"""How every AWS adapter calls AWS: clients from one factory, retried by botocore.

Every client uses botocore's "standard" retry mode (DESIGN §6): throttling, 5xx and connection
errors are retried with jittered exponential backoff before an adapter sees them (then they
become :class:`~cellucid_cloud.core.errors.StoreUnavailableError`:
:func:`unavailable_on_aws_errors`; errors that retrying cannot fix, a missing table or a
validation error, our bugs, pass through unchanged). What botocore cannot retry
is a batch call that succeeded with items left over (DynamoDB's ``UnprocessedKeys`` and
``UnprocessedItems`` when throttled or past a size limit): :func:`until_processed` sends those
again with the same kind of backoff. A conditional write that loses a race is not a transport
error and is not retried here: the catalog reads again and decides again.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Sized
from typing import Any

from cellucid_cloud.core.errors import StoreUnavailableError

__all__ = [
    "BACKOFF_CAP",
    "BATCH_ATTEMPTS",
    "aws_client",
    "unavailable_on_aws_errors",
    "until_processed",
]

BATCH_ATTEMPTS = 10
BACKOFF_BASE = 0.05
BACKOFF_CAP = 2.0
_UNAVAILABLE_CODES = frozenset(
    {
        "InternalServerError",
        "LimitExceededException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "SlowDown",
        "ThrottlingException",
    }
)


def aws_client(
    service: str,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    **config: Any,
) -> Any:
    """A boto3 client of ``service`` in a session of its own (sessions are not thread-safe;
    clients are), with standard retries and any further ``botocore`` ``Config`` options."""
    import boto3
    from botocore.config import Config

    session: Any = boto3.session.Session()  # typed per service name; the callers cast
    return session.client(
        service,
        endpoint_url=endpoint_url,
        region_name=region,
        config=Config(retries={"mode": "standard"}, **config),
    )


def until_processed[T: Sized](send: Callable[[T], T | None], pending: T, *, store: str) -> None:
    """Call ``send`` with what is still pending (first ``pending``) until it leaves nothing
    (it returns what the service left unprocessed), waiting between calls with full jitter;
    :class:`StoreUnavailableError` naming ``store`` after :data:`BATCH_ATTEMPTS` calls."""
    for attempt in range(BATCH_ATTEMPTS):
        if attempt:
            time.sleep(random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt)))
        left = send(pending)
        if not left:
            return
        pending = left
    raise StoreUnavailableError(
        f"{store} is unavailable (DynamoDB left {len(pending)} items unprocessed after "
        f"{BATCH_ATTEMPTS} attempts); try again shortly"
    )


def unavailable_on_aws_errors[**P, T](store: str) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Decorate an adapter method: throttling, 5xx and connection errors that outlasted
    botocore's retries become a :class:`StoreUnavailableError` naming ``store``."""

    def decorate(method: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(method)
        def call(*args: P.args, **kwargs: P.kwargs) -> T:
            from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

            try:
                return method(*args, **kwargs)
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                if code not in _UNAVAILABLE_CODES and status < 500:
                    raise
                raise StoreUnavailableError(
                    f"{store} is unavailable ({code or status}); try again shortly"
                ) from error
            except (ConnectionError, HTTPClientError) as error:
                raise StoreUnavailableError(
                    f"{store} is unavailable ({type(error).__name__}); try again shortly"
                ) from error

        return call

    return decorate
