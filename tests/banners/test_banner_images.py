"""POST /instagram-posts/{post_id}/banner-images: end to end on the local run, its errors, S3 storage."""

from __future__ import annotations

import io
import json
import sys
import threading
import urllib.error
import urllib.request

import boto3
import pytest
import sqlalchemy as sa
from moto import mock_aws
from PIL import Image

from infra.api_gateway import routes_from_template
from infra.lambda_runtime import LocalContext
from infra.local_api import LocalApi, make_server
from tests.support.lambda_invoke import call_http, handler_of, result_of, sample_event

GOOD = [
    # (comment id, author id, username, confidence, text)
    ("c1", "u1", "linen_lover", 0.97, "린넨 셔츠 구김이 덜 가서 여름 내내 입었어요. 세탁 후에도 핏이 그대로예요 😍"),
    ("c2", "u2", "minji.k", 0.93, "사이즈 추천대로 M 샀는데 딱 맞아요. 두께감도 좋아서 재구매 의사 100%!"),
    ("c3", "u1", "linen_lover", 0.91, "두 번째 구매예요. 이번엔 베이지로 샀어요."),  # the same author again
    ("c4", "u3", "daily.look", 0.88, "배송 빠르고 포장도 꼼꼼했어요.\n엄마 선물로 드렸는데 너무 좋아하세요"),
    ("c5", "u4", "emoji_only", 0.99, "😍😍😍🔥"),  # nothing the font can draw
    ("c6", "u5", "sundae_closet", 0.99, "감사합니다 고객님!"),  # the shop's own
]
BAD = [("c7", "u6", "grumpy", 0.95, "품절이라 못 샀어요 😭")]


def judged_comment(connection, post_id, comment_id, author_id, username, confidence, text, verdict, by_shop=False):
    judge = connection.execute(
        sa.text(
            "INSERT INTO judges (name, style, model) "
            "VALUES ('fixture-judge', 'fine_tuned', 'ft:gpt-4o-mini-2024-07-18:shop::judge01') "
            "ON CONFLICT (name) DO UPDATE SET model = EXCLUDED.model RETURNING id"
        )
    ).scalar()
    judgement = connection.execute(
        sa.text(
            "INSERT INTO judgements (judge_id, text_sha256, model, verdict, confidence, "
            "comment_tokens, prompt_tokens, completion_tokens) "
            "VALUES (:judge, :sha, 'ft:gpt-4o-mini-2024-07-18:shop::judge01', :verdict, :confidence, 10, 17, 1) "
            "RETURNING id"
        ),
        {"judge": judge, "sha": comment_id.ljust(64, "0"), "verdict": verdict, "confidence": confidence},
    ).scalar()
    connection.execute(
        sa.text(
            "INSERT INTO instagram_comments (instagram_comment_id, post_id, text, text_sha256, "
            "judgement_id, author_id, author_username, by_shop) "
            "VALUES (:id, :post, :text, :sha, :judgement, :author, :username, :by_shop)"
        ),
        {
            "id": comment_id,
            "post": post_id,
            "text": text,
            "sha": comment_id.ljust(64, "0"),
            "judgement": judgement,
            "author": author_id,
            "username": username,
            "by_shop": by_shop,
        },
    )


@pytest.fixture
def seeded(db):
    """Two stores, a product each, a post with judged comments (good, bad, the shop's own)."""
    with db.begin() as connection:

        def insert(query, **values):
            return connection.execute(sa.text(query + " RETURNING id"), values).scalar()

        store = insert(
            "INSERT INTO naver_stores (naver_store_id, name) VALUES ('sundae-closet', '순대 클로젯 Sundae Closet')"
        )
        other_store = insert("INSERT INTO naver_stores (naver_store_id, name) VALUES ('other', 'Other')")
        product = insert(
            "INSERT INTO naver_products (store_id, naver_product_no, name) VALUES (:s, '8812', 'Linen shirt')", s=store
        )
        other_product = insert(
            "INSERT INTO naver_products (store_id, naver_product_no, name) VALUES (:s, '1', 'x')", s=other_store
        )
        post = insert("INSERT INTO instagram_posts (instagram_media_id) VALUES ('17990000000000001')")
        for comment_id, author, username, confidence, text in GOOD:
            judged_comment(
                connection,
                post,
                comment_id,
                author,
                username,
                confidence,
                text,
                "good",
                by_shop=username == "sundae_closet",
            )
        for comment_id, author, username, confidence, text in BAD:
            judged_comment(connection, post, comment_id, author, username, confidence, text, "bad")
    return {
        "store": store,
        "other_store": other_store,
        "product": product,
        "other_product": other_product,
        "post": post,
    }


