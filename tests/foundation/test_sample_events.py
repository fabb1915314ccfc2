"""The events/ samples (the ones `sam local invoke -e` takes) run through the handler."""

from infra.lambda_runtime import LocalContext
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


def test_instagram_webhook_sample_events_run_through_the_handler(db, monkeypatch):
    from moto import mock_aws

    from shop_marketing.aws_clients import forget_aws_clients
    from shop_marketing.config import get_settings

    # The samples are signed with, and ask for, these (docs/instagram-and-banners.md "Instagram comments in").
    monkeypatch.setenv("INSTAGRAM_APP_SECRET", "sample-app-secret")
    monkeypatch.setenv("INSTAGRAM_VERIFY_TOKEN", "sample-verify-token")
    with mock_aws():
        import boto3

        monkeypatch.setenv("JUDGE_QUEUE_URL", boto3.client("sqs").create_queue(QueueName="judge")["QueueUrl"])
        get_settings.cache_clear()
        forget_aws_clients()
        handler = handler_of("instagram_comments")

        handshake = result_of(handler(sample_event("instagram_webhook_handshake.json"), LocalContext()))
        delivered = result_of(handler(sample_event("instagram_webhook_comment.json"), LocalContext()))

    forget_aws_clients()
    monkeypatch.undo()
    get_settings.cache_clear()
    assert (handshake.status, handshake.body) == (200, b"1158201444")
    # The customer's comment is queued; the shop's reply is kept but not judged.
    assert (delivered.status, delivered.json) == (200, {"received": 2, "new": 2, "queued": 1, "refused": []})


def test_the_reviews_sample_event_runs_through_the_handler_and_names_the_tokens_subject(db):
    import sqlalchemy as sa

    with db.begin() as connection:
        post = connection.execute(
            sa.text("INSERT INTO instagram_posts (instagram_media_id) VALUES ('17990000000000001') RETURNING id")
        ).scalar()
        connection.execute(
            sa.text(
                "INSERT INTO instagram_comments (instagram_comment_id, post_id, text, text_sha256) "
                "VALUES ('17858893269000001', :p, '좋아요', 'x')"
            ),
            {"p": post},
        )

    reviewed = result_of(handler_of("reviews")(sample_event("reviews_set_review_http.json"), LocalContext()))

    assert reviewed.status == 200, reviewed.body
    assert reviewed.json["label"] == "bad"
    assert reviewed.json["review"]["reviewer"] == "7c5b1e2a-91d3-4f0e-8a6b-2d4c9e1f0a37"
