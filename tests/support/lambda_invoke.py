"""Invoke function handlers the way Lambda does: real event shapes, a context object, the same import."""

from __future__ import annotations

import base64
import json as jsonlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.api_gateway import api_gateway_event
from infra.lambda_runtime import LocalContext, load_handler

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"


def handler_of(function: str):
    """The ``lambda_handler`` of ``functions/<function>/app.py``."""
    return load_handler(ROOT / "functions" / function)


@dataclass
class HttpResult:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return jsonlib.loads(self.body)


def call_http(
    handler,
    method: str,
    path: str,
    *,
    json: Any = None,
    body: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    query: str = "",
    base64_encoded: bool | None = None,
) -> HttpResult:
    if json is not None:
        body = jsonlib.dumps(json, ensure_ascii=False)
    headers = {"content-type": "application/json", **(headers or {})} if body is not None else dict(headers or {})
    event = api_gateway_event(method, path, body=body, headers=headers, query=query, base64_encoded=base64_encoded)
    return result_of(handler(event, LocalContext()))


def result_of(response: dict[str, Any]) -> HttpResult:
    payload = response.get("body") or ""
    raw = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()
    return HttpResult(int(response["statusCode"]), dict(response.get("headers") or {}), raw)


def sample_event(name: str) -> dict[str, Any]:
    return jsonlib.loads((EVENTS / name).read_text())
