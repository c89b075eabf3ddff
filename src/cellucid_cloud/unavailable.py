"""The error a store adapter raises when its backend is down, and the AWS errors that mean it.

botocore already retried a throttled or failing call with backoff (DESIGN §6: standard retry
mode) before the adapter sees the error, so at that point the request cannot succeed now but
may in a moment: callers answer 503 with ``Retry-After`` (never a text 500), and the prepare
pipeline fails the message so SQS delivers it again. Errors that retrying cannot fix (a
missing table, a validation error: our bugs) pass through unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

__all__ = ["RETRY_AFTER_SECONDS", "StoreUnavailableError", "unavailable_on_aws_errors"]

RETRY_AFTER_SECONDS = 5

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


class StoreUnavailableError(Exception):
    """A backing store could not be reached, or kept refusing, after retries."""


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
