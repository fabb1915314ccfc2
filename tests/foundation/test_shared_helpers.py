"""The layer's one helper for each piece several modules need: the text hash, the lazy AWS client,
schedule detection and the details of a validation error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from moto import mock_aws
from pydantic import BaseModel, Field, ValidationError

from tests.support.lambda_invoke import sample_event

ROOT = Path(__file__).resolve().parents[2]
SCHEDULE_EVENTS = ["judges_refresh_models_schedule.json", "refresh_jobs_schedule.json", "instagram_fetch_schedule.json"]


# --- the text hash --------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["좋아요 😍 잘 입고 있어요", "plain", "", "e\u0301 (decomposed)"])
def test_the_text_hash_is_the_one_postgresql_computes_for_the_stored_text(db, text):
    from shop_marketing.hashing import text_sha256

    with db.connect() as connection:
        stored = connection.execute(
            sa.text("SELECT encode(sha256(convert_to(:text, 'UTF8')), 'hex')"), {"text": text}
        ).scalar()
    assert text_sha256(text) == stored


# --- the lazy AWS client --------------------------------------------------------------------------


def test_an_aws_client_is_made_once_and_made_anew_once_forgotten(monkeypatch):
    from shop_marketing import lifecycle
    from shop_marketing.aws_clients import aws_client, forget_aws_clients

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        forget_aws_clients()
        sqs = aws_client("sqs")
        assert aws_client("sqs") is sqs
        assert aws_client("s3") is not sqs
        url = sqs.create_queue(QueueName="helpers")["QueueUrl"]
        assert aws_client("sqs").get_queue_url(QueueName="helpers")["QueueUrl"] == url

        # SnapStart's hooks forget it: no copy restored from a snapshot shares it.
        lifecycle.run_after_restore()
        assert aws_client("sqs") is not sqs
    forget_aws_clients()


# --- schedules ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SCHEDULE_EVENTS)
def test_the_schedules_sample_events_are_schedules(name):
    from shop_marketing.schedules import is_schedule

    assert is_schedule(sample_event(name))


def test_the_input_the_template_gives_the_instagram_scheduler_is_a_schedule():
    from shop_marketing.schedules import is_schedule

    class Template(yaml.SafeLoader):
        pass

    Template.add_multi_constructor("!", lambda loader, suffix, node: None)
    resources = yaml.load((ROOT / "template.yaml").read_text(), Loader=Template)["Resources"]
    inputs = [
        json.loads(event["Properties"]["Input"])
        for resource in resources.values()
        for event in ((resource.get("Properties") or {}).get("Events") or {}).values()
        if event["Type"] == "ScheduleV2"
    ]
    assert inputs and all(is_schedule(given) for given in inputs)


@pytest.mark.parametrize(
    "name", sorted(path.name for path in (ROOT / "events").glob("*.json") if path.name not in SCHEDULE_EVENTS)
)
def test_no_other_sample_event_is_a_schedule(name):
    from shop_marketing.schedules import is_schedule

    assert not is_schedule(sample_event(name))


@pytest.mark.parametrize(
    "event",
    [
        {"source": "aws.events"},
        {"detail-type": "Scheduled Event"},
        {"source": "aws.s3", "detail-type": "Scheduled Event"},
        {"source": "aws.events", "detail-type": "Object Created"},
    ],
)
def test_half_a_schedule_is_not_one(event):
    from shop_marketing.schedules import is_schedule

    assert not is_schedule(event)


# --- validation errors ----------------------------------------------------------------------------


class _Body(BaseModel):
    name: str = Field(min_length=1)
    tags: list[int] = []


def _problems(body: str) -> ValidationError:
    with pytest.raises(ValidationError) as raised:
        _Body.model_validate_json(body)
    return raised.value


def test_a_body_s_problems_become_the_product_s_details_without_the_values():
    from shop_marketing.errors import validation_details

    details = validation_details(
        _problems('{"name": "", "tags": [1, "secret-value"]}').errors(include_url=False), where="body"
    )

    assert details == [
        {"field": "name", "in": "body", "type": "string_too_short", "message": details[0]["message"]},
        {"field": "tags.1", "in": "body", "type": "int_parsing", "message": details[1]["message"]},
    ]
    assert all(detail["message"] and "secret-value" not in detail["message"] for detail in details)
    # A problem of the whole body (not JSON) is the body's.
    [broken] = validation_details(_problems("{").errors(include_url=False), where="body")
    assert (broken["field"], broken["in"], broken["type"]) == ("body", "body", "json_invalid")


def test_problems_located_by_the_request_s_part_name_that_part():
    from shop_marketing.errors import validation_details

    problems = [
        {"loc": ("query", "judge_id"), "type": "int_parsing", "msg": "Input should be a valid integer"},
        {"loc": ("body",), "type": "missing", "msg": "Field required"},
        {"type": "value_error"},
    ]
    assert validation_details(problems) == [
        {"field": "judge_id", "in": "query", "type": "int_parsing", "message": "Input should be a valid integer"},
        {"field": "body", "in": "body", "type": "missing", "message": "Field required"},
        {"field": "request", "in": "request", "type": "value_error", "message": "invalid value"},
    ]