def banner_module():
    handler = handler_of("banner_images")
    return sys.modules[handler.__module__]


@pytest.fixture
def local_run(db, tmp_path, monkeypatch):
    """The local run (`make local`'s server) with banner images under a directory of this test."""
    from shop_marketing.config import get_settings

    server = make_server(LocalApi(routes_from_template()), port=0)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("BANNER_IMAGES_DIR", str(tmp_path / "banner-images"))
    monkeypatch.setenv("BANNER_IMAGES_BASE_URL", f"{base}/banner-images")
    get_settings.cache_clear()
    banner_module().images.cache_clear()
    banner_module().renderer.cache_clear()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base, tmp_path / "banner-images"
    server.shutdown()
    server.server_close()
    monkeypatch.undo()
    get_settings.cache_clear()
    banner_module().images.cache_clear()
    banner_module().renderer.cache_clear()


def request(url, method="GET", body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def counts(db):
    with db.connect() as connection:
        return (
            connection.scalar(sa.text("SELECT count(*) FROM naver_image_banners")),
            connection.scalar(sa.text("SELECT count(*) FROM banner_images")),
            connection.scalar(sa.text("SELECT count(*) FROM banner_instagram_posts")),
        )


def test_banner_images_end_to_end_on_the_local_run_twice(local_run, seeded, db):
    base, directory = local_run
    url = f"{base}/instagram-posts/{seeded['post']}/banner-images"
    body = {"store_id": seeded["store"], "product_id": seeded["product"], "count": 3}

    status, _, payload = request(url, "POST", body)

    assert status == 201, payload
    banners = json.loads(payload)["banners"]
    assert len(banners) == 3
    # Most confident first, one per author: linen_lover's best, then minji.k, then daily.look;
    # the emoji-only comment (nothing to draw), the shop's own and the bad one are left out.
    assert [banner["title"].split(" — ")[0] for banner in banners] == ["@linen_lover", "@minji.k", "@daily.look"]
    for banner in banners:
        assert banner["store_id"] == seeded["store"]
        assert banner["product"]["id"] == seeded["product"]
        assert [post["id"] for post in banner["instagram_posts"]] == [seeded["post"]]
        assert banner["image_url"].startswith(f"{base}/banner-images/")
        image_status, headers, png = request(banner["image_url"])
        assert image_status == 200 and headers["Content-Type"] == "image/png"
        image = Image.open(io.BytesIO(png))
        image.load()
        assert image.size == (1200, 628)
    files = sorted(path.name for path in directory.iterdir())
    assert len(files) == 3
    stamps = {path.name: path.stat().st_mtime_ns for path in directory.iterdir()}

    again_status, _, again = request(url, "POST", body)

    assert again_status == 200
    assert json.loads(again)["banners"] == banners
    assert counts(db) == (3, 3, 3)
    assert {path.name: path.stat().st_mtime_ns for path in directory.iterdir()} == stamps


def test_a_deleted_banner_is_made_again_from_the_same_image(local_run, seeded, db):
    base, directory = local_run
    url = f"{base}/instagram-posts/{seeded['post']}/banner-images"
    _, _, first = request(url, "POST", {"store_id": seeded["store"], "count": 1})
    [banner] = json.loads(first)["banners"]
    assert banner["product"] is None
    assert request(f"{base}/banners/{banner['id']}", "DELETE")[0] == 204

    status, _, again = request(url, "POST", {"store_id": seeded["store"], "count": 1})

    [remade] = json.loads(again)["banners"]
    assert status == 201
    assert remade["id"] != banner["id"] and remade["image_url"] == banner["image_url"]
    assert len(list(directory.iterdir())) == 1
    assert counts(db) == (1, 1, 1)


def test_errors_404_409_and_422(local_run, seeded):
    base, _ = local_run
    post, store = seeded["post"], seeded["store"]

    def post_banners(post_id, body):
        status, _, payload = request(f"{base}/instagram-posts/{post_id}/banner-images", "POST", body)
        return status, json.loads(payload)

    assert post_banners(post + 100, {"store_id": store})[0] == 404
    assert post_banners(post, {"store_id": store + 100})[0] == 404
    assert post_banners(post, {"store_id": store, "product_id": seeded["product"] + 100})[0] == 404
    mismatch = post_banners(post, {"store_id": store, "product_id": seeded["other_product"]})
    assert (mismatch[0], mismatch[1]["error"]["code"]) == (409, "store_mismatch")
    too_many = post_banners(post, {"store_id": store, "count": 4})
    assert (too_many[0], too_many[1]["error"]["code"]) == (409, "not_enough_good_comments")
    assert too_many[1]["error"]["available"] == 3
    assert "3 usable good comment" in too_many[1]["error"]["message"]
    for invalid in (
        {"store_id": store, "count": 0},
        {"store_id": store, "count": 11},
        {"store_id": True},
        {"store_id": "1"},
        {},
        {"store_id": store, "colour": "red"},
    ):
        assert post_banners(post, invalid)[0] == 422, invalid


def test_a_post_without_good_comments_says_so(local_run, seeded, db):
    base, _ = local_run
    with db.begin() as connection:
        empty = connection.execute(
            sa.text("INSERT INTO instagram_posts (instagram_media_id) VALUES ('2') RETURNING id")
        ).scalar()

    status, _, payload = request(f"{base}/instagram-posts/{empty}/banner-images", "POST", {"store_id": seeded["store"]})

    assert status == 409
    # No count asked for: three banners are wanted.
    assert (json.loads(payload)["error"]["available"], json.loads(payload)["error"]["requested"]) == (0, 3)


def test_in_aws_images_go_to_the_bucket_once_under_their_content_key(seeded, db, monkeypatch):
    from shop_marketing.config import get_settings

    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="banner-images")
        s3.put_bucket_versioning(Bucket="banner-images", VersioningConfiguration={"Status": "Enabled"})
        monkeypatch.setenv("BANNER_IMAGES_BUCKET", "banner-images")
        monkeypatch.setenv("BANNER_IMAGES_BASE_URL", "https://d111111abcdef8.cloudfront.net")
        monkeypatch.delenv("BANNER_IMAGES_DIR", raising=False)
        get_settings.cache_clear()
        banner_module().images.cache_clear()
        handler = handler_of("banner_images")
        body = {"store_id": seeded["store"], "count": 2}

        first = call_http(handler, "POST", f"/instagram-posts/{seeded['post']}/banner-images", json=body)
        second = call_http(handler, "POST", f"/instagram-posts/{seeded['post']}/banner-images", json=body)
        versions = s3.list_object_versions(Bucket="banner-images").get("Versions", [])
        objects = {version["Key"]: s3.get_object(Bucket="banner-images", Key=version["Key"]) for version in versions}

    banner_module().images.cache_clear()
    monkeypatch.undo()
    get_settings.cache_clear()
    assert (first.status, second.status) == (201, 200)
    assert second.json == first.json
    assert len(versions) == 2  # one object version per image: the second request wrote nothing
    for banner in first.json["banners"]:
        key = banner["image_url"].removeprefix("https://d111111abcdef8.cloudfront.net/")
        assert objects[key]["ContentType"] == "image/png"
        assert Image.open(io.BytesIO(objects[key]["Body"].read())).size == (1200, 628)


