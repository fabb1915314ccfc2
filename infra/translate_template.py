"""The SAM template translated to plain CloudFormation, offline (aws-sam-translator, no AWS calls).

``python -m infra.translate_template [out.json]`` writes what CloudFormation will see after the
``AWS::Serverless-2016-10-31`` transform; cfn-lint and checkov read it (``make lint``), and the tests
hold its routes and IAM statements to the product's rules. Resource ``Metadata`` (checkov's skips with
their reasons) is carried over to the resources SAM generates.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"

# What the translator would otherwise ask AWS for.
PSEUDO_PARAMETERS = {"AWS::Region": "us-east-1", "AWS::Partition": "aws"}


def sam_template(path: Path = TEMPLATE) -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(path.read_text())


def translate(template: dict[str, Any] | None = None) -> dict[str, Any]:
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    template = copy.deepcopy(template if template is not None else sam_template())
    _as_packaged(template)
    import boto3

    session = boto3.session.Session(region_name=PSEUDO_PARAMETERS["AWS::Region"])
    translator = Translator(managed_policy_map={}, sam_parser=Parser(), boto_session=session)
    return translator.translate(
        template,
        parameter_values=dict(PSEUDO_PARAMETERS),
        passthrough_metadata=True,
        get_managed_policy_map=lambda: {},
    )


def _as_packaged(template: dict[str, Any]) -> None:
    """Local code folders become S3 locations, as ``sam package`` leaves them."""
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str) and not properties[key].startswith("s3://"):
                properties[key] = f"s3://sam-artifacts/{properties[key].strip('/')}.zip"


def main(argv: list[str] | None = None) -> None:
    arguments = sys.argv[1:] if argv is None else argv
    translated = json.dumps(translate(), indent=1, sort_keys=True)
    if arguments:
        Path(arguments[0]).parent.mkdir(parents=True, exist_ok=True)
        Path(arguments[0]).write_text(translated)
    else:
        print(translated)


if __name__ == "__main__":
    main()
