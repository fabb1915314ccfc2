"""What template.yaml declares for fine-tuning: every route reaches its handler, the bucket is private
and encrypted and triggers on *.jsonl, the schedule runs, and each function reads only its secrets."""

from __future__ import annotations

import pytest

from infra.api_gateway import load_template, routes_from_template
from tests.support.iam import actions, secret_parameters, statements
from tests.support.lambda_invoke import call_http, handler_of

FUNCTIONS = {
    "UploadTrainingFileFunction": "upload_training_file",
    "FineTuningJobsFunction": "fine_tuning_jobs",
    # The unauthenticated webhook runs the same code in a function of its own (its own role and concurrency).
    "OpenAIWebhookFunction": "fine_tuning_jobs",
}
ROUTES = {
    ("POST", "/training-files"): "UploadTrainingFileFunction",
    ("GET", "/training-files/rejections"): "UploadTrainingFileFunction",
    ("POST", "/fine-tuning/jobs"): "FineTuningJobsFunction",
    ("GET", "/fine-tuning/jobs/{job_id}"): "FineTuningJobsFunction",
    ("POST", "/webhooks/openai"): "OpenAIWebhookFunction",
}


def resources() -> dict:
    return load_template()["Resources"]


def test_template_routes_are_the_fine_tuning_routes():
    declared = {(r.method, r.path): r.function for r in routes_from_template() if r.function in FUNCTIONS}

    assert declared == ROUTES


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_every_declared_route_has_a_handler(db, method, path):
    handler = handler_of(FUNCTIONS[ROUTES[method, path]])

    result = call_http(
        handler, method, path.replace("{job_id}", "ftjob-x"), body=b"", headers={"content-type": "application/json"}
    )

    # Whatever the empty request earns (200, 401, 404 job_not_found, 422, ...), the route itself exists
    assert result.json.get("error", {}).get("code") not in ("not_found", "method_not_allowed")


def test_training_bucket_is_private_encrypted_and_triggers_on_jsonl():
    bucket = resources()["TrainingDataBucket"]["Properties"]
    block = bucket["PublicAccessBlockConfiguration"]
    assert all(
        block[name] is True
        for name in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    )
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    upload = resources()["UploadTrainingFileFunction"]["Properties"]
    trigger = upload["Events"]["TrainingObjectCreated"]
    assert trigger["Type"] == "S3"
    assert trigger["Properties"]["Filter"]["S3Key"]["Rules"] == [{"Name": "suffix", "Value": ".jsonl"}]
    # The function is told the bucket's fixed name, and may only read that bucket
    assert upload["Environment"]["Variables"]["TRAINING_BUCKET"] == bucket["BucketName"]
    s3 = [
        s for s in statements(resources(), "UploadTrainingFileFunction") if any(a.startswith("s3:") for a in actions(s))
    ]
    assert [actions(s) for s in s3] == [["s3:GetObject"], ["s3:ListBucket"]]
    s3_statement, listing = s3
    assert listing["Resource"]["Sub"][0] == "arn:${AWS::Partition}:s3:::training-${AWS::AccountId}-${StackUuid}"
    arn, names = s3_statement["Resource"]["Sub"]
    assert arn == "arn:${AWS::Partition}:s3:::training-${AWS::AccountId}-${StackUuid}/*"
    assert bucket["BucketName"]["Sub"][0] == "training-${AWS::AccountId}-${StackUuid}"
    assert names == bucket["BucketName"]["Sub"][1]


def test_each_function_reads_only_the_secrets_it_needs():
    database = {"DatabaseApplicationSecret"}

    assert secret_parameters(resources(), "UploadTrainingFileFunction") == database | {"OpenAIApiKeySecretArn"}
    # JudgeEndpointSecretArns: a job may run on a named endpoint of JUDGE_ENDPOINTS, and its webhook refreshes it there.
    assert secret_parameters(resources(), "FineTuningJobsFunction") == database | {
        "OpenAIApiKeySecretArn",
        "JudgeEndpointSecretArns",
    }
    assert secret_parameters(resources(), "OpenAIWebhookFunction") == database | {
        "OpenAIApiKeySecretArn",
        "OpenAIWebhookSecret",
        "OpenAIWebhookSecretArn",
        "JudgeEndpointSecretArns",
    }
    assert not any(a.startswith("s3:") for s in statements(resources(), "FineTuningJobsFunction") for a in actions(s))


def test_schedule_refreshes_jobs_every_five_minutes():
    events = resources()["FineTuningJobsFunction"]["Properties"]["Events"]

    assert events["RefreshUnfinishedJobs"]["Type"] == "Schedule"
    assert events["RefreshUnfinishedJobs"]["Properties"]["Schedule"] == "rate(5 minutes)"
    for function in FUNCTIONS:
        assert resources()[function]["DependsOn"] == "DatabaseSchema"
    assert "RefreshUnfinishedJobs" not in resources()["OpenAIWebhookFunction"]["Properties"]["Events"]
