"""template.yaml: valid for SAM, and every function it declares exists where Lambda will look."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from infra.api_gateway import ROOT, load_template


def sam_command():
    found = Path(sys.executable).with_name("sam")
    return str(found) if found.exists() else shutil.which("sam")


def test_sam_validate_lint_passes():
    environment = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}

    finished = subprocess.run(
        [sam_command(), "validate", "--lint"], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300
    )

    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "is a valid SAM Template" in finished.stdout + finished.stderr


def test_every_function_handler_exists_and_uses_the_layer():
    template = load_template()
    functions = {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    default_handler = template["Globals"]["Function"]["Handler"]

    assert template["Globals"]["Function"]["Runtime"] == "python3.12"
    assert template["Globals"]["Function"]["Layers"] == [{"Ref": "SharedLayer"}]
    for name, properties in functions.items():
        module, _, attribute = properties.get("Handler", default_handler).rpartition(".")
        source = ROOT / properties["CodeUri"] / f"{module}.py"
        assert source.exists(), name
        assert f"def {attribute}(" in source.read_text(), name


def test_the_layer_is_built_by_its_own_makefile_from_pinned_requirements():
    layer = load_template()["Resources"]["SharedLayer"]
    pins = (ROOT / "shared" / "requirements.txt").read_text().split()
    requirements = [line for line in pins if "==" in line]

    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert "build-SharedLayer:" in (ROOT / "shared" / "Makefile").read_text()
    assert requirements and all(line.count("==") == 1 for line in requirements)
