"""Lambda entry point of the meta function: HTTP API (payload format 2.0) events for the
public, read-only routes (meta lookups, collections, ``datasets.json``,
``/_cellucid/health|info|datasets``, downloads).

Wiring only; the routes are ``cellucid_cloud.aws.meta`` (Powertools' resolver) over
``cellucid_cloud.api.public``. No Powertools Tracer: it imports the X-Ray SDK (and botocore with
it), ~250 ms of CPU, most of this function's cold start budget; Lambda's active tracing still
records every invocation and its initialisation (docs/deploy.md).
"""

import warnings
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from cellucid_cloud.aws.meta import meta_app

logger = Logger()
metrics = Metrics()
copy_config_to_registered_loggers(source_logger=logger, include={"cellucid_cloud"})
# Only the cold start adds a metric here; a warm request's empty flush is expected, not news.
warnings.filterwarnings("ignore", "No application metrics to publish")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return meta_app().resolve(event, context)
