"""The AWS composition: settings from the environment, the parts built from them, and the
logic behind the Lambda entry points in ``functions/`` (which only wire)."""
