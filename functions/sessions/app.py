"""Lambda entry point of the sessions function: the sessions bucket's ObjectCreated
notifications for bundles PUT through upload URLs.

Wiring only; the logic is ``cellucid_cloud.aws.sessions``.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from cellucid_cloud.aws.sessions import Verdict, session_uploads

logger = Logger()
metrics = Metrics()
tracer = Tracer()
copy_config_to_registered_loggers(source_logger=logger, include={"cellucid_cloud"})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Verdict]:
    return session_uploads().handle(event)
