"""The events/ samples (the ones `sam local invoke -e` takes) run through the handler."""

from infra.local_api import LocalContext
from tests.support.lambda_invoke import call_http, handler_of, result_of, sample_event


def invoke(name):
    return result_of(handler_of("link_banner")(sample_event(name), LocalContext()))


def test_catalog_sample_events_run_through_the_handler(db):
    created = invoke("link_banner_create_store.json")
    assert created.status == 201
    duplicate = invoke("link_banner_create_store_base64.json")
    assert duplicate.status == 409
    assert duplicate.json["error"]["existing_id"] == created.json["id"]

    # The remaining samples name banner 1 and post 1.
    handler = handler_of("link_banner")
    assert call_http(handler, "POST", "/stores/1/banners", json={"image_url": "https://x.example/1.png"}).status == 201
    assert call_http(handler, "POST", "/instagram-posts", json={"instagram_media_id": "ig-1"}).status == 201

    linked = invoke("link_banner_link_post.json")
    assert linked.status == 200 and [p["id"] for p in linked.json["instagram_posts"]] == [1]
    assert invoke("link_banner_get_banner.json").json["instagram_posts"][0]["instagram_media_id"] == "ig-1"
    assert invoke("link_banner_delete_banner.json").status == 204
    assert invoke("link_banner_get_banner.json").status == 404
