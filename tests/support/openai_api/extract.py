"""Writes ``openapi-extract.json``: the schemas the contract tests need from OpenAI's published OpenAPI
description (MIT, see LICENSE beside this file), with every schema they reference.

Run by hand when the description changes: ``python -m tests.support.openai_api.extract <openapi.yaml>``.
The tests read only the extract, so a clone of the repository needs nothing beside it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
EXTRACT = HERE / "openapi-extract.json"
SCHEMAS = (
    # what the service sends
    "CreateChatCompletionRequest",
    "CreateFileRequest",
    "CreateFineTuningJobRequest",
    # what the stand-ins answer in OpenAI's place
    "CreateChatCompletionResponse",
    "OpenAIFile",
    "ListFilesResponse",
    "FineTuningJob",
    "ListPaginatedFineTuningJobsResponse",
    "ListFineTuningJobEventsResponse",
)
PREFIX = "#/components/schemas/"


def references(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        reference = node.get("$ref")
        if isinstance(reference, str) and reference.startswith(PREFIX):
            found.add(reference[len(PREFIX) :])
        for value in node.values():
            found |= references(value)
    elif isinstance(node, list):
        for value in node:
            found |= references(value)
    return found


def extract(spec: dict[str, Any]) -> dict[str, Any]:
    schemas = spec["components"]["schemas"]
    wanted, pending = set(), list(SCHEMAS)
    while pending:
        name = pending.pop()
        if name in wanted:
            continue
        wanted.add(name)
        pending.extend(references(schemas[name]) - wanted)
    return {
        "openapi": spec["openapi"],
        "info": {**spec["info"], "description": "An extract of OpenAI's OpenAPI description: the schemas below only."},
        "components": {"schemas": {name: schemas[name] for name in sorted(wanted)}},
    }


if __name__ == "__main__":
    source = yaml.load(Path(sys.argv[1]).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    EXTRACT.write_text(json.dumps(extract(source), indent=1, sort_keys=True) + "\n")
    print(f"{EXTRACT}: {len(extract(source)['components']['schemas'])} schemas")
