"""The stand-in's /v1/embeddings, through the real SDK: OpenAI's shapes, limits and refusals."""

from __future__ import annotations

import array
import base64

import openai
import pytest
from openai import OpenAI

from infra.openai_standin import BehavingOpenAI, embedding_vector, start_in_background
from shop_marketing.tokens import count_tokens


@pytest.fixture
def client():
    server, base_url = start_in_background(BehavingOpenAI(known_models_only=True))
    yield OpenAI(api_key="sk-test", base_url=base_url, max_retries=0)
    server.shutdown()
    server.server_close()


def test_floats_and_base64_carry_the_same_vector_and_usage_counts_the_texts_tokens(client):
    texts = ["니트 보풀 없어요", "배송 언제 와요?"]

    floats = client.embeddings.create(model="text-embedding-3-small", input=texts, encoding_format="float")
    packed = client.embeddings.create(model="text-embedding-3-small", input=texts, encoding_format="base64")

    assert [item.index for item in floats.data] == [0, 1] and len(floats.data[0].embedding) == 1536
    decoded = array.array("f", base64.b64decode(packed.data[1].embedding))
    assert list(decoded) == pytest.approx(floats.data[1].embedding, abs=1e-6)
    assert floats.data[0].embedding == pytest.approx(
        embedding_vector(texts[0], "text-embedding-3-small", 1536), abs=1e-9
    )
    assert floats.usage.prompt_tokens == floats.usage.total_tokens == sum(count_tokens(text) for text in texts)


def test_dimensions_shorten_a_v3_models_vectors(client):
    shortened = client.embeddings.create(
        model="text-embedding-3-large", input="니트", dimensions=256, encoding_format="float"
    )

    assert len(shortened.data[0].embedding) == 256


@pytest.mark.parametrize(
    ("model", "texts", "status"),
    [
        ("text-embedding-3-small", [f"t{n}" for n in range(2049)], 400),
        ("text-embedding-3-small", ["fine", ""], 400),
        ("text-embedding-9-tiny", ["니트"], 404),
        ("gpt-4o-mini", ["니트"], 404),
    ],
    ids=["more than 2048 inputs", "an empty string", "an unknown model", "a chat model"],
)
def test_what_openai_refuses_the_standin_refuses(client, model, texts, status):
    with pytest.raises(openai.APIStatusError) as refused:
        client.embeddings.create(model=model, input=texts, encoding_format="float")

    assert refused.value.status_code == status
    if status == 404:
        assert refused.value.body["code"] == "model_not_found"


def test_a_request_over_its_token_limit_is_refused_as_openai_refuses_it_and_not_served():
    # Given a stand-in whose limit is lowered below the tokens of the two texts together, not of either
    behaviour = BehavingOpenAI(known_models_only=True, max_request_tokens=20)
    server, base_url = start_in_background(behaviour)
    client = OpenAI(api_key="sk-test", base_url=base_url, max_retries=0)
    texts = ["니트 세 번 빨았는데 보풀 하나 없어요.", "배송이 하루 만에 왔어요. 포장도 꼼꼼해요."]
    requested = sum(count_tokens(text) for text in texts)
    assert max(map(count_tokens, texts)) <= 20 < requested
    try:
        with pytest.raises(openai.BadRequestError) as refused:
            client.embeddings.create(model="text-embedding-3-small", input=texts, encoding_format="float")
        served = client.embeddings.create(model="text-embedding-3-small", input=texts[:1], encoding_format="float")
    finally:
        server.shutdown()
        server.server_close()

    # Then the request is refused with OpenAI's own body, and only the one within the limit is served
    assert refused.value.status_code == 400
    assert refused.value.response.json() == {
        "error": {
            "message": f"Requested {requested} tokens, max 20 tokens per request",
            "type": "max_tokens_per_request",
            "param": None,
            "code": "max_tokens_per_request",
        }
    }
    assert served.usage.prompt_tokens == count_tokens(texts[0])
    assert [request["input"] for request in behaviour.embedding_requests] == [texts[:1]]


def test_the_default_limit_is_openais_300000_tokens():
    assert BehavingOpenAI().max_request_tokens == 300_000
