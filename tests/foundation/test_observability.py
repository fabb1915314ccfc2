"""The tracer, as Lambda runs it: only the AWS SDK is patched, never the database layer."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from infra.api_gateway import ROOT

# A fresh interpreter with the tracer on (Lambda's environment), importing the catalog function.
PROBE = r"""
import json, sys
sys.path.insert(0, "functions/link_banner")
import app
from aws_xray_sdk.core import patcher
import sqlalchemy.engine.default as default
print(json.dumps({
    "disabled": app.tracer.disabled,
    "patched": sorted(patcher._PATCHED_MODULES),
    "sqlalchemy_wrapped": hasattr(default.DefaultExecutionContext._init_compiled, "__wrapped__"),
    "loaded": sorted(name for name in ("openai", "tiktoken", "requests", "httpx", "sqlite3") if name in sys.modules),
}))
"""


def test_in_lambda_the_tracer_patches_botocore_alone_and_the_catalog_loads_no_ai_library(tmp_path):
    environment = {
        **os.environ,
        "LAMBDA_TASK_ROOT": str(tmp_path),
        "POWERTOOLS_TRACE_DISABLED": "false",
        "POWERTOOLS_SERVICE_NAME": "probe",
        "DATABASE_URL": "postgresql+pg8000://user@127.0.0.1:1/none",
        "PYTHONPATH": str(ROOT / "shared"),
    }
    finished = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300
    )
    assert finished.returncode == 0, finished.stderr
    probe = json.loads(finished.stdout.strip().splitlines()[-1])

    assert probe["disabled"] is False
    assert probe["patched"] == ["botocore"]
    assert probe["sqlalchemy_wrapped"] is False
    assert probe["loaded"] == []
