"""Least privilege and on-call readiness, read from the SAM-translated template (what CloudFormation gets).

Each function's role holds only what it uses; no statement says ``Resource: "*"`` for an action that
accepts a narrower resource; no function touches a queue or reads a secret it does not use; every
asynchronously invoked function (bucket events, schedules) has a dead-letter queue; every function has
a log group with retention and is watched by the error and throttle alarms.
"""

from __future__ import annotations

from typing import Any

import pytest

from infra.translate_template import translate

# Actions AWS only authorizes on "*" (no resource-level permissions; IAM's Service Authorization Reference).
WILDCARD_ONLY_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeVpcs",
}
# What each function may do with queues: (action prefix, queue) pairs.
QUEUE_ACCESS = {
    "JudgeCommentQueueFunction": {
        ("sqs:ReceiveMessage", "CommentsToJudgeQueue"),
        ("sqs:DeleteMessage", "CommentsToJudgeQueue"),
        ("sqs:GetQueueAttributes", "CommentsToJudgeQueue"),
        ("sqs:ChangeMessageVisibility", "CommentsToJudgeQueue"),
    },
    "UploadTrainingFileFunction": {("sqs:SendMessage", "AsyncFailuresQueue")},
    # A finished job's judge is evaluated through EvaluationsQueue; failed scheduled refreshes wait in
    # AsyncFailuresQueue.
    "FineTuningJobsFunction": {("sqs:SendMessage", "AsyncFailuresQueue"), ("sqs:SendMessage", "EvaluationsQueue")},
    # Evaluations are queued by the judges' routes and consumed, example by example, by their consumer;
    # the daily model calendar refresh's failures wait in AsyncFailuresQueue.
    "JudgesFunction": {("sqs:SendMessage", "EvaluationsQueue"), ("sqs:SendMessage", "AsyncFailuresQueue")},
    "JudgesEvaluationQueueFunction": {
        ("sqs:ReceiveMessage", "EvaluationsQueue"),
        ("sqs:DeleteMessage", "EvaluationsQueue"),
        ("sqs:GetQueueAttributes", "EvaluationsQueue"),
        ("sqs:ChangeMessageVisibility", "EvaluationsQueue"),
    },
    # Both queue new comments for judging; the scheduled fetch's failures go to AsyncFailuresQueue.
    "InstagramWebhookFunction": {("sqs:SendMessage", "CommentsToJudgeQueue")},
    # A job the webhook sees succeed makes a judge, evaluated through EvaluationsQueue.
    "OpenAIWebhookFunction": {("sqs:SendMessage", "EvaluationsQueue")},
    "InstagramCommentsFunction": {
        ("sqs:SendMessage", "CommentsToJudgeQueue"),
        ("sqs:SendMessage", "AsyncFailuresQueue"),
    },
}
# The secrets each function may read, by the parameter that names them (the master's secret is the
# created instance's or DatabaseSecretArn; the other created secrets replace their empty parameter).
# Every function signs in as the application role; only the migration step reads the master's secret.
DATABASE = "DatabaseApplicationSecret"
MASTER = "DatabaseSecretArn"
# The keys of the judges' other endpoints (JudgeEndpoints), for every function that calls a judge.
JUDGE_ENDPOINT_SECRETS = "JudgeEndpointSecretArns"
SECRET_ACCESS = {
    "LinkBannerFunction": {DATABASE},
    "JudgeCommentFunction": {DATABASE, "OpenAIApiKeySecretArn", JUDGE_ENDPOINT_SECRETS},
    "JudgeCommentQueueFunction": {DATABASE, "OpenAIApiKeySecretArn", JUDGE_ENDPOINT_SECRETS},
    "JudgesFunction": {DATABASE, "OpenAIApiKeySecretArn", JUDGE_ENDPOINT_SECRETS},
    "JudgesEvaluationQueueFunction": {DATABASE, "OpenAIApiKeySecretArn", JUDGE_ENDPOINT_SECRETS},
    "UploadTrainingFileFunction": {DATABASE, "OpenAIApiKeySecretArn"},
    # Jobs may run on a named endpoint of JudgeEndpoints (and its finished model becomes a judge there).
    "FineTuningJobsFunction": {DATABASE, "OpenAIApiKeySecretArn", JUDGE_ENDPOINT_SECRETS},
    "OpenAIWebhookFunction": {DATABASE, "OpenAIApiKeySecretArn", "OpenAIWebhookSecretArn", JUDGE_ENDPOINT_SECRETS},
    "InstagramWebhookFunction": {DATABASE, "InstagramAppSecretArn", "InstagramVerifyTokenArn"},
    "InstagramCommentsFunction": {DATABASE, "InstagramAccessTokenArn"},
    "BannerImagesFunction": {DATABASE},
    "ReviewsFunction": {DATABASE},
    "MigrateDatabaseFunction": {MASTER, DATABASE},
    # Cognito's scopes trigger: groups in, scopes out, nothing else.
    "PeopleScopesFunction": set(),
    # The $default route's answers (404, 405): the route table it ships with, nothing else.
    "UnroutedFunction": set(),
}
# Secrets the stack creates, unset, when their parameter is empty: (parameter, condition, secret).
CREATED_SECRETS = [
    ("OpenAIWebhookSecretArn", "CreateOpenAIWebhookSecret", "OpenAIWebhookSecret"),
    ("InstagramAppSecretArn", "CreateInstagramAppSecret", "InstagramAppSecret"),
    ("InstagramVerifyTokenArn", "CreateInstagramVerifyToken", "InstagramVerifyToken"),
    ("InstagramAccessTokenArn", "CreateInstagramAccessToken", "InstagramAccessToken"),
]
# Functions invoked asynchronously: by S3 bucket events, EventBridge rules, EventBridge Scheduler.
ASYNC_INVOKED = {"UploadTrainingFileFunction", "FineTuningJobsFunction", "InstagramCommentsFunction", "JudgesFunction"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return translate()


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == "AWS::Lambda::Function"}


