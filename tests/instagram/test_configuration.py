"""Instagram settings: secrets from Secrets Manager in AWS (cached), one-line errors, the template's wiring."""

from __future__ import annotations

import re

import boto3
import pytest
from moto import mock_aws

from infra.api_gateway import load_template
from shop_marketing.config import ConfigurationError, get_settings
from tests.instagram.conftest import comment_change, configure, delivery, post_delivery
from tests.instagram.test_webhook import sign
from tests.support.instagram_graph_standin import StandInComment
from tests.support.lambda_invoke import call_http


def test_secrets_come_from_secrets_manager_when_given_by_arn(instagram, graph, judge_queue, db, monkeypatch):
    # judge_queue's moto mock is active: Secrets Manager is mocked too.
    secrets = boto3.client("secretsmanager")
    app_secret = secrets.create_secret(Name="instagram-app-secret", SecretString="secret-from-aws")["ARN"]
    token = secrets.create_secret(Name="instagram-access-token", SecretString=graph.access_token)["ARN"]
    configure(
        monkeypatch,
        INSTAGRAM_APP_SECRET=None,
        INSTAGRAM_APP_SECRET_SECRET_ARN=app_secret,
        INSTAGRAM_ACCESS_TOKEN=None,
        INSTAGRAM_ACCESS_TOKEN_SECRET_ARN=token,
    )
    raw = delivery(comment_change("17858893269000101", "원단이 좋아요", media_id="17990000000000077"))
    graph.add_comments("17990000000000077", [StandInComment("17858893269000102", "핏이 예뻐요", "minji", "42")])

    assert post_delivery(instagram, raw, sign(raw, "secret-from-aws")).status == 200
    assert post_delivery(instagram, raw, sign(raw)).status == 401  # the plain test secret is no longer the key
    fetched = call_http(instagram, "POST", "/instagram-posts/1/comments/fetch")
    assert fetched.json == {"fetched": 1, "new": 1, "queued": 1, "refused": []}


def test_secrets_the_stack_created_unset_count_as_not_configured(instagram, graph, judge_queue, db, monkeypatch):
    # Given the three secrets as the stack creates them before their real values exist
    secrets = boto3.client("secretsmanager")
    arns = {name: secrets.create_secret(Name=name, SecretString="unset")["ARN"] for name in ("app", "verify", "token")}
    configure(
        monkeypatch,
        INSTAGRAM_APP_SECRET=None,
        INSTAGRAM_APP_SECRET_SECRET_ARN=arns["app"],
        INSTAGRAM_VERIFY_TOKEN=None,
        INSTAGRAM_VERIFY_TOKEN_SECRET_ARN=arns["verify"],
        INSTAGRAM_ACCESS_TOKEN=None,
        INSTAGRAM_ACCESS_TOKEN_SECRET_ARN=arns["token"],
    )
    raw = delivery(comment_change("17858893269000111", "원단이 좋아요", media_id="17990000000000078"))

    # When someone signs with the placeholder, answers the handshake with it, or a fetch runs
    signed_with_placeholder = post_delivery(instagram, raw, sign(raw, "unset"))
    handshake = call_http(
        instagram, "GET", "/webhooks/instagram", query="hub.mode=subscribe&hub.verify_token=unset&hub.challenge=42"
    )
    fetched = call_http(instagram, "POST", "/instagram-posts/1/comments/fetch")

    # Then nothing is accepted, and nothing reaches Instagram
    assert signed_with_placeholder.status == 401
    assert handshake.status == 403
    assert (fetched.status, fetched.json["error"]["code"]) == (503, "instagram_not_configured")
    assert judge_queue.drain() == []
    assert graph.comment_requests() == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("INSTAGRAM_GRAPH_URL", "graph.facebook.com"),
        ("INSTAGRAM_ACCOUNT_ID", "sundae_closet"),
        ("BANNER_IMAGE_WIDTH", "9000"),
        # Plain http is for a loopback stand-in only: in AWS the token would cross the network in the clear.
        ("INSTAGRAM_GRAPH_URL", "http://graph.facebook.com/v23.0"),
    ],
)
def test_a_malformed_instagram_or_banner_setting_is_one_line_naming_it(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigurationError) as raised:
            get_settings()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()

    assert str(raised.value).startswith(f"configuration: {name}:")
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "url", ["https://graph.facebook.com/v23.0", "http://127.0.0.1:8123/v23.0", "http://localhost/v23.0"]
)
def test_the_graph_url_is_https_or_a_loopback_stand_in(monkeypatch, url):
    monkeypatch.setenv("INSTAGRAM_GRAPH_URL", url)
    monkeypatch.setenv("DATABASE_URL", "postgresql+pg8000://shop@db.internal/shop")
    get_settings.cache_clear()
    try:
        assert get_settings().instagram_graph_url == url
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_the_deployed_graph_url_must_be_https():
    pattern = load_template()["Parameters"]["InstagramGraphUrl"]["AllowedPattern"]

    assert re.fullmatch(pattern, "https://graph.facebook.com/v23.0")
    assert not re.fullmatch(pattern, "http://graph.facebook.com/v23.0")
    assert not re.fullmatch(pattern, "https://graph.facebook.com v23.0")


