"""Embeddings requests within OpenAI's 300,000 tokens per request: the product packs each call by
count and by an estimate of its tokens, and a call the endpoint still refuses for its tokens
(400 ``max_tokens_per_request``, not billed) is split in two and sent again, half by half — each text
paid for once, every paid call's vectors kept, the answer in the texts' order."""

from __future__ import annotations

import random

import pytest
import sqlalchemy as sa
from openai import OpenAI

from infra.openai_standin import BehavingOpenAI, OpenAIStandIn, embedding_vector, o200k_tokens
from tests.judges.conftest import BAD, GOOD, keep_examples
from tests.judges.test_classifier_judges import EMBEDDINGS, LABELLED, judge_rows, train

MODEL = "text-embedding-3-small"


def long_reviews(count: int, sentences: int, seed: int = 11) -> list[str]:
    """Distinct long reviews (Korean mostly), each ``sentences`` of the shop's good comments."""
    chance = random.Random(seed)
    reviews: list[str] = []
    while len(reviews) < count:
        review = " ".join(chance.sample(GOOD, sentences))
        if review not in reviews:
            reviews.append(review)
    return reviews


def with_long_reviews(count: int = 6) -> list[tuple[str, str]]:
    return LABELLED + [(text, "good") for text in long_reviews(count, 12)]


def paid_calls(behaviour: BehavingOpenAI) -> list[list[str]]:
    """The inputs of the embeddings calls the stand-in served (a refused call is not among them)."""
    return [list(request["input"]) for request in behaviour.embedding_requests]


def sent(openai_standin) -> list[list[str]]:
    return [request.json()["input"] for request in openai_standin.requests_to("POST", EMBEDDINGS)]


def stored_count(db) -> int:
    with db.connect() as connection:
        return connection.execute(sa.text("SELECT count(*) FROM stored_embeddings")).scalar()


def tokens_of(texts) -> int:
    return sum(o200k_tokens(text) for text in texts)


def test_examples_over_the_budget_are_sent_in_calls_each_within_it_each_text_once(
    judges_handler, upload_handler, openai, openai_standin, db, monkeypatch
):
    from shop_marketing.judging import embeddings

    # Given examples whose tokens add up to several times the product's budget (lowered, as the
    # stand-in's limit is, so the data stays small)
    examples = with_long_reviews()
    texts = [text for text, _ in examples]
    monkeypatch.setattr(embeddings, "TOKEN_BUDGET", 500)
    openai.max_request_tokens = 750
    assert tokens_of(texts) > 3 * 750 and max(map(o200k_tokens, texts)) <= 500

    # When a classifier is trained on them
    trained = train(judges_handler, "long-reviews", keep_examples(upload_handler, examples))

    # Then every call was within the budget and served, and each text was sent once
    assert trained.status == 201, trained.json
    calls = paid_calls(openai)
    assert sent(openai_standin) == calls and len(calls) >= 5
    assert all(tokens_of(call) <= 500 for call in calls)
    assert sorted(text for call in calls for text in call) == sorted(texts)
    assert trained.json["training"]["embedding_tokens"] == tokens_of(texts)
    assert trained.json["training"]["embeddings"] == {"reused": 0, "embedded": len(texts)}
    assert stored_count(db) == len(texts)


def test_a_call_the_endpoint_refuses_for_its_tokens_is_split_until_served_and_only_the_served_calls_are_paid(
    judges_handler, upload_handler, openai, openai_standin, db
):
    # Given an endpoint whose limit is below the product's estimate budget (another tokenizer, say)
    examples = with_long_reviews()
    texts = [text for text, _ in examples]
    openai.max_request_tokens = 800
    assert tokens_of(texts) > 3 * 800

    # When a classifier is trained on them
    trained = train(judges_handler, "long-reviews", keep_examples(upload_handler, examples))

    # Then the refused calls were split (twice over) until served; the refused ones were not paid
    assert trained.status == 201, trained.json
    calls, requests = paid_calls(openai), sent(openai_standin)
    assert requests[0] == texts and calls[0] != texts
    refused = [request for request in requests if request not in calls]
    assert len(refused) >= 3 and all(tokens_of(request) > 800 for request in refused)
    assert all(tokens_of(call) <= 800 for call in calls)
    # Each text paid for once, in the order of the examples; the tokens recorded are the paid calls'
    assert [text for call in calls for text in call] == texts
    assert trained.json["training"]["embedding_tokens"] == sum(tokens_of(call) for call in calls) == tokens_of(texts)
    assert stored_count(db) == len(texts)


