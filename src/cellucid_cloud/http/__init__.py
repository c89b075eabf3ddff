"""The HTTP rules every host applies, each family in one module and free of any web framework.

``answers`` (the response every host sends), ``errors`` (exceptions to status and JSON body),
``validation`` (parameters and JSON bodies refused with FastAPI's 422 messages), ``bodies``
(size limits and content types), ``conditional`` (entity tags, ``If-None-Match``,
``If-Range``), ``ranges`` (``Range``), ``codings`` (``Accept-Encoding``), ``cors`` (the public
reads' CORS headers), ``hosts`` (``Host`` checks and bind addresses) and ``paths`` (request
targets). The hosts adapt them: :mod:`cellucid_cloud.http.asgi` for the FastAPI and Starlette
apps (``up``, ``serve``, the API function), :mod:`cellucid_cloud.aws.resolver` for the Lambda
functions on Powertools' resolver.
"""