def policy_documents(template: dict[str, Any]):
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            for policy in resource["Properties"].get("Policies", []):
                yield name, policy["PolicyDocument"]
        elif resource["Type"] == "AWS::IAM::ManagedPolicy":
            yield name, resource["Properties"]["PolicyDocument"]


def unconditional(statement: Any) -> dict[str, Any] | None:
    if "Fn::If" in statement:
        return statement["Fn::If"][1]
    return statement


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_name(function: dict[str, Any]) -> str:
    return function["Properties"]["Role"]["Fn::GetAtt"][0]


def role_statements(template: dict[str, Any], function: str) -> list[dict[str, Any]]:
    role = template["Resources"][role_name(functions(template)[function])]
    return [unconditional(s) for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


def test_no_statement_grants_a_wildcard_resource_where_a_narrower_one_exists(template):
    checked = 0
    for owner, document in policy_documents(template):
        for statement in map(unconditional, document["Statement"]):
            checked += 1
            if "*" in listed(statement["Resource"]):
                narrowable = set(listed(statement["Action"])) - WILDCARD_ONLY_ACTIONS
                assert not narrowable, f"{owner}: {sorted(narrowable)} on Resource '*'"
            assert not any("*" in a.split(":")[1] for a in listed(statement["Action"])), f"{owner}: wildcard action"
    assert checked > 20


def test_roles_use_no_aws_managed_policy(template):
    # AWS's AWSLambdaBasicExecutionRole and AWSLambdaVPCAccessExecutionRole write to any log group.
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            for arn in resource["Properties"].get("ManagedPolicyArns", []):
                assert arn == {"Ref": "FunctionBasePolicy"}, f"{name}: {arn}"


def test_every_function_has_its_own_role_log_group_and_retention(template):
    roles = set()
    for name, function in functions(template).items():
        roles.add(role_name(function))
        log_group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert template["Resources"][log_group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        [logs] = [s for s in role_statements(template, name) if any(a.startswith("logs:") for a in listed(s["Action"]))]
        assert logs["Resource"] == {"Fn::GetAtt": [log_group, "Arn"]}, name
    assert len(roles) == len(functions(template))


def test_no_function_can_touch_a_queue_it_does_not_use(template):
    queues = {n for n, r in template["Resources"].items() if r["Type"] == "AWS::SQS::Queue"}
    for name in functions(template):
        granted = set()
        for statement in role_statements(template, name):
            for action in listed(statement["Action"]):
                if action.startswith("sqs:"):
                    for resource in listed(statement["Resource"]):
                        queue = resource["Fn::GetAtt"][0]
                        assert queue in queues
                        granted.add((action, queue))
        assert granted == QUEUE_ACCESS.get(name, set()), name


def invoked_function(template: dict[str, Any], reference: dict[str, str]) -> str:
    """The function a permission or schedule invokes (events invoke the function's alias)."""
    resource = template["Resources"][reference["Ref"]]
    return (
        resource["Properties"]["FunctionName"]["Ref"] if resource["Type"] == "AWS::Lambda::Alias" else reference["Ref"]
    )


def test_every_asynchronously_invoked_function_has_a_dead_letter_queue(template):
    resources = template["Resources"].values()
    permitted = {
        invoked_function(template, r["Properties"]["FunctionName"])
        for r in resources
        if r["Type"] == "AWS::Lambda::Permission"
        and r["Properties"]["Principal"] in ("s3.amazonaws.com", "events.amazonaws.com")
    }
    schedules = [r["Properties"]["Target"] for r in resources if r["Type"] == "AWS::Scheduler::Schedule"]

    assert permitted | {invoked_function(template, target["Arn"]) for target in schedules} == ASYNC_INVOKED
    for name in ASYNC_INVOKED:
        target = functions(template)[name]["Properties"]["DeadLetterConfig"]["TargetArn"]
        assert target == {"Fn::GetAtt": ["AsyncFailuresQueue", "Arn"]}, name
        granted = {
            (a, r["Fn::GetAtt"][0])
            for s in role_statements(template, name)
            for a in listed(s["Action"])
            if a.startswith("sqs:")
            for r in listed(s["Resource"])
        }
        assert ("sqs:SendMessage", "AsyncFailuresQueue") in granted, name
    # An invocation the scheduler itself cannot deliver lands in the same queue.
    assert schedules and all(
        t["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["AsyncFailuresQueue", "Arn"]} for t in schedules
    )


def secret_name(resource: Any) -> str:
    """The parameter naming a secret; a created secret's ARN is ``!If [Create..., !Ref Secret, !Ref Parameter]``."""
    if "Fn::If" in resource:
        resource = resource["Fn::If"][2]
    return resource["Ref"]


def test_every_function_reads_exactly_its_own_secrets(template):
    assert set(functions(template)) == set(SECRET_ACCESS)
    for name in functions(template):
        granted = {
            secret_name(resource)
            for statement in role_statements(template, name)
            if "secretsmanager:GetSecretValue" in listed(statement["Action"])
            for resource in listed(statement["Resource"])
        }
        assert granted == SECRET_ACCESS[name], name
        written = {
            (a, secret_name(s["Resource"]))
            for s in role_statements(template, name)
            for a in listed(s["Action"])
            if a.startswith("secretsmanager:") and a != "secretsmanager:GetSecretValue"
        }
        # The migration step completes the application secret with the server; nothing else writes a secret.
        assert written == (
            {("secretsmanager:PutSecretValue", DATABASE)} if name == "MigrateDatabaseFunction" else set()
        ), name


@pytest.mark.parametrize(("parameter", "condition", "secret"), CREATED_SECRETS)
def test_an_empty_secret_parameter_creates_an_unset_secret_that_the_functions_read(
    template, parameter, condition, secret
):
    resources = template["Resources"]
    created = resources[secret]
    chosen = {"Fn::If": [condition, {"Ref": secret}, {"Ref": parameter}]}

    assert template["Parameters"][parameter]["Default"] == ""
    assert template["Conditions"][condition] == {"Fn::Equals": [{"Ref": parameter}, ""]}
    assert created["Condition"] == condition and created["Properties"]["SecretString"] == "unset"
    readers = [name for name in functions(template) if parameter in SECRET_ACCESS[name]]
    assert readers
    for name in readers:
        assert list(functions(template)[name]["Properties"]["Environment"]["Variables"].values()).count(chosen) == 1, (
            name
        )
        assert any(chosen in listed(s["Resource"]) for s in role_statements(template, name)), name
    assert template["Outputs"][parameter] == {
        "Condition": condition,
        "Description": template["Outputs"][parameter]["Description"],
        "Value": {"Ref": secret},
    }


def test_the_judges_endpoint_keys_are_read_only_when_named_and_only_by_the_judging_functions(template):
    judging = {name for name, secrets in SECRET_ACCESS.items() if JUDGE_ENDPOINT_SECRETS in secrets}

    assert template["Parameters"][JUDGE_ENDPOINT_SECRETS]["Type"] == "CommaDelimitedList"
    assert template["Parameters"][JUDGE_ENDPOINT_SECRETS]["Default"] == ""
    assert template["Conditions"]["HasJudgeEndpointSecrets"] == {
        "Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": JUDGE_ENDPOINT_SECRETS}]}, ""]}]
    }
    for name in functions(template):
        role = template["Resources"][role_name(functions(template)[name])]
        conditional = [
            s["Fn::If"]
            for p in role["Properties"]["Policies"]
            for s in p["PolicyDocument"]["Statement"]
            if "Fn::If" in s and s["Fn::If"][0] == "HasJudgeEndpointSecrets"
        ]
        if name in judging:
            # Every function that calls a judge is told the endpoints, and may read their keys, nothing else.
            assert "JUDGE_ENDPOINTS" in functions(template)[name]["Properties"]["Environment"]["Variables"], name
            assert conditional == [
                [
                    "HasJudgeEndpointSecrets",
                    {
                        "Effect": "Allow",
                        "Action": "secretsmanager:GetSecretValue",
                        "Resource": {"Ref": JUDGE_ENDPOINT_SECRETS},
                    },
                    {"Ref": "AWS::NoValue"},
                ]
            ], name
        else:
            assert conditional == [], name


