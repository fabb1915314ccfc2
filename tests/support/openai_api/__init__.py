"""OpenAI's own schemas for the contract tests, from ``openapi-extract.json`` in this folder (an
extract of OpenAI's published OpenAPI description, MIT: see LICENSE here; ``extract.py`` remakes it)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4, DRAFT202012

EXTRACT = Path(__file__).resolve().parent / "openapi-extract.json"
SPEC_URI = "urn:openai:openapi"
DRAFTS = {"draft4": (DRAFT4, jsonschema.Draft4Validator), "2020-12": (DRAFT202012, jsonschema.Draft202012Validator)}


@cache
def validator(schema_name: str, draft: str = "2020-12") -> jsonschema.Validator:
    """A validator of ``#/components/schemas/<schema_name>``, its references resolved in the extract."""
    specification, validator_class = DRAFTS[draft]
    spec = json.loads(EXTRACT.read_text())
    registry = Registry().with_resource(SPEC_URI, Resource.from_contents(spec, default_specification=specification))
    return validator_class({"$ref": f"{SPEC_URI}#/components/schemas/{schema_name}"}, registry=registry)


def problems(schema_name: str, instance: object, draft: str = "2020-12") -> list[str]:
    return [error.message for error in validator(schema_name, draft).iter_errors(instance)]
