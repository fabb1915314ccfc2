"""Reviews: people see what the judge decided and have the last word (docs/instagram-and-banners.md "Reviews").

- ``GET /instagram-posts/{post_id}/comments``: a post's comments with verdicts, confidence, judge and review.
- ``GET /comments/review-queue``: the newest comments across posts, unreviewed first (the review console opens on it).
- ``PUT``/``DELETE /comments/{comment_id}/review``: set or clear a review; the reviewer is the token's subject.
- ``GET /reviews/agreement``: each judge against the reviewers' labels.
- ``GET /reviews/export``: reviewed comments as labelled JSONL in the training format.

Only the database is needed: no model is called here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from shop_marketing.config import load_or_exit
from shop_marketing.db import session_scope
from shop_marketing.http import Id, create_http_app, errors, json_response, success
from shop_marketing.judging import reviews
from shop_marketing.models import MAX_ID
from shop_marketing.observability import CORRELATION_ID_PATH, logger, metrics, tracer

load_or_exit(("database_url", "db_secret_arn"))
app = create_http_app()

Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(min_length=1, max_length=200)]
VerdictFilter = Annotated[reviews.Label | None, Query(description="Only comments the judge judged so")]
ReviewedFilter = Annotated[bool | None, Query(description="Only reviewed (true) or unreviewed (false) comments")]
JudgeFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Since = Annotated[
    datetime | None, Query(description="Only reviews set at or after this moment (ISO 8601; UTC if no offset)")
]

JSONL: dict[int, OpenAPIResponse] = {
    200: {
        "description": "Reviewed comments, one training example per line, labelled by the reviewers",
        "content": {"application/jsonl": {"schema": {"type": "string"}}},
    }
}


class ReviewOut(BaseModel):
    label: reviews.Label
    note: str | None
    reviewer: str
    at: str


class CommentOut(BaseModel):
    """A comment with the judge's verdict and a person's review; ``label`` is the review's, else the verdict."""

    id: int
    instagram_comment_id: str | None
    text: str
    username: str | None
    verdict: reviews.Label | None
    confidence: float | None
    judge: str | None
    review: ReviewOut | None
    label: reviews.Label | None


class QueuedCommentOut(CommentOut):
    post_id: int


class ReviewedCommentOut(CommentOut):
    post_id: int | None


class CommentsOut(BaseModel):
    comments: list[CommentOut]
    next_cursor: str | None


class ReviewQueueOut(BaseModel):
    comments: list[QueuedCommentOut]
    next_cursor: str | None


class Confusion(BaseModel):
    tp: int
    fp: int
    fn: int
    tn: int


class JudgeAgreementOut(BaseModel):
    judge_id: int
    name: str
    reviewed: int
    confusion: Confusion
    precision_good: float | None
    recall_good: float | None
    f1_good: float | None


class AgreementOut(BaseModel):
    judges: list[JudgeAgreementOut]


def _reviewer() -> str:
    """The token's subject (API Gateway's JWT authorizer passes its claims), else ``local``."""
    context = app.current_event.raw_event.get("requestContext") or {}
    claims = ((context.get("authorizer") or {}).get("jwt") or {}).get("claims") or {}
    return reviews.reviewer_of(claims.get("sub"))


def _page(page: reviews.Page) -> dict[str, Any]:
    return {"comments": page.comments, "next_cursor": page.next_cursor}


@app.get("/instagram-posts/<post_id>/comments", responses=success(CommentsOut))
def post_comments(
    post_id: Id,
    verdict: VerdictFilter = None,
    reviewed: ReviewedFilter = None,
    limit: Limit = 50,
    cursor: Cursor = None,
):
    with session_scope() as session:
        page = reviews.post_comments(session, post_id, verdict=verdict, reviewed=reviewed, limit=limit, cursor=cursor)
    return json_response(200, _page(page))


@app.get("/comments/review-queue", responses=success(ReviewQueueOut))
def review_queue(
    verdict: VerdictFilter = None, reviewed: ReviewedFilter = None, limit: Limit = 50, cursor: Cursor = None
):
    with session_scope() as session:
        page = reviews.review_queue(session, verdict=verdict, reviewed=reviewed, limit=limit, cursor=cursor)
    return json_response(200, _page(page))


@app.put("/comments/<comment_id>/review", responses=success(ReviewedCommentOut))
def set_review(comment_id: Id, request: reviews.ReviewRequest):
    with session_scope() as session:
        comment = reviews.set_review(session, comment_id, request, _reviewer())
    return json_response(200, comment)


@app.delete("/comments/<comment_id>/review", responses=success(None, 204))
def clear_review(comment_id: Id):
    with session_scope() as session:
        reviews.clear_review(session, comment_id)
    return json_response(204)


@app.get("/reviews/agreement", responses=success(AgreementOut) | errors(404))
def agreement(judge_id: JudgeFilter = None):
    with session_scope() as session:
        judges = reviews.agreement(session, judge_id)
    return json_response(200, {"judges": judges})


@app.get("/reviews/export", responses=JSONL)
def export(since: Since = None):
    with session_scope() as session:
        body = reviews.export_reviews(session, since)
    return Response(status_code=200, content_type="application/jsonl", body=body.decode("utf-8"))


@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
