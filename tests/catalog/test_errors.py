"""Every notable error of the catalog routes, and input a client can get wrong: never a 500."""

import base64
import json

import pytest

from infra.api_gateway import api_gateway_event
from infra.lambda_runtime import LocalContext
from tests.support.lambda_invoke import result_of


def error_code(result):
    return result.json["error"]["code"]


def test_duplicate_store_is_409_naming_the_existing_store(api):
    store = api.store("naver-1")

    again = api("POST", "/stores", json={"name": "Other name", "naver_store_id": "naver-1"})

    assert again.status == 409
    assert error_code(again) == "duplicate"
    assert again.json["error"]["existing_id"] == store["id"]


def test_duplicate_product_number_in_the_same_store_is_409_but_fine_in_another_store(api):
    store, other = api.store("s-1"), api.store("s-2")
    api.product(store["id"], "P-1")

    same_store = api("POST", f"/stores/{store['id']}/products", json={"naver_product_no": "P-1", "name": "x"})
    other_store = api("POST", f"/stores/{other['id']}/products", json={"naver_product_no": "P-1", "name": "x"})

    assert same_store.status == 409 and error_code(same_store) == "duplicate"
    assert other_store.status == 201


def test_duplicate_instagram_media_is_409(api):
    post = api.post("ig-1")

    again = api("POST", "/instagram-posts", json={"instagram_media_id": "ig-1"})

    assert again.status == 409
    assert again.json["error"]["existing_id"] == post["id"]


def test_linking_a_product_of_another_store_is_409_store_mismatch(api):
    store, other = api.store("s-1"), api.store("s-2")
    banner = api.banner(store["id"])
    foreign_product = api.product(other["id"])

    result = api("PUT", f"/banners/{banner['id']}/product", json={"product_id": foreign_product["id"]})

    assert result.status == 409
    assert error_code(result) == "store_mismatch"
    assert api("GET", f"/banners/{banner['id']}").json["product"] is None


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/stores/999", None),
        ("DELETE", "/stores/999", None),
        ("POST", "/stores/999/products", {"naver_product_no": "P", "name": "n"}),
        ("POST", "/stores/999/banners", {"image_url": "https://cdn.example.com/x.png"}),
        ("DELETE", "/products/999", None),
        ("GET", "/banners/999", None),
        ("DELETE", "/banners/999", None),
        ("DELETE", "/instagram-posts/999", None),
        ("PUT", "/banners/999/product", {"product_id": 1}),
        ("DELETE", "/banners/999/product", None),
        ("PUT", "/banners/999/instagram-posts/1", None),
        ("DELETE", "/banners/999/instagram-posts/1", None),
    ],
)
def test_unknown_ids_are_404(api, method, path, body):
    result = api(method, path, json=body)

    assert result.status == 404
    assert error_code(result) == "not_found"


def test_linking_an_unknown_product_or_post_to_a_real_banner_is_404(api):
    store = api.store()
    banner = api.banner(store["id"])

    assert api("PUT", f"/banners/{banner['id']}/product", json={"product_id": 999}).status == 404
    assert api("PUT", f"/banners/{banner['id']}/instagram-posts/999").status == 404
    assert api("DELETE", f"/banners/{banner['id']}/instagram-posts/999").status == 404


@pytest.mark.parametrize("bad_id", ["-1", "0", "abc", "1.5", "9223372036854775808", "1" * 40])
def test_negative_huge_or_non_numeric_ids_are_422(api, bad_id):
    result = api("GET", f"/stores/{bad_id}")

    assert result.status == 422
    assert error_code(result) == "validation_error"


def test_largest_bigint_id_is_a_clean_404(api):
    assert api("GET", "/banners/9223372036854775807").status == 404


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "",
        "[]",
        "null",
        '"a string"',
    ],
)
def test_malformed_or_non_object_bodies_are_422(api, body):
    result = api("POST", "/stores", body=body, headers={"content-type": "application/json"})

    assert result.status == 422
    assert error_code(result) in {"invalid_json", "validation_error"}


@pytest.mark.parametrize(
    "body",
    [
        {"name": 123, "naver_store_id": "s"},
        {"name": "n", "naver_store_id": ["s"]},
        {"name": "", "naver_store_id": "s"},
        {"name": "n"},
        {"name": "n", "naver_store_id": "s", "surprise": True},
        {"name": "n" * 201, "naver_store_id": "s"},
    ],
)
def test_wrong_types_missing_or_unknown_fields_are_422_with_details(api, body):
    result = api("POST", "/stores", json=body)

    assert result.status == 422
    assert error_code(result) == "validation_error"
    assert result.json["error"]["details"]


@pytest.mark.parametrize(
    "body",
    [
        {"product_id": -5},
        {"product_id": "abc"},
        {"product_id": 2**64},
        {"product_id": None},
        {},
    ],
)
def test_bad_product_link_bodies_are_422(api, body):
    store = api.store()
    banner = api.banner(store["id"])

    result = api("PUT", f"/banners/{banner['id']}/product", json=body)

    assert result.status == 422


def test_banner_image_url_must_be_a_url(api):
    store = api.store()

    result = api("POST", f"/stores/{store['id']}/banners", json={"image_url": "not a url"})

    assert result.status == 422


def test_base64_encoded_bodies_work(api):
    body = json.dumps({"name": "순대 옷가게", "naver_store_id": "b64"}, ensure_ascii=False)

    result = api("POST", "/stores", body=body, base64_encoded=True)  # the event carries it base64-encoded

    assert result.status == 201
    assert result.json["name"] == "순대 옷가게"


@pytest.mark.parametrize(
    ("raw_body", "expected_code"),
    [("!!!not base64!!!", "invalid_body"), (base64.b64encode(b"\xff\xfe bad utf8").decode(), "invalid_body")],
)
def test_undecodable_base64_bodies_are_422(api, raw_body, expected_code):
    event = api_gateway_event(
        "POST", "/stores", body=b"{}", headers={"content-type": "application/json"}, base64_encoded=True
    )
    event["body"] = raw_body  # what a broken client could make API Gateway pass on

    result = result_of(api.handler(event, LocalContext()))

    assert result.status == 422
    assert error_code(result) == expected_code


def test_unknown_route_is_404_and_wrong_method_is_405(api):
    unknown = api("GET", "/no-such-thing")
    wrong_method = api("PATCH", "/stores/1")

    assert unknown.status == 404 and error_code(unknown) == "not_found"
    assert wrong_method.status == 405 and error_code(wrong_method) == "method_not_allowed"
    assert set(wrong_method.headers["Allow"].split(", ")) == {"GET", "DELETE"}


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml"]
)
def test_a_non_json_content_type_is_415_not_500(api, content_type):
    # `curl -d` without -H sends a form: the answer says to send JSON.
    result = api("POST", "/stores", body='{"name": "x", "naver_store_id": "y"}', headers={"content-type": content_type})

    assert result.status == 415
    assert error_code(result) == "unsupported_media_type"
