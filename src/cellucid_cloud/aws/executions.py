"""Step Functions adapter of the distributed export's start (:class:`~cellucid_cloud.core.
ports.Executions`)."""

from __future__ import annotations

from typing import Any

from cellucid_cloud.aws_calls import aws_client

__all__ = ["StateMachineExecutions", "stepfunctions_client"]


def stepfunctions_client() -> Any:
    return aws_client("stepfunctions")


class StateMachineExecutions:
    def __init__(self, state_machine_arn: str, client: Any) -> None:
        self.state_machine_arn = state_machine_arn
        self._client = client

    def start(self, name: str, document: str) -> None:
        """Names are unique per claim: an execution of that name already started is this
        one (a redelivered start), not an error."""
        from botocore.exceptions import ClientError

        try:
            self._client.start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=document
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise
