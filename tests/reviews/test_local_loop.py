"""The seed's loop on the local run, started as the README starts it (`make local PORT=…`): a signed
Instagram delivery is judged by the local run's own judge queue with no other call, the post's good
comments and banner images appear, a review changes them at once, and an activation takes effect on
the next request."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import urllib.error
import urllib.request

import pytest

from infra.api_gateway import ROOT
from tests.support.local_run import serving
from tests.support.network import free_port

# The walk-through docs/walkthrough.md "From a comment to a banner, on the local run" uses this secret and file:
# four comments, the last a question (the stand-in reads it as "bad").
APP_SECRET = "local-app-secret"
DELIVERY = ROOT / "examples" / "instagram-delivery.json"


def call(
    base: str, method: str, path: str, body: object = None, *, raw: bytes | None = None, headers: dict | None = None
):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(
        base + path, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture
def make_local(db, database_url, tmp_path):
    """`make local PORT=<a free port>` on the test database, with no OpenAI key and no queue URLs."""
    port = free_port()
    environment = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "OPENAI_API_KEY",
            "OPENAI_BASE_URL",
            "EVALUATION_QUEUE_URL",
            "JUDGE_QUEUE_URL",
            "ACTIVE_MODEL_TTL_SECONDS",
            "JUDGE_MODEL",
            "PORT",
            "MAKEFLAGS",
        )
    }
    environment.update(
        DATABASE_URL=database_url, INSTAGRAM_APP_SECRET=APP_SECRET, BANNER_IMAGES_DIR=str(tmp_path / "banner-images")
    )
    # make and the local run it started share the process group the helper stops.
    with serving(["make", "--no-print-directory", "local", f"PORT={port}"], ROOT, environment, 300) as lines:
        yield f"http://127.0.0.1:{port}", lines


def delivery() -> bytes:
    return DELIVERY.read_bytes()


def wait_until_judged(base: str, post_id: int, count: int) -> list[dict]:
    deadline = time.monotonic() + 120  # a deadline against hanging, not a speed requirement
    while True:
        status, listed = call(base, "GET", f"/instagram-posts/{post_id}/comments")
        assert status == 200, listed
        comments = listed["comments"]
        if (len(comments) == count and all(c["verdict"] for c in comments)) or time.monotonic() > deadline:
            return comments
        time.sleep(0.2)


def test_a_signed_delivery_is_judged_on_the_local_run_and_becomes_banners(make_local):
    base, started = make_local
    assert any(f"serving on http://127.0.0.1:{base.rsplit(':', 1)[1]}" in line for line in started)
    assert any("comments to judge: judged in the background by this process" in line for line in started)

    status, judge = call(
        base,
        "POST",
        "/judges",
        {"name": "ft-4o-mini", "style": "fine_tuned", "model": "ft:gpt-4o-mini-2024-07-18:shop::judge01"},
    )
    assert status == 201, judge
    status, active = call(
        base, "POST", f"/judges/{judge['id']}/activate", {"force": True, "reason": "the shop's judge"}
    )
    assert (status, active["status"]) == (200, "active"), active
    status, store = call(base, "POST", "/stores", {"name": "Sundae Closet", "naver_store_id": "sundae-closet"})
    assert status == 201

    raw = delivery()
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    status, received = call(base, "POST", "/webhooks/instagram", raw=raw, headers={"X-Hub-Signature-256": signature})
    assert (status, received) == (200, {"received": 4, "new": 4, "queued": 4, "refused": []}), received

    status, post = call(base, "GET", "/comments/review-queue")
    post_id = post["comments"][0]["post_id"]
    comments = wait_until_judged(base, post_id, 4)

    verdicts = {c["instagram_comment_id"]: (c["verdict"], c["judge"]) for c in comments}
    assert verdicts == {
        "17858893269001001": ("good", "ft-4o-mini"),
        "17858893269001002": ("good", "ft-4o-mini"),
        "17858893269001003": ("good", "ft-4o-mini"),
        "17858893269001004": ("bad", "ft-4o-mini"),
    }
    status, good = call(base, "GET", f"/instagram-posts/{post_id}/good-comments")
    assert status == 200 and len(good["comments"]) == 3

    # Meta retries the delivery: nothing is queued (or paid) again.
    status, again = call(base, "POST", "/webhooks/instagram", raw=raw, headers={"X-Hub-Signature-256": signature})
    assert (status, again) == (200, {"received": 4, "new": 0, "queued": 0, "refused": []})

    # A reviewer takes the question for a real review, and one good comment out: banners follow.
    by_ig = {c["instagram_comment_id"]: c["id"] for c in comments}
    assert (
        call(
            base,
            "PUT",
            f"/comments/{by_ig['17858893269001001']}/review",
            {"label": "bad", "note": "a competitor's bag"},
        )[0]
        == 200
    )
    assert call(base, "PUT", f"/comments/{by_ig['17858893269001004']}/review", {"label": "good"})[0] == 200
    status, made = call(
        base, "POST", f"/instagram-posts/{post_id}/banner-images", {"store_id": store["id"], "count": 3}
    )
    assert status == 201, made
    assert [banner["title"].split(" — ")[0] for banner in made["banners"]] == ["@curious", "@minji.k", "@daily.look"]
    image = urllib.request.urlopen(made["banners"][0]["image_url"], timeout=60)  # noqa: S310 - loopback
    assert image.headers["Content-Type"] == "image/png"

    # Another judge activated: the very next judgement is its own.
    status, other = call(
        base,
        "POST",
        "/judges",
        {"name": "ft-4o-mini-02", "style": "fine_tuned", "model": "ft:gpt-4o-mini-2024-07-18:shop::judge02"},
    )
    assert status == 201, other
    assert call(base, "POST", f"/judges/{other['id']}/activate", {"force": True, "reason": "newer data"})[0] == 200
    status, answer = call(
        base, "POST", "/comments/judge", {"comment": "바지 허리가 넉넉해서 밥 먹고도 편해요. 기장도 딱 맞아요."}
    )
    assert (status, answer["judge"]) == (200, "ft-4o-mini-02"), answer
