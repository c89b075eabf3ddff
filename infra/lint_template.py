"""Check template.yaml offline: translate it with aws-sam-translator, then cfn-lint the result.

cfn-lint alone validates a SAM template against SAM's own schemas, but dependency cycles and
errors in the resources SAM generates (roles, permissions, event source mappings, the HTTP
API's stage) only exist after the transform. So both run: cfn-lint on template.yaml, and
cfn-lint on the CloudFormation that SAM makes of it.

The translation needs no AWS account: local CodeUri/ContentUri paths are replaced by a
placeholder S3 location (as ``sam validate`` does), the region is us-east-1 and managed policy
names are not looked up (the template names none).

cfn-lint does not look inside a SAM state machine's definition, so each one is also taken out
of the template (its ``DefinitionSubstitutions`` filled in with placeholders of the right
shape) and checked by ``asl-validator`` (npm), given with ``--asl-validator``; ``make
lint-template`` installs it when missing.

    .venv/bin/python infra/lint_template.py [template.yaml] [--output translated.json]
        [--asl-validator PATH]

Exit status 0 when every check reports nothing (errors, warnings or informational), 1 otherwise.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
REGION = "us-east-1"
PLACEHOLDER_S3 = {"Bucket": "placeholder-bucket", "Key": "placeholder-key"}
LOCAL_CODE = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
}


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template as plain data, CloudFormation tags (!Ref, !Sub…) as their long forms."""
    from cfnlint.decode import decode

    template, matches = decode(str(path))
    if matches or template is None:
        raise ValueError("\n".join(str(m) for m in matches) or f"{path}: not a template")
    plain: dict[str, Any] = json.loads(json.dumps(template))
    return plain


def translate(template: dict[str, Any]) -> dict[str, Any]:
    """The CloudFormation template SAM deploys for ``template``."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    sam = copy.deepcopy(template)
    for resource in sam.get("Resources", {}).values():
        prop = LOCAL_CODE.get(resource.get("Type"))
        if prop and isinstance(resource.get("Properties", {}).get(prop), str):
            resource["Properties"][prop] = dict(PLACEHOLDER_S3)
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    translator = Translator(
        managed_policy_map=None,
        sam_parser=Parser(),
        plugins=[],
        boto_session=boto3.session.Session(region_name=REGION),
    )
    translated: dict[str, Any] = translator.translate(
        sam_template=sam, parameter_values={}, get_managed_policy_map=dict
    )
    return translated


def lint(path: Path) -> list[str]:
    """cfn-lint's findings for one template file, all levels included."""
    from cfnlint.api import lint_file
    from cfnlint.config import ManualArgs

    config = ManualArgs(regions=[REGION], include_checks=["I"])
    return [str(match) for match in lint_file(path, config=config)]


def state_machine_definition(
    template: dict[str, Any], name: str, substitutions: dict[str, str] | None = None
) -> dict[str, Any]:
    """The definition of state machine ``name`` as Step Functions gets it: every
    ``${Key}`` of its DefinitionSubstitutions replaced by ``substitutions[Key]`` (default a
    placeholder ARN, or bucket name for keys ending in Bucket)."""
    properties = template["Resources"][name]["Properties"]
    values = {
        key: "placeholder-bucket"
        if key.endswith("Bucket")
        else f"arn:aws:lambda:{REGION}:123456789012:function:{key}"
        for key in properties.get("DefinitionSubstitutions", {})
    }
    values.update(substitutions or {})
    text = re.sub(r"\$\{(\w+)\}", lambda m: values[m[1]], json.dumps(properties["Definition"]))
    definition: dict[str, Any] = json.loads(text)
    return definition


def validate_state_machines(template: dict[str, Any], validator: Path) -> list[str]:
    """asl-validator's findings on every state machine of the template."""
    findings = []
    for name, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::StateMachine":
            continue
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{name}.json"
            path.write_text(json.dumps(state_machine_definition(template, name)))
            result = subprocess.run(
                [str(validator), "--json-path", str(path)],
                capture_output=True,
                text=True,
                check=False,
            )
        if result.returncode != 0:
            findings.append(f"{name}: {(result.stdout + result.stderr).strip()}")
    return findings


def check(
    template_path: Path = TEMPLATE, output: Path | None = None, asl_validator: Path | None = None
) -> list[str]:
    """Every finding on the SAM template, its translation and (given ``asl_validator``) its
    state machines' definitions (empty when clean)."""
    from samtranslator.model.exceptions import InvalidDocumentException

    findings = [f"SAM template: {f}" for f in lint(template_path)]
    if asl_validator is not None:
        findings += [
            f"state machine {f}"
            for f in validate_state_machines(load_template(template_path), asl_validator)
        ]
    try:
        translated = translate(load_template(template_path))
    except InvalidDocumentException as exc:
        return [*findings, *(f"SAM transform: {cause}" for cause in exc.causes)]
    text = json.dumps(translated, indent=1, sort_keys=True)
    if output is not None:
        output.write_text(text)
        return findings + [f"translated: {f}" for f in lint(output)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "translated.json"
        path.write_text(text)
        return findings + [f"translated: {f}" for f in lint(path)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("template", nargs="?", type=Path, default=TEMPLATE)
    parser.add_argument("--output", type=Path, help="also keep the translated template here")
    parser.add_argument("--asl-validator", type=Path, help="asl-validator's executable")
    args = parser.parse_args(argv)
    findings = check(args.template, args.output, args.asl_validator)
    for finding in findings:
        print(finding, file=sys.stderr)
    if findings:
        print(f"{args.template}: {len(findings)} finding(s)", file=sys.stderr)
        return 1
    print(f"{args.template}: translated and linted clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
