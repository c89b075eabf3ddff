"""Lambda entry points of the distributed export's steps (one function each: plan, row blocks,
gene blocks, finalize), invoked by the export state machine.

Wiring only; the logic is ``cellucid_cloud.distributed`` behind ``cellucid_cloud.aws.export_steps``.
"""

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from cellucid_cloud.aws.export_steps import export_steps

logger = Logger()
tracer = Tracer()
copy_config_to_registered_loggers(source_logger=logger, include={"cellucid_cloud"})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def plan(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return export_steps().plan(event)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def row_blocks(event: dict[str, Any], context: LambdaContext) -> list[int]:
    return export_steps().row_blocks(event)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def gene_blocks(event: dict[str, Any], context: LambdaContext) -> list[int]:
    return export_steps().gene_blocks(event)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def finalize(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return export_steps().finalize(event)
