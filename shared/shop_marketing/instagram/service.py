"""Instagram comments in (docs/instagram-and-banners.md "Instagram comments in"): the webhook's deliveries
and fetches from the Graph API.

Each entry point verifies or authenticates, stores the comments once and queues the new ones for
judging, and reports the comments Instagram's limits refuse (:mod:`.limits`); handlers call exactly
one function here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..config import Settings
from ..db import session_scope
from ..observability import logger
from ..secret_settings import secret_setting
from .comments import (
    IncomingComment,
    SessionFactory,
    parse_timestamp,
    post_media_id,
    queue_unjudged,
    recent_post_ids,
    store_comments,
)
from .graph import (
    GraphClient,
    GraphComment,
    InstagramGraphError,
    InstagramNotConfigured,
    InstagramRateLimited,
    InstagramTimeout,
    InstagramUnavailable,
)
from .limits import Refused, report
from .webhook import answer_handshake, delivered_comments, verify_signature


def handshake(query: Mapping[str, str], settings: Settings) -> str:
    return answer_handshake(query, secret_setting(settings, "instagram_verify_token"))


def receive_delivery(
    raw: bytes, headers: Mapping[str, str], *, settings: Settings, sessions: SessionFactory = session_scope
) -> dict[str, Any]:
    """A signed ``comments`` delivery: stored, and its new comments queued for judging."""
    verify_signature(raw, headers, secret_setting(settings, "instagram_app_secret"))
    delivered, refused = delivered_comments(raw)
    # The account a delivery is for is the shop's own, as is INSTAGRAM_ACCOUNT_ID.
    shop_accounts = {account for _, account in delivered if account} | (
        {settings.instagram_account_id} if settings.instagram_account_id else set()
    )
    comments = [comment for comment, _ in delivered]
    with sessions() as session:
        stored = store_comments(session, comments, shop_accounts)
    queued = queue_unjudged(
        sessions, settings.judge_queue_url, comment_ids=[comment.instagram_comment_id for comment in comments]
    )
    result = {"received": stored.received + len(refused), "new": stored.new, "queued": queued}
    _log_refused(refused, "delivery")
    logger.info("instagram delivery", extra={**result, "refused": len(refused)})
    return {**result, "refused": report(refused)}


def _log_refused(refused: list[Refused], where: str) -> None:
    for item in refused:
        logger.warning(
            "instagram comment refused",
            extra={"from": where, "instagram_comment_id": item.instagram_comment_id, "reason": item.reason},
        )


def graph_client(settings: Settings) -> GraphClient:
    token = secret_setting(settings, "instagram_access_token")
    if not token:
        raise InstagramNotConfigured(
            "Instagram comments cannot be fetched: "
            "INSTAGRAM_ACCESS_TOKEN (INSTAGRAM_ACCESS_TOKEN_SECRET_ARN in AWS) is not set."
        )
    return GraphClient(settings.instagram_graph_url, token, timeout=settings.instagram_timeout_seconds)


def _incoming(graph_comment: GraphComment, media_id: str) -> IncomingComment:
    return IncomingComment(
        instagram_comment_id=graph_comment.id,
        text=graph_comment.text,
        media_id=media_id,
        author_id=graph_comment.author_id,
        author_username=graph_comment.username,
        commented_at=parse_timestamp(graph_comment.timestamp),
        like_count=graph_comment.like_count,
        source="fetch",
    )


def fetch_post_comments(
    post_id: int, *, graph: GraphClient, settings: Settings, sessions: SessionFactory = session_scope
) -> dict[str, Any]:
    """Every comment of the post from the Graph API; the new ones stored and queued.

    Comments read before a failure (a rate limit on page 3, say) are stored before the error is raised:
    the next fetch need not pay for them again.
    """
    with sessions() as session:
        media_id = post_media_id(session, post_id)
    shop_accounts = {settings.instagram_account_id} if settings.instagram_account_id else set()
    read: list[IncomingComment] = []
    refused: list[Refused] = []
    failure: Exception | None = None
    try:
        for comment in graph.media_comments(media_id):
            if isinstance(comment, Refused):
                refused.append(comment)
            else:
                read.append(_incoming(comment, media_id))
    except (InstagramRateLimited, InstagramUnavailable, InstagramTimeout, InstagramGraphError) as error:
        failure = error
    with sessions() as session:
        stored = store_comments(session, read, shop_accounts)
    queued = queue_unjudged(sessions, settings.judge_queue_url, post_id=post_id)
    result = {"fetched": len(read) + len(refused), "new": stored.new, "queued": queued}
    _log_refused(refused, "fetch")
    logger.info(
        "instagram comments fetched",
        extra={"post_id": post_id, **result, "refused": len(refused), "complete": failure is None},
    )
    if failure is not None:
        raise failure
    return {**result, "refused": report(refused)}


def fetch_recent_posts(
    *, graph: GraphClient, settings: Settings, sessions: SessionFactory = session_scope
) -> dict[str, Any]:
    """The schedule's run: the recent posts' comments, until Meta says to slow down.

    A rate limit ends the run quietly (the next run continues); a post that fails otherwise is counted
    and the others are still fetched. An expired token or missing configuration raises, so the
    asynchronous invocation fails and lands where an operator sees it.
    """
    with sessions() as session:
        post_ids = recent_post_ids(
            session, days=settings.instagram_recent_post_days, limit=settings.instagram_recent_post_limit
        )
    totals: dict[str, Any] = {
        "posts": 0,
        "fetched": 0,
        "new": 0,
        "queued": 0,
        "refused": 0,
        "failed": 0,
        "rate_limited": False,
    }
    for post_id in post_ids:
        try:
            result = fetch_post_comments(post_id, graph=graph, settings=settings, sessions=sessions)
        except InstagramRateLimited:
            totals["rate_limited"] = True
            break
        except (InstagramGraphError, InstagramUnavailable, InstagramTimeout) as error:
            logger.warning("instagram post fetch failed", extra={"post_id": post_id, "code": error.code})
            totals["failed"] += 1
            continue
        totals["posts"] += 1
        for name in ("fetched", "new", "queued"):
            totals[name] += result[name]
        totals["refused"] += len(result["refused"])
    logger.info("scheduled instagram fetch", extra=totals)
    return totals
