"""Values that only look right: ``true``, ``"1"`` and ``1.0`` are not the id 1; text PostgreSQL cannot
store is refused before anything is done with it (also on the judge queue, before OpenAI is paid)."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from tests.support.lambda_invoke import call_http, handler_of


@pytest.fixture
def catalog(db):
    return handler_of("link_banner")


def created(handler, path, body):
    result = call_http(handler, "POST", path, json=body)
    assert result.status == 201, result.body
    return result.json


@pytest.mark.parametrize("loose", [True, "1", 1.0, [1], {"id": 1}], ids=["true", "string", "float", "list", "object"])
def test_a_value_that_is_not_an_integer_is_not_the_id_1(catalog, db, loose):
    store = created(catalog, "/stores", {"name": "S", "naver_store_id": "s-1"})
    created(catalog, f"/stores/{store['id']}/products", {"naver_product_no": "1", "name": "P"})
    banner = created(catalog, f"/stores/{store['id']}/banners", {"image_url": "https://cdn.example.com/b.png"})

    result = call_http(catalog, "PUT", f"/banners/{banner['id']}/product", json={"product_id": loose})

    assert result.status == 422, result.body
    assert result.json["error"]["code"] == "validation_error"
    with db.connect() as connection:
        assert connection.scalar(sa.text("SELECT product_id FROM naver_image_banners")) is None


def test_upper_case_json_media_type_is_json(catalog):
    result = call_http(
        catalog,
        "POST",
        "/stores",
        body=json.dumps({"name": "S", "naver_store_id": "s-2"}),
        headers={"Content-Type": "Application/JSON; Charset=UTF-8"},
    )

    assert result.status == 201, result.body


@pytest.mark.parametrize("comment", ["좋아요\u0000", "\ud800좋아요"], ids=["nul", "lone-surrogate"])
def test_a_judge_request_with_unstorable_text_is_refused_by_its_model(comment):
    from shop_marketing.judging.judge import JudgeRequest

    with pytest.raises(ValidationError):
        JudgeRequest.model_validate({"comment": comment})
    with pytest.raises(ValidationError):
        JudgeRequest.model_validate_json(json.dumps({"comment": comment}))
    with pytest.raises(ValidationError):
        JudgeRequest.model_validate({"comment": "fine", "post_id": True})
