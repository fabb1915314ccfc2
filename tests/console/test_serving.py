"""Where the console lives: the local run serves it at /console/ (no sign-in), and in AWS the stack's
CloudFront distribution serves what infra/publish_console.py writes to the console bucket, signing
people in through the user pool's hosted page with the people client."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from infra.api_gateway import load_template
from infra.local_api import CONSOLE_DIR, LocalApi
from infra.publish_console import SIGN_IN_SCOPES, config_from_outputs, publish

OUTPUTS = {
    "ApiUrl": "https://abc123.execute-api.eu-west-1.amazonaws.com",
    "SignInUrl": "https://shop-123456789012-abcd.auth.eu-west-1.amazoncognito.com",
    "PeopleClientId": "people-client-id",
    "ConsoleBucketName": "console-bucket",
    "ConsoleDistributionId": "E2EXAMPLE",
    "ConsoleUrl": "https://d111111abcdef8.cloudfront.net/",
}


@pytest.fixture(scope="module")
def local():
    return LocalApi([])  # static files and config need no function


def test_the_local_run_serves_the_page_its_script_styles_and_font(local):
    for path, kind in [
        ("/console/", "text/html"),
        ("/console/index.html", "text/html"),
        ("/console/console.js", "text/javascript"),
        ("/console/console.css", "text/css"),
        ("/console/fonts/NanumSquareR.ttf", "font/ttf"),
    ]:
        status, headers, body = local.invoke("GET", path, {}, None)
        assert (status, headers["Content-Type"].split(";")[0]) == (200, kind), path
        assert body
    status, headers, _ = local.invoke("GET", "/console", {}, None)
    assert (status, headers["Location"]) == (308, "/console/")


def test_locally_the_console_calls_its_own_origin_without_sign_in(local):
    status, _, body = local.invoke("GET", "/console/config.json", {}, None)

    assert status == 200
    assert json.loads(body) == {"api_url": "", "auth": None}


@pytest.mark.parametrize(
    "path",
    [
        "/console/../template.yaml",
        "/console/%2e%2e/template.yaml",
        "/console/fonts/../../README.md",
        "/console/nothing.js",
        "/console/fonts/OFL.exe",
        "/console/.env",
    ],
)
def test_nothing_but_the_console_files_is_served(local, path):
    status, headers, body = local.invoke("GET", path, {}, None)

    assert status == 404
    assert json.loads(body)["error"]["code"] == "not_found"


def test_the_published_config_points_at_the_api_and_the_hosted_sign_in_page():
    config = config_from_outputs(OUTPUTS)

    assert config == {
        "api_url": OUTPUTS["ApiUrl"],
        "auth": {"domain": OUTPUTS["SignInUrl"], "client_id": "people-client-id", "scopes": SIGN_IN_SCOPES},
    }
    assert SIGN_IN_SCOPES.split()[:2] == ["openid", "email"] and "shop/catalog.read" in SIGN_IN_SCOPES
    with pytest.raises(SystemExit, match="--sign-in-url and --client-id"):
        config_from_outputs({"ApiUrl": OUTPUTS["ApiUrl"]})


@mock_aws
def test_publishing_writes_the_console_and_its_config_then_invalidates_the_cache():
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="console-bucket")
    cloudfront = boto3.client("cloudfront", region_name="us-east-1")
    distribution = cloudfront.create_distribution(
        DistributionConfig={
            "CallerReference": "console",
            "Comment": "",
            "Enabled": True,
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "console",
                        "DomainName": "console-bucket.s3.amazonaws.com",
                        "S3OriginConfig": {"OriginAccessIdentity": ""},
                    }
                ],
            },
            "DefaultCacheBehavior": {
                "TargetOriginId": "console",
                "ViewerProtocolPolicy": "redirect-to-https",
                "MinTTL": 0,
            },
        }
    )["Distribution"]

    written = publish(
        s3, "console-bucket", config_from_outputs(OUTPUTS), cloudfront=cloudfront, distribution_id=distribution["Id"]
    )

    assert {"index.html", "console.js", "console.css", "fonts/NanumSquareR.ttf", "fonts/OFL.txt", "config.json"} <= set(
        written
    )
    page = s3.get_object(Bucket="console-bucket", Key="index.html")
    assert (page["ContentType"], page["CacheControl"]) == ("text/html; charset=utf-8", "no-cache")
    assert page["Body"].read() == (CONSOLE_DIR / "index.html").read_bytes()
    config = json.loads(s3.get_object(Bucket="console-bucket", Key="config.json")["Body"].read())
    assert config["auth"]["client_id"] == "people-client-id"
    invalidations = cloudfront.list_invalidations(DistributionId=distribution["Id"])["InvalidationList"]
    assert invalidations["Quantity"] == 1


def test_the_stack_serves_the_console_from_its_own_cloudfront_distribution():
    resources = load_template()["Resources"]

    distribution = resources["ConsoleDistribution"]["Properties"]["DistributionConfig"]
    assert distribution["DefaultRootObject"] == "index.html"
    assert distribution["Origins"][0]["DomainName"] == {"GetAtt": "ConsoleBucket.RegionalDomainName"}
    assert distribution["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    bucket = resources["ConsoleBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    statements = resources["ConsoleBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert [s["Principal"] for s in statements if s["Effect"] == "Allow"] == [{"Service": "cloudfront.amazonaws.com"}]


def test_people_sign_in_back_to_the_console_and_the_api_accepts_its_origin():
    resources = load_template()["Resources"]
    console_origin = "https://${ConsoleDistribution.DomainName}"

    people = resources["PeopleClient"]["Properties"]
    assert people["AllowedOAuthFlows"] == ["code"] and people["GenerateSecret"] is False  # PKCE, no secret
    assert {"Sub": f"{console_origin}/"} in people["CallbackURLs"]
    assert people["LogoutURLs"] == [{"Sub": f"{console_origin}/"}]
    cors = resources["HttpApi"]["Properties"]["CorsConfiguration"]
    assert cors["AllowOrigins"] == [{"Sub": console_origin}]
    assert "authorization" in cors["AllowHeaders"]
