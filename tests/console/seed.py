"""What the console tests show: two judges evaluated on the golden set (one active), a store, a post
and its comments — delivered by a signed Instagram webhook and judged by the local run's own judge
queue — all made through the API, as a shop's would be."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from infra.api_gateway import ROOT

EXAMPLES = ROOT / "examples"
FINE_TUNED = "ft:gpt-4o-mini-2024-07-18:shop::judge01"
# The local run's Instagram app secret in these tests (it verifies the webhook's signature).
INSTAGRAM_APP_SECRET = "console-tests-app-secret"
MEDIA_ID = "17890000000000001"
# (Meta's comment id, username, text): the stand-in reads questions and complaints as bad, long praise as good.
COMMENTS = (
    (
        "17858000000000001",
        "shin.style",
        "린넨 셔츠 생각보다 덜 구겨져서 출근길에 시원하게 입었어요! 재구매 의사 있어요 😊",
    ),
    (
        "17858000000000002",
        "mina_daily",
        "니트 조끼 색감이 화면이랑 똑같아요. 셔츠 위에 겹쳐 입으니 사무실에서 딱이에요.",
    ),
    ("17858000000000003", "j.park", "배송 언제 와요?"),
    (
        "17858000000000004",
        "hoon.fit",
        "슬랙스 허리 밴딩 덕분에 하루 종일 앉아 있어도 편해요. 두 번 빨았는데 핏 그대로예요.",
    ),
    ("17858000000000005", "ad.bot", "팔로우하면 선물 드려요 DM 주세요"),
)


def call(
    base: str, method: str, path: str, body: object = None, *, jsonl: bytes | None = None, token: str | None = None
):
    if jsonl is not None:
        data, content_type = jsonl, "application/jsonl"
    else:
        data, content_type = (json.dumps(body).encode() if body is not None else None), "application/json"
    headers = {"Content-Type": content_type} | ({"Authorization": f"Bearer {token}"} if token else {})
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def ok(answer: tuple[int, object], *statuses: int):
    status, body = answer
    assert status in (statuses or (200, 201)), (status, body)
    return body


@dataclass
class Seeded:
    store: dict
    post: dict
    judges: dict[str, dict]
    comment_texts: tuple[str, ...]


def wait_for_evaluation(base: str, evaluation_id: int) -> dict:
    deadline = time.monotonic() + 120  # against hanging, not a speed requirement
    while True:
        evaluation = ok(call(base, "GET", f"/evaluations/{evaluation_id}"))
        if evaluation["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return evaluation
        time.sleep(0.2)


def deliver_comments(base: str) -> None:
    """The comments as Meta's webhook delivers them, signed with the app secret."""
    changes = [
        {
            "field": "comments",
            "value": {
                "id": comment_id,
                "text": text,
                "from": {"id": f"u-{username}", "username": username},
                "media": {"id": MEDIA_ID, "media_product_type": "FEED"},
            },
        }
        for comment_id, username, text in COMMENTS
    ]
    raw = json.dumps(
        {"object": "instagram", "entry": [{"id": "17841400000000000", "time": 1764230400, "changes": changes}]},
        ensure_ascii=False,
    ).encode()
    signature = "sha256=" + hmac.new(INSTAGRAM_APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"{base}/webhooks/instagram",
        data=raw,
        method="POST",
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback
        assert json.loads(response.read())["queued"] == len(COMMENTS)


def wait_until_judged(base: str, post_id: int, count: int) -> None:
    deadline = time.monotonic() + 120  # against hanging, not a speed requirement
    while True:
        comments = ok(call(base, "GET", f"/instagram-posts/{post_id}/comments"))["comments"]
        if (len(comments) == count and all(c["verdict"] for c in comments)) or time.monotonic() > deadline:
            assert [c["verdict"] is not None for c in comments] == [True] * count, comments
            return
        time.sleep(0.2)


def seed(base: str) -> Seeded:
    kept = ok(
        call(base, "POST", "/training-files?upload=false", jsonl=(EXAMPLES / "comment-examples.jsonl").read_bytes())
    )
    judges = {
        "prompted-4.1-mini": ok(
            call(
                base,
                "POST",
                "/judges",
                {
                    "name": "prompted-4.1-mini",
                    "style": "prompted",
                    "model": "gpt-4.1-mini",
                    "examples_file_id": kept["id"],
                    "prices": {"input": 0.40, "cached_input": 0.10, "output": 1.60},
                },
            )
        ),
        "fine-tuned-4o-mini": ok(
            call(
                base,
                "POST",
                "/judges",
                {
                    "name": "fine-tuned-4o-mini",
                    "style": "fine_tuned",
                    "model": FINE_TUNED,
                    "prices": {"input": 0.30, "cached_input": 0.15, "output": 1.20},
                },
            )
        ),
    }
    ok(call(base, "POST", "/golden-sets", jsonl=(EXAMPLES / "golden-set.jsonl").read_bytes()))
    for judge in judges.values():
        queued = ok(call(base, "POST", "/evaluations", {"judge_id": judge["id"]}), 202)
        assert wait_for_evaluation(base, queued["id"])["status"] == "succeeded"
    ok(call(base, "POST", f"/judges/{judges['fine-tuned-4o-mini']['id']}/activate"))
    store = ok(call(base, "POST", "/stores", {"name": "데일리룩 스토어", "naver_store_id": "daily-look"}))
    post = ok(
        call(base, "POST", "/instagram-posts", {"instagram_media_id": MEDIA_ID, "caption": "봄 신상 린넨 셔츠 🌿"})
    )
    deliver_comments(base)
    wait_until_judged(base, post["id"], len(COMMENTS))
    return Seeded(store=store, post=post, judges=judges, comment_texts=tuple(text for _, _, text in COMMENTS))