def test_secrets_encrypted_with_a_customer_key_can_be_decrypted_only_through_secrets_manager(template):
    for name in set(functions(template)) - {"PeopleScopesFunction", "UnroutedFunction"}:  # they read no secret
        role = template["Resources"][role_name(functions(template)[name])]
        conditional = [
            s["Fn::If"]
            for p in role["Properties"]["Policies"]
            for s in p["PolicyDocument"]["Statement"]
            if "Fn::If" in s and s["Fn::If"][0] != "HasJudgeEndpointSecrets"
        ]
        [(condition, statement, otherwise)] = conditional
        assert condition == "HasSecretsKmsKey" and otherwise == {"Ref": "AWS::NoValue"}
        # The migration step also writes the application secret (completed with the server), which encrypts.
        assert statement["Action"] == (
            ["kms:Decrypt", "kms:GenerateDataKey"] if name == "MigrateDatabaseFunction" else "kms:Decrypt"
        )
        assert statement["Resource"] == {"Ref": "SecretsKmsKeyArn"}
        assert "kms:ViaService" in statement["Condition"]["StringEquals"]


def test_every_function_is_watched_by_the_error_and_throttle_alarms(template):
    for alarm in ("FunctionErrorsAlarm", "FunctionThrottlesAlarm"):
        watched = {
            metric["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"]
            for metric in template["Resources"][alarm]["Properties"]["Metrics"]
            if "MetricStat" in metric
        }
        assert watched == set(functions(template)), alarm


