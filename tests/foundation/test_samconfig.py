"""samconfig.toml: `sam deploy` defaults a newcomer can use as they are, tied to no account."""

from __future__ import annotations

import re
import tomllib

from infra.api_gateway import ROOT, load_template


def test_deploy_defaults_confirm_the_change_set_and_name_no_account():
    text = (ROOT / "samconfig.toml").read_text()
    deploy = tomllib.loads(text)["default"]["deploy"]["parameters"]

    assert deploy["confirm_changeset"] is True
    assert deploy["resolve_s3"] is True
    assert "CAPABILITY_IAM" in deploy["capabilities"].split()
    assert not re.search(r"\b\d{12}\b", text), "an account id"
    assert "arn:" not in text and "s3_bucket" not in deploy and "region" not in deploy


def test_its_parameters_are_the_templates_with_the_templates_defaults():
    deploy = tomllib.loads((ROOT / "samconfig.toml").read_text())["default"]["deploy"]["parameters"]
    parameters = load_template()["Parameters"]

    for override in deploy["parameter_overrides"]:
        name, _, value = override.partition("=")
        assert name in parameters, name
        assert str(parameters[name]["Default"]) == value, name
    required = {name for name, p in parameters.items() if "Default" not in p}
    assert required == {"OpenAIApiKeySecretArn"}  # the one question `sam deploy --guided` must ask


def test_sam_deploy_guided_finds_authorization_on_every_route():
    """SAM CLI's own check behind "... may not have authorization defined, Is this okay?"."""
    from samcli.commands.deploy.auth_utils import auth_per_resource
    from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider

    stacks, _ = SamLocalStackProvider.get_stacks(str(ROOT / "template.yaml"))
    checked = auth_per_resource(stacks)

    assert len(checked) >= 21
    assert [name for name, authorized in checked if not authorized] == []