def test_a_single_text_over_the_endpoints_limit_is_a_clear_422_no_judge_and_the_paid_vectors_kept(
    judges_handler, upload_handler, openai, openai_standin, db
):
    # Given an endpoint that takes fewer tokens per request than one of the long reviews holds
    examples = with_long_reviews(2)
    texts = [text for text, _ in examples]
    longest = max(texts, key=o200k_tokens)
    openai.max_request_tokens = o200k_tokens(longest) - 1

    refused = train(judges_handler, "long-reviews", keep_examples(upload_handler, examples))

    # Then the answer names the limit, no judge is made, and the text was sent alone once, not again
    assert refused.status == 422 and refused.json["error"]["code"] == "openai_rejected", refused.json
    message = refused.json["error"]["message"]
    assert f"max {o200k_tokens(longest) - 1} tokens per request" in message and "one text" in message
    assert judge_rows(db) == 0
    assert sent(openai_standin).count([longest]) == 1
    paid = paid_calls(openai)
    assert longest not in [text for call in paid for text in call]
    assert stored_count(db) == sum(map(len, paid)) > 0


@pytest.fixture
def standin_at_openais_limit():
    behaviour = BehavingOpenAI(known_models_only=True)
    standin = OpenAIStandIn(behaviour).start()
    yield behaviour, standin
    standin.stop()


def test_a_full_batch_of_long_reviews_at_openais_real_limit_is_sent_in_calls_it_serves(standin_at_openais_limit):
    from shop_marketing.judging.embeddings import MAX_BATCH, embed_texts
    from shop_marketing.tokens import count_tokens

    # Given 2,048 reviews of about 180 tokens: one call of them all would be some 370,000 tokens
    behaviour, standin = standin_at_openais_limit
    texts = long_reviews(MAX_BATCH, 6, seed=3)
    assert sum(map(count_tokens, texts)) > 300_000
    client = OpenAI(api_key="sk-test", base_url=standin.base_url, max_retries=0)
    kept: list[tuple[list[str], list]] = []

    embedded = embed_texts(
        client, MODEL, texts, keep=lambda call, vectors: kept.append((list(call), list(vectors))) or len(call)
    )

    # Then no call was refused, the calls are as few as the budget allows, and the answer is exact
    calls = paid_calls(behaviour)
    assert [request.json()["input"] for request in standin.requests] == calls
    assert 2 <= len(calls) == embedded.calls <= 3
    assert all(sum(map(count_tokens, call)) <= 300_000 for call in calls)
    assert [text for call in calls for text in call] == texts
    assert embedded.tokens == sum(map(count_tokens, texts))
    assert [call for call, _ in kept] == calls
    assert [vector for _, vectors in kept for vector in vectors] == embedded.vectors
    for index in range(0, MAX_BATCH, 97):
        assert list(embedded.vectors[index]) == pytest.approx(embedding_vector(texts[index], MODEL, 1536), abs=1e-6)


def test_split_calls_answer_in_the_texts_order_and_keep_each_paid_call_at_once(standin_at_openais_limit):
    from shop_marketing.judging.embeddings import embed_texts

    # Given an endpoint that serves fewer tokens per request than the product estimates it does
    behaviour, standin = standin_at_openais_limit
    texts = long_reviews(5, 8) + BAD
    behaviour.max_request_tokens = tokens_of(texts) // 3
    client = OpenAI(api_key="sk-test", base_url=standin.base_url, max_retries=0)
    kept: list[tuple[list[str], int]] = []

    def keep(call, vectors):
        kept.append((list(call), len(behaviour.embedding_requests)))  # kept before the next call is made
        assert [list(vector) for vector in vectors] == [
            pytest.approx(embedding_vector(text, MODEL, 1536), abs=1e-6) for text in call
        ]
        return len(call)

    embedded = embed_texts(client, MODEL, texts, keep=keep)

    calls = paid_calls(behaviour)
    assert len(standin.requests) > len(calls) >= 3
    assert kept == [(call, number) for number, call in enumerate(calls, start=1)]
    assert embedded.calls == len(calls) and embedded.tokens == tokens_of(texts)
    for text, vector in zip(texts, embedded.vectors, strict=True):
        assert list(vector) == pytest.approx(embedding_vector(text, MODEL, 1536), abs=1e-6)
