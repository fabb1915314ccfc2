"""What the README and the pages under docs/ state about running the product is what the code does."""

from __future__ import annotations

import re

from infra.api_gateway import ROOT, load_template
from tests.support.docs import documentation, page

# The OpenAI defaults and limits are stated with the other settings; the walk-throughs say how to start over.
CONFIGURATION = page("configuration")
WALKTHROUGH = page("walkthrough")


def test_the_stated_openai_defaults_are_what_make_local_uses():
    from shop_marketing.config import Settings

    stated = re.search(r"timeout (\d+) s, (\d+) retries, at most (\d+) s of `Retry-After`", CONFIGURATION)
    assert stated, "docs/configuration.md no longer states the OpenAI defaults"
    timeout, retries, wait = map(float, stated.groups())
    # `make local` sets none of these variables (infra/local_api.py), so the settings' defaults apply.
    local_api = (ROOT / "infra" / "local_api.py").read_text()
    assert "OPENAI_TIMEOUT_SECONDS" not in local_api and "OPENAI_MAX_RETRIES" not in local_api
    defaults = Settings.model_fields
    assert (timeout, retries, wait) == (
        defaults["openai_timeout_seconds"].default,
        defaults["openai_max_retries"].default,
        defaults["openai_max_retry_wait_seconds"].default,
    )


def test_the_stated_deployed_openai_limits_are_the_templates():
    stated = re.search(r"HTTP functions set (\d+) s \(uploads (\d+) s\) and (\d+) retry", CONFIGURATION)
    assert stated
    timeout, upload_timeout, retries = stated.groups()
    resources = load_template()["Resources"]
    for name, expected in (
        ("JudgeCommentFunction", timeout),
        ("FineTuningJobsFunction", timeout),
        ("UploadTrainingFileFunction", upload_timeout),
    ):
        variables = resources[name]["Properties"]["Environment"]["Variables"]
        assert (variables["OPENAI_TIMEOUT_SECONDS"], variables["OPENAI_MAX_RETRIES"]) == (expected, retries), name


def test_sam_local_invoke_is_said_to_need_docker():
    docs = documentation()
    assert "sam local invoke" in docs
    for block in re.findall(r"```sh\n(.*?)```", docs, flags=re.S):
        if "sam local invoke" in block:
            assert "needs Docker" in block
    prose = re.sub(r"```.*?```", "", docs, flags=re.S)
    for match in re.finditer(r"`sam local invoke[^`]*`", prose):
        assert "Docker" in prose[match.end() : match.end() + 200], match.group()


def test_the_walk_through_says_how_to_start_from_an_empty_database():
    from infra import local_api

    default_data_dir = local_api.ROOT / ".local" / "postgres"
    assert "rm -rf .local/postgres" in WALKTHROUGH
    assert 'default=ROOT / ".local" / "postgres"' in (ROOT / "infra" / "local_api.py").read_text()
    assert default_data_dir.relative_to(ROOT).as_posix() == ".local/postgres"


def test_every_setting_the_functions_read_is_on_the_configuration_page():
    from shop_marketing.config import Settings

    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", CONFIGURATION))
    names = {(field.alias or name).upper() for name, field in Settings.model_fields.items()}
    assert len(names) > 40
    assert not names - documented, f"settings docs/configuration.md does not name: {sorted(names - documented)}"
