"""The layers: complete pinned sets, nothing the Lambda runtime provides, each only where it is used."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.metadata import distribution

import pytest
from packaging.requirements import Requirement

from infra.local_api import ROOT, load_template

SHARED = ROOT / "shared"
# Lambda's python3.12 runtime ships these (boto3 and what it needs); a layer's copy would shadow them.
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer", "jmespath", "urllib3"}
# Declared but never imported in Lambda: tiktoken downloads encodings with requests, and the layer
# ships o200k_base.
LEFT_OUT = {"requests"}
LAYERS = {
    "SharedLayer": "requirements.txt",
    "OpenAILayer": "requirements-openai.txt",
    "ImagesLayer": "requirements-images.txt",
    "MigrationsLayer": "requirements-migrations.txt",
}


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(filename: str) -> dict[str, str]:
    found = {}
    for line in (SHARED / filename).read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            found[_name(name)] = version.strip()
    return found


def pyproject_pins() -> dict[str, str]:
    import tomllib

    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return {_name(Requirement(line).name): str(Requirement(line).specifier).removeprefix("==") for line in dependencies}


def declared_dependencies(package: str, extras: set[str]) -> list[Requirement]:
    needed = []
    for text in distribution(package).requires or []:
        requirement = Requirement(text)
        marker = requirement.marker
        if marker is None or any(marker.evaluate({"extra": extra}) for extra in extras | {""}):
            needed.append(requirement)
    return needed


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_each_layer_pins_a_complete_set_without_what_the_runtime_provides(layer):
    mine = pins(LAYERS[layer])
    available = {**mine, **(pins("requirements.txt") if layer != "SharedLayer" else {})}
    top_level = pyproject_pins()

    assert not set(mine) & RUNTIME_PROVIDED
    for package, version in mine.items():
        if package in top_level:
            assert top_level[package] == version, f"{package}: pyproject.toml pins {top_level[package]}"
        extras = {"tracer"} if package == "aws-lambda-powertools" else set()
        for requirement in declared_dependencies(package, extras):
            name = _name(requirement.name)
            if name in RUNTIME_PROVIDED or name in LEFT_OUT:
                continue
            assert name in available, f"{layer}: {package} needs {name}"
            assert requirement.specifier.contains(available[name], prereleases=True), (
                f"{layer}: {package} needs {requirement}, the layer pins {available[name]}"
            )


def test_the_layers_are_built_by_the_makefile_without_resolving_again():
    makefile = (SHARED / "Makefile").read_text()
    resources = load_template()["Resources"]

    assert "--no-deps" in makefile
    for layer, requirements in LAYERS.items():
        assert resources[layer]["Metadata"]["BuildMethod"] == "makefile"
        assert f"build-{layer}:" in makefile
        assert requirements in makefile


# What the optional layers hold, by import name: (distribution, layers that may provide it).
OPTIONAL = {"openai": "openai", "tiktoken": "tiktoken", "PIL": "pillow", "regex": "regex", "alembic": "alembic"}

# A fresh interpreter imports one function's handler as Lambda does (module "app" from its code
# directory) and says which of those libraries it loaded.
PROBE = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import app  # noqa: F401
print(json.dumps(sorted(name for name in sys.argv[2:] if name in sys.modules)))
"""


def test_each_function_gets_exactly_the_layers_holding_what_it_loads():
    template = load_template()
    environment = {**os.environ, "DATABASE_URL": "postgresql+pg8000://user@127.0.0.1:1/none",
                   "OPENAI_API_KEY": "sk-probe", "POWERTOOLS_SERVICE_NAME": "probe", "PYTHONPATH": str(SHARED)}
    functions = {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function" and resource["Properties"]["CodeUri"].startswith("functions/")
    }
    for name, properties in functions.items():
        code = ROOT / properties["CodeUri"]
        finished = subprocess.run([sys.executable, "-c", PROBE, str(code), *OPTIONAL], cwd=code, env=environment,
                                  capture_output=True, text=True, timeout=300)
        assert finished.returncode == 0, finished.stderr
        loaded = {OPTIONAL[module] for module in json.loads(finished.stdout.strip().splitlines()[-1])}
        layers = {layer["Ref"] for layer in properties.get("Layers", [])}
        held = {package for layer in layers for package in pins(LAYERS[layer])}

        assert "alembic" not in loaded, name
        assert loaded <= held, f"{name} loads {sorted(loaded - held)} without a layer holding it"
        for layer in layers:
            assert loaded & set(pins(LAYERS[layer])), f"{name} gets {layer} but loads nothing of it"
    assert functions["LinkBannerFunction"].get("Layers") is None
    # Pillow is the banner function's alone; openai stays out of the Instagram and banner functions.
    assert functions["BannerImagesFunction"]["Layers"] == [{"Ref": "ImagesLayer"}]
    assert [name for name, properties in functions.items() if {"Ref": "ImagesLayer"} in properties.get("Layers", [])] == ["BannerImagesFunction"]
    for name in ("InstagramWebhookFunction", "InstagramCommentsFunction", "BannerImagesFunction"):
        assert {"Ref": "OpenAILayer"} not in functions[name].get("Layers", []), name
    assert {"pillow", "regex"} <= set(pins(LAYERS["ImagesLayer"]))
    assert template["Resources"]["MigrateDatabaseFunction"]["Properties"]["Layers"] == [{"Ref": "MigrationsLayer"}]