def test_without_a_place_for_images_the_route_is_503(seeded, monkeypatch):
    from shop_marketing.config import get_settings

    for name in ("BANNER_IMAGES_BUCKET", "BANNER_IMAGES_DIR"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    banner_module().images.cache_clear()

    result = call_http(
        handler_of("banner_images"),
        "POST",
        f"/instagram-posts/{seeded['post']}/banner-images",
        json={"store_id": seeded["store"]},
    )

    assert result.status == 503
    assert result.json["error"]["code"] == "banner_images_not_configured"
    banner_module().images.cache_clear()


def test_the_sample_event_runs_through_the_handler(seeded, db, tmp_path, monkeypatch):
    from shop_marketing.config import get_settings

    monkeypatch.setenv("BANNER_IMAGES_DIR", str(tmp_path))
    get_settings.cache_clear()
    banner_module().images.cache_clear()
    # The sample names store 1, product 1 and post 1.
    assert (seeded["store"], seeded["product"], seeded["post"]) == (1, 1, 1)

    result = result_of(handler_of("banner_images")(sample_event("banner_images_http.json"), LocalContext()))

    assert result.status == 201
    assert len(result.json["banners"]) == 2
    banner_module().images.cache_clear()


def test_two_identical_requests_at_once_make_one_set_of_banners(seeded, db, tmp_path, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from shop_marketing.config import get_settings

    monkeypatch.setenv("BANNER_IMAGES_DIR", str(tmp_path))
    get_settings.cache_clear()
    banner_module().images.cache_clear()
    handler = handler_of("banner_images")
    path = f"/instagram-posts/{seeded['post']}/banner-images"
    body = {"store_id": seeded["store"], "product_id": seeded["product"], "count": 2}

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: call_http(handler, "POST", path, json=body), range(2)))

    assert sorted(result.status for result in results) == [200, 201]
    assert results[0].json == results[1].json
    assert counts(db) == (2, 2, 2)
    assert len(list(tmp_path.iterdir())) == 2
    banner_module().images.cache_clear()