def resources():
    return load_template()["Resources"]


def statements(function: str) -> list:
    """The statements of the function's own role (the KMS one only applies with a customer key)."""
    role = resources()[function]["Properties"]["Role"]["GetAtt"].removesuffix(".Arn")
    [policy] = resources()[role]["Properties"]["Policies"]
    return [s for s in policy["PolicyDocument"]["Statement"] if "If" not in s]


def listed(value):
    return value if isinstance(value, list) else [value]


def test_each_instagram_function_reads_only_its_secrets_and_sends_only_to_the_judge_queue():
    webhook, fetcher = statements("InstagramWebhookFunction"), statements("InstagramCommentsFunction")

    # A secret is the created one or the given one: !If [Create..., !Ref Secret, !Ref Parameter]; the
    # database's is the application role's, which the stack always creates.
    def secret_arns(policies):
        return {
            r["If"][2]["Ref"] if "If" in r else r["Ref"]
            for s in policies
            if s["Action"] == "secretsmanager:GetSecretValue"
            for r in s["Resource"]
        }

    def queues(policies):
        return {
            (a, r["GetAtt"])
            for s in policies
            for a in listed(s["Action"])
            if a.startswith("sqs:")
            for r in listed(s["Resource"])
        }

    assert secret_arns(webhook) == {"DatabaseApplicationSecret", "InstagramAppSecretArn", "InstagramVerifyTokenArn"}
    assert secret_arns(fetcher) == {"DatabaseApplicationSecret", "InstagramAccessTokenArn"}
    assert queues(webhook) == {("sqs:SendMessage", "CommentsToJudgeQueue.Arn")}
    # The fetcher also sends its failed scheduled runs to AsyncFailuresQueue (its dead-letter queue).
    assert queues(fetcher) == {
        ("sqs:SendMessage", "CommentsToJudgeQueue.Arn"),
        ("sqs:SendMessage", "AsyncFailuresQueue.Arn"),
    }


def test_the_webhook_has_no_authorizer_and_the_schedule_has_somewhere_to_fail_to():
    webhook_events = resources()["InstagramWebhookFunction"]["Properties"]["Events"]
    assert {(e["Properties"]["Method"], e["Properties"]["Path"]) for e in webhook_events.values()} == {
        ("GET", "/webhooks/instagram"),
        ("POST", "/webhooks/instagram"),
    }
    assert all(e["Properties"]["Auth"] == {"Authorizer": "NONE"} for e in webhook_events.values())
    fetcher = resources()["InstagramCommentsFunction"]["Properties"]
    assert fetcher["Events"]["FetchComments"]["Properties"]["Auth"] == {"AuthorizationScopes": ["shop/judge"]}
    schedule = fetcher["Events"]["FetchRecentPostsComments"]
    assert schedule["Type"] == "ScheduleV2"
    assert schedule["Properties"]["DeadLetterConfig"] == {"Arn": {"GetAtt": "AsyncFailuresQueue.Arn"}}
    assert fetcher["DeadLetterQueue"] == {"Type": "SQS", "TargetArn": {"GetAtt": "AsyncFailuresQueue.Arn"}}
    assert fetcher["EventInvokeConfig"]["MaximumRetryAttempts"] == 1


def test_the_banner_function_may_only_get_and_put_objects_of_the_banner_bucket():
    s3 = [s for s in statements("BannerImagesFunction") if any(a.startswith("s3:") for a in listed(s["Action"]))]
    assert s3 == [
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": {"Sub": "${BannerImagesBucket.Arn}/*"},
        },
        # HEAD of an image not stored yet answers 404 only with the listing permission (403 otherwise).
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": {"GetAtt": "BannerImagesBucket.Arn"}},
    ]
    properties = resources()["BannerImagesFunction"]["Properties"]
    assert properties["Events"]["CreateBannerImages"]["Properties"]["Auth"] == {
        "AuthorizationScopes": ["shop/catalog.write"]
    }
    bucket = resources()["BannerImagesBucket"]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    reader = resources()["BannerImagesBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][1]
    assert reader["Principal"] == {"Service": "cloudfront.amazonaws.com"} and reader["Action"] == "s3:GetObject"


def test_concurrent_deliveries_of_one_comment_queue_it_once(instagram, judge_queue, db):
    from concurrent.futures import ThreadPoolExecutor

    raw = delivery(comment_change("17858893269000200", "동시에 여러 번 와도 한 번만 판단돼야 해요"))
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: post_delivery(instagram, raw, sign(raw)), range(4)))

    assert [result.status for result in results] == [200] * 4
    assert sum(result.json["new"] for result in results) == 1
    assert sum(result.json["queued"] for result in results) == 1
    assert len(judge_queue.drain()) == 1


__all__ = ["mock_aws"]