def test_alarms_cover_the_api_the_queues_and_evaluations_and_notify_the_topic(template):
    alarms = {n: r["Properties"] for n, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    by_metric = {(p.get("Namespace"), p.get("MetricName")): n for n, p in alarms.items()}

    assert ("AWS/ApiGateway", "5xx") in by_metric
    assert ("AWS/SQS", "ApproximateAgeOfOldestMessage") in by_metric
    assert ("ShopMarketing", "EvaluationFailed") in by_metric
    dead_letter = {
        alarms[n]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for n, p in alarms.items()
        if p.get("MetricName") == "ApproximateNumberOfMessagesVisible"
    }
    assert dead_letter == {"CommentsToJudgeDeadLetterQueue", "EvaluationsDeadLetterQueue", "AsyncFailuresQueue"}
    # Every queue a function consumes is watched for a message waiting too long.
    oldest = {
        alarms[n]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for n, p in alarms.items()
        if p.get("MetricName") == "ApproximateAgeOfOldestMessage"
    }
    consumed = {
        r["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
    }
    assert consumed == {"CommentsToJudgeQueue", "EvaluationsQueue"} and oldest == consumed
    for name, properties in alarms.items():
        assert properties["AlarmActions"] == {
            "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
        }, name


@pytest.mark.parametrize(
    ("bucket", "prefix"), [("TrainingDataBucket", "training-data/"), ("BannerImagesBucket", "banners/")]
)
def test_the_product_buckets_log_access_and_expire_old_versions(template, bucket, prefix):
    properties = template["Resources"][bucket]["Properties"]

    assert properties["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": "AccessLogsBucket"},
        "LogFilePrefix": prefix,
    }
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    [rule] = properties["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled" and rule["NoncurrentVersionExpiration"]["NoncurrentDays"] > 0


def test_the_banner_function_may_only_read_and_write_the_banner_buckets_objects(template):
    s3 = [
        s
        for s in role_statements(template, "BannerImagesFunction")
        if any(a.startswith("s3:") for a in listed(s["Action"]))
    ]

    assert {(a, str(s["Resource"])) for s in s3 for a in listed(s["Action"])} == {
        ("s3:GetObject", str({"Fn::Sub": "${BannerImagesBucket.Arn}/*"})),
        ("s3:PutObject", str({"Fn::Sub": "${BannerImagesBucket.Arn}/*"})),
        # Lets S3 say 404 for an image not stored yet (403 otherwise): the object listing, not the objects.
        ("s3:ListBucket", str({"Fn::GetAtt": ["BannerImagesBucket", "Arn"]})),
    }
    for name in set(functions(template)) - {"BannerImagesFunction"}:
        assert not any("BannerImagesBucket" in str(s["Resource"]) for s in role_statements(template, name)), name


def test_a_newcomers_database_is_encrypted_postgresql_16_behind_a_tls_proxy(template):
    resources = template["Resources"]
    instance = resources["DatabaseInstance"]
    proxy = resources["DatabaseProxy"]["Properties"]
    pool = resources["DatabaseProxyTargets"]["Properties"]["ConnectionPoolConfigurationInfo"]
    variables = functions(template)["LinkBannerFunction"]["Properties"]["Environment"]["Variables"]

    assert instance["Condition"] == "CreateDatabase"
    assert instance["Properties"]["EngineVersion"].startswith("16.")
    assert instance["Properties"]["StorageEncrypted"] is True and instance["Properties"]["PubliclyAccessible"] is False
    assert instance["Properties"]["ManageMasterUserPassword"] is True
    assert proxy["RequireTLS"] is True
    # The proxy, not Lambda's concurrency, decides how many connections PostgreSQL sees.
    assert pool["MaxConnectionsPercent"] < 100
    # The functions sign in as the application role, through the proxy, which knows only that role.
    assert variables["DB_SECRET_ARN"] == {"Ref": "DatabaseApplicationSecret"}
    assert proxy["Auth"] == [
        {"AuthScheme": "SECRETS", "IAMAuth": "DISABLED", "SecretArn": {"Ref": "DatabaseApplicationSecret"}}
    ]
    assert variables["DB_HOST"]["Fn::If"][1] == {
        "Fn::If": [
            "UseProxy",
            {"Fn::GetAtt": ["DatabaseProxy", "Endpoint"]},
            {"Fn::GetAtt": ["DatabaseInstance", "Endpoint.Address"]},
        ]
    }
    assert "DATABASE_TLS" not in variables  # "auto": verified TLS for the secret


def test_the_created_network_keeps_functions_and_database_private(template):
    resources = template["Resources"]
    routes = {
        r["Properties"]["RouteTableId"]["Ref"]: r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::EC2::Route"
    }

    assert "NatGatewayId" in routes["PrivateRouteTable"] and "GatewayId" not in routes["PrivateRouteTable"]
    for subnet in ("PrivateSubnetA", "PrivateSubnetB"):
        assert resources[subnet]["Properties"].get("MapPublicIpOnLaunch") in (None, False)
    ingress = resources["DatabaseSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert [rule["SourceSecurityGroupId"] for rule in ingress] == [{"Ref": "FunctionSecurityGroup"}]


def test_every_skipped_checkov_check_says_why(template):
    skips = [
        (name, skip)
        for name, resource in template["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]

    assert skips
    for name, skip in skips:
        assert skip["id"].startswith(("CKV_AWS_", "CKV2_AWS_")), name
        assert len(skip.get("comment", "")) > 20, f"{name} skips {skip['id']} without a reason"


def references(value: Any) -> set[str]:
    """Every Ref and GetAtt target (with its attribute) inside ``value``."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value:
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            found.add(".".join(value["Fn::GetAtt"]))
        for inner in value.values():
            found |= references(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= references(inner)
    return found


def test_no_function_but_the_migration_refers_to_the_master_secret(template):
    master = {"DatabaseInstance.MasterUserSecret.SecretArn", "DatabaseSecretArn"}

    referring = {name for name, resource in template["Resources"].items() if references(resource) & master}

    # The migration function and its role; nothing else, the proxy included, ever sees the master's secret.
    assert referring == {"MigrateDatabaseFunction", "MigrateDatabaseRole"}


def test_the_application_secret_is_generated_kept_and_made_into_a_role_by_the_migration_step(template):
    resources = template["Resources"]
    secret = resources["DatabaseApplicationSecret"]
    generated = secret["Properties"]["GenerateSecretString"]
    migrate = functions(template)["MigrateDatabaseFunction"]["Properties"]["Environment"]["Variables"]

    assert (secret["DeletionPolicy"], secret["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert generated["GenerateStringKey"] == "password" and generated["PasswordLength"] >= 32
    assert generated["SecretStringTemplate"] == {
        "Fn::Sub": '{"username": "${DatabaseApplicationUser}", "engine": "postgres"}'
    }
    assert template["Parameters"]["DatabaseApplicationUser"]["Default"] == "shop_app"
    assert migrate["DB_APPLICATION_SECRET_ARN"] == {"Ref": "DatabaseApplicationSecret"}
    assert migrate["DB_SECRET_ARN"] == {
        "Fn::If": [
            "CreateDatabase",
            {"Fn::GetAtt": ["DatabaseInstance", "MasterUserSecret.SecretArn"]},
            {"Ref": "DatabaseSecretArn"},
        ]
    }
    # A new secret (another DatabaseApplicationUser) runs the step again.
    assert resources["DatabaseSchema"]["Properties"]["ApplicationSecret"] == {"Ref": "DatabaseApplicationSecret"}
    for name in set(functions(template)) - {"MigrateDatabaseFunction"}:
        variables = functions(template)[name]["Properties"]["Environment"]["Variables"]
        assert variables["DB_SECRET_ARN"] == {"Ref": "DatabaseApplicationSecret"}, name
        assert "DB_APPLICATION_SECRET_ARN" not in variables, name


WEBHOOK_ROUTES = ("POST /webhooks/openai", "GET /webhooks/instagram", "POST /webhooks/instagram")
WEBHOOK_FUNCTIONS = {"OpenAIWebhookFunction", "InstagramWebhookFunction"}
# The other route without a token: $default, what no route matches, answered 404/405 by a function of its own.
UNROUTED_FUNCTION = "UnroutedFunction"


def test_the_unauthenticated_routes_have_throttles_of_their_own(template):
    stage = template["Resources"]["HttpApiApiGatewayDefaultStage"]["Properties"]

    assert stage["RouteSettings"] == {
        route: {
            "ThrottlingRateLimit": {"Ref": "WebhookThrottlingRateLimit"},
            "ThrottlingBurstLimit": {"Ref": "WebhookThrottlingBurstLimit"},
        }
        for route in (*WEBHOOK_ROUTES, "$default")
    }
    assert (
        template["Parameters"]["WebhookThrottlingRateLimit"]["Default"]
        < template["Parameters"]["ThrottlingRateLimit"]["Default"]
    )


def test_each_webhook_has_a_function_of_its_own_with_reserved_concurrency_by_parameter(template):
    body = template["Resources"]["HttpApi"]["Properties"]["Body"]["paths"]
    integrated = {
        f"{method.upper()} {path}": operation["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
        for path, methods in body.items()
        for method, operation in methods.items()
    }
    # Each webhook route reaches a webhook function, and no other route does.
    for route, uri in integrated.items():
        reached = {name for name in functions(template) if f"${{{name}" in uri}
        if route in WEBHOOK_ROUTES:
            assert reached and reached <= WEBHOOK_FUNCTIONS, route
        else:
            assert not reached & WEBHOOK_FUNCTIONS, route
    assert template["Conditions"]["HasWebhookReservedConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "WebhookReservedConcurrency"}, 0]}]
    }
    assert (
        template["Parameters"]["WebhookReservedConcurrency"]["Default"] == 0
    )  # today's behaviour where none can be reserved
    for name in (*WEBHOOK_FUNCTIONS, UNROUTED_FUNCTION):
        assert functions(template)[name]["Properties"]["ReservedConcurrentExecutions"] == {
            "Fn::If": ["HasWebhookReservedConcurrency", {"Ref": "WebhookReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
        }, name


# Resources that hold what the shop cannot make again: kept when the stack goes or an update replaces them.
KEPT = {
    "UserPool": "Retain",
    "DatabaseInstance": "Snapshot",
    "DatabaseApplicationSecret": "Retain",
    "OpenAIWebhookSecret": "Retain",
    "InstagramAppSecret": "Retain",
    "InstagramVerifyToken": "Retain",
    "InstagramAccessToken": "Retain",
    "CommentsToJudgeQueue": "Retain",
    "CommentsToJudgeDeadLetterQueue": "Retain",
    "EvaluationsQueue": "Retain",
    "EvaluationsDeadLetterQueue": "Retain",
    "AsyncFailuresQueue": "Retain",
    "TrainingDataBucket": "Retain",
    "BannerImagesBucket": "Retain",
    "AccessLogsBucket": "Retain",
    "ConsoleBucket": "Retain",
    "ApiAccessLogs": "Retain",
    "MigrateDatabaseLogs": "Retain",
}
STATEFUL_TYPES = {
    "AWS::Cognito::UserPool",
    "AWS::RDS::DBInstance",
    "AWS::SecretsManager::Secret",
    "AWS::SQS::Queue",
    "AWS::S3::Bucket",
    "AWS::Logs::LogGroup",
}


def test_stateful_resources_say_what_happens_on_delete_and_replace(template):
    resources = template["Resources"]
    stateful = {name for name, r in resources.items() if r["Type"] in STATEFUL_TYPES}

    for name, policy in KEPT.items():
        assert (resources[name]["DeletionPolicy"], resources[name]["UpdateReplacePolicy"]) == (policy, policy), name
    # The rest (the functions' own log groups, which expire anyway) say Delete, explicitly.
    for name in stateful - set(KEPT):
        assert resources[name]["Type"] == "AWS::Logs::LogGroup", name
        assert (resources[name]["DeletionPolicy"], resources[name]["UpdateReplacePolicy"]) == ("Delete", "Delete"), name
