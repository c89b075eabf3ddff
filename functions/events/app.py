"""Lambda entry point of the events function: HTTP API (payload format 2.0) events for the
viewer, event and session bundle routes under ``/_cellucid/``.

Wiring only; the routes are ``cellucid_cloud.aws.events`` (Powertools' resolver) over
``cellucid_cloud.events.service``.
"""

import warnings
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from cellucid_cloud.aws.events import events_app

logger = Logger()
metrics = Metrics()
tracer = Tracer()
copy_config_to_registered_loggers(source_logger=logger, include={"cellucid_cloud"})
# Only the cold start adds a metric here; a warm request's empty flush is expected, not news.
warnings.filterwarnings("ignore", "No application metrics to publish")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return events_app().resolve(event, context)
