"""Lambda entry point of the API function: HTTP API (payload format 2.0) events → the API app.

Wiring only; the app is ``cellucid_cloud.api.app.build_api`` behind Mangum. With SnapStart
(``AWS_LAMBDA_INITIALIZATION_TYPE`` is ``snap-start`` while Lambda initialises the version it
snapshots) the app is built here, at init, so that the snapshot holds it built; the build
reaches no AWS service (``cellucid_cloud.aws.api``).
"""

import os
import warnings
from typing import Any, cast

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum.types import LambdaContext as MangumContext

from cellucid_cloud.aws.api import api_handler

logger = Logger()
metrics = Metrics()
tracer = Tracer()
copy_config_to_registered_loggers(source_logger=logger, include={"cellucid_cloud"})
# Only the cold start adds a metric here; a warm request's empty flush is expected, not news.
warnings.filterwarnings("ignore", "No application metrics to publish")
if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":
    api_handler()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Mangum types the context as a protocol of its own (settable fields), Powertools as the
    # runtime's read-only object; Lambda passes the one object to both.
    return api_handler()(event, cast(MangumContext, context))
