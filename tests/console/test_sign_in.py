"""Signing in as in AWS: the console on a local run that enforces the template's JWT scopes
(LOCAL_AUTH=enforce) and signs people in through a stand-in of the user pool's hosted page
(authorization code with PKCE). No token → the hosted page; back with a code → a token for the API;
the review is recorded under the token's subject; a token the API refuses (401) → signed in again."""

from __future__ import annotations

import pytest

from infra.local_auth import LocalAuth
from tests.console.conftest import CHROMIUM, VIEWPORTS, Console, empty_tables, running_local_api
from tests.console.seed import FINE_TUNED, call, ok
from tests.support.hosted_sign_in import HostedSignIn

SECRET = "console-sign-in-test-secret-0123456789"
CLIENT_ID = "people-local"


@pytest.fixture(scope="module")
def signing_in(database_url, master_database_url, tmp_path_factory):
    auth = LocalAuth(secret=SECRET)
    hosted = HostedSignIn(
        client_id=CLIENT_ID, callback_urls=[], mint=lambda scopes, subject: auth.token(scopes, subject=subject)
    ).start()
    empty_tables(master_database_url)
    settings = {
        "LOCAL_AUTH": "enforce",
        "LOCAL_AUTH_SECRET": SECRET,
        "CONSOLE_SIGN_IN_URL": hosted.base_url,
        "CONSOLE_CLIENT_ID": CLIENT_ID,
        "JUDGE_MODEL": FINE_TUNED,
    }
    try:
        with running_local_api(database_url, tmp_path_factory.mktemp("banner-images"), **settings) as base:
            hosted.callback_urls.append(f"{base}/console/")
            machine = auth.token(["shop/catalog.write", "shop/judge"], subject="machine")
            post = ok(call(base, "POST", "/instagram-posts", {"instagram_media_id": "signed-in-1"}, token=machine))
            ok(
                call(
                    base,
                    "POST",
                    "/comments/judge",
                    {
                        "comment": "원피스 핏이 정말 예뻐요. 여름 내내 입을 것 같아요!",
                        "instagram_comment_id": "s-1",
                        "post_id": post["id"],
                    },
                    token=machine,
                )
            )
            yield base, hosted, auth, post
    finally:
        hosted.stop()
        empty_tables(master_database_url)


@pytest.fixture
def console(browser, signing_in):
    base = signing_in[0]
    context = browser.new_context(viewport=VIEWPORTS["laptop"])
    console = Console(context.new_page(), base, "laptop")
    console.allowed_errors.append("status of 401")  # the browser logs the refusal that sends the person to sign in
    try:
        yield console
    finally:
        context.close()
    assert [error for error in console.errors if "status of 401" not in error] == []


def test_without_a_token_the_console_sends_people_to_the_hosted_page_and_back(console, signing_in):
    assert CHROMIUM.exists()
    base, hosted, auth, post = signing_in
    visits = len(hosted.authorize_requests)

    console.open("#/queue")

    assert len(hosted.authorize_requests) == visits + 1  # one trip, though two calls needed the token
    asked = hosted.authorize_requests[-1]
    assert (asked["response_type"], asked["client_id"], asked["redirect_uri"], asked["code_challenge_method"]) == (
        "code",
        CLIENT_ID,
        f"{base}/console/",
        "S256",
    )
    assert {"openid", "shop/review", "shop/catalog.read"} <= set(asked["scope"].split())
    exchange = hosted.token_requests[-1]
    assert exchange["grant_type"] == "authorization_code" and len(exchange["code_verifier"]) >= 43
    # Back on the page it was opened at, the code gone from the address, the queue loaded with the token
    assert console.page.url == f"{base}/console/#/queue"
    assert console.page.locator(".comments > li").count() == 1
    assert console.errors == []  # no 401 was needed: the page had no token and went to sign in first


def test_the_review_is_recorded_under_the_signed_in_person(console, signing_in):
    base, hosted, auth, post = signing_in
    console.open("#/queue")
    row = console.page.locator(".comments > li").first
    comment_id = int(row.get_attribute("data-comment-id"))

    console.page.keyboard.press("b")
    console.page.locator(f'[data-comment-id="{comment_id}"] button.bad[aria-pressed="true"]').wait_for()

    reviewer = auth.token(["shop/review"], subject="auditor")
    comments = ok(call(base, "GET", f"/instagram-posts/{post['id']}/comments", token=reviewer))["comments"]
    assert [(c["id"], c["review"]["label"], c["review"]["reviewer"]) for c in comments] == [
        (comment_id, "bad", hosted.subject)
    ]


def test_a_token_the_api_refuses_sends_the_person_to_sign_in_again(console, signing_in):
    base, hosted, auth, post = signing_in
    console.open("#/queue")
    visits = len(hosted.authorize_requests)
    forged = LocalAuth(secret="another-secret-entirely-0123456789abcdef").token(["shop/review"])
    console.page.evaluate(
        "token => sessionStorage.setItem("
        "'console.token', JSON.stringify({access_token: token, expires_at: Date.now() + 3600000}))",
        forged,
    )

    console.open("#/posts")
    console.page.wait_for_url(f"{base}/console/#/posts")
    console.wait_until_ready()

    assert any("status of 401" in error for error in console.errors)  # the API refused the forged token
    assert len(hosted.authorize_requests) == visits + 1
    assert console.page.locator(".posts li").count() == 1  # signed in again, the posts loaded
    token = console.page.evaluate("JSON.parse(sessionStorage.getItem('console.token')).access_token")
    assert token != forged
