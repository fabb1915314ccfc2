"""Retraining a classifier pays only for texts never embedded on its endpoint and embedding model: the
vectors a training paid for are stored at once, beside the request's transaction, so a second training
reuses them, and a training that fails after paying leaves no judge but keeps what it paid."""

from __future__ import annotations

import json
import struct
import time

import sqlalchemy as sa

from infra.openai_standin import embedding_vector, o200k_tokens
from tests.judges.conftest import keep_examples
from tests.judges.test_classifier_judges import EMBEDDINGS, LABELLED, answered_by, embedding_calls, judge_rows, train
from tests.support.settings import use_settings

NEW_EXAMPLES = [
    ("배송이 하루 만에 왔어요. 포장도 꼼꼼해서 선물용으로 딱이에요.", "good"),
    ("사이즈가 표기보다 한 치수 작아요. 교환 신청했는데 답이 없네요.", "bad"),
]


def fitted(db, judge_id: int) -> tuple:
    with db.connect() as connection:
        row = connection.execute(
            sa.text(
                "SELECT weights, bias, regularisation_c, embedding_tokens, reused_embeddings "
                "FROM judge_classifiers WHERE judge_id = :id"
            ),
            {"id": judge_id},
        ).one()
    return tuple(row)


def stored(db) -> dict[tuple[str, str, str], tuple[int, bytes]]:
    with db.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT endpoint, model, text_sha256, dimensions, vector FROM stored_embeddings")
        ).all()
    return {(row.endpoint, row.model, row.text_sha256): (row.dimensions, bytes(row.vector)) for row in rows}


def test_a_second_classifier_on_the_same_examples_embeds_nothing_and_learns_exactly_the_same_weights(
    judges_handler, upload_handler, openai, openai_standin, db
):
    labelled = keep_examples(upload_handler, LABELLED)
    first = train(judges_handler, "first", labelled)
    paid = len(embedding_calls(openai_standin))

    second = train(judges_handler, "second", labelled)

    assert first.status == second.status == 201, (first.json, second.json)
    assert paid == 1 and embedding_calls(openai_standin)[paid:] == []
    assert fitted(db, first.json["id"])[:3] == fitted(db, second.json["id"])[:3]
    assert fitted(db, second.json["id"])[3:] == (0, len(LABELLED))
    assert second.json["training"]["embeddings"] == {"reused": len(LABELLED), "embedded": 0}
    assert second.json["training"]["embedding_tokens"] == 0
    assert first.json["training"]["embedding_tokens"] == sum(o200k_tokens(text) for text, _ in LABELLED)
    # The rest of the answer is the same judge's
    same = {key: value for key, value in first.json["training"].items() if key not in ("embeddings", "training_ms")}
    assert {key: second.json["training"][key] for key in same} == {**same, "embedding_tokens": 0}


def test_more_examples_send_exactly_the_new_texts_in_one_call(
    judges_handler, upload_handler, openai, openai_standin, db
):
    labelled = keep_examples(upload_handler, LABELLED)
    assert train(judges_handler, "first", labelled).status == 201
    more = keep_examples(upload_handler, NEW_EXAMPLES + LABELLED[:10])
    paid = len(embedding_calls(openai_standin))

    retrained = train(judges_handler, "with reviews", [labelled, more])

    assert retrained.status == 201, retrained.json
    calls = embedding_calls(openai_standin)[paid:]
    assert [sorted(call["input"]) for call in calls] == [sorted(text for text, _ in NEW_EXAMPLES)]
    assert retrained.json["training"]["examples"] == len(LABELLED) + len(NEW_EXAMPLES)
    assert retrained.json["training"]["embeddings"] == {"reused": len(LABELLED), "embedded": len(NEW_EXAMPLES)}
    assert retrained.json["training"]["embedding_tokens"] == sum(o200k_tokens(text) for text, _ in NEW_EXAMPLES)


def test_another_embedding_model_or_another_endpoint_embeds_everything_again(
    judges_handler, upload_handler, openai, openai_standin, monkeypatch, db
):
    # Another endpoint name for the same server: what one endpoint answered is not assumed of another
    endpoints = {"mirror": {"base_url": openai_standin.base_url, "api_key_env": "MIRROR_KEY"}}
    use_settings(monkeypatch, JUDGE_ENDPOINTS=json.dumps(endpoints), MIRROR_KEY="sk-mirror")
    labelled = keep_examples(upload_handler, LABELLED)
    assert train(judges_handler, "small", labelled).status == 201

    large = train(judges_handler, "large", labelled, model="text-embedding-3-large")
    mirrored = train(judges_handler, "mirrored", labelled, endpoint="mirror")

    assert large.status == mirrored.status == 201, (large.json, mirrored.json)
    calls = embedding_calls(openai_standin)
    assert [(call["model"], sorted(call["input"])) for call in calls] == [
        ("text-embedding-3-small", sorted(text for text, _ in LABELLED)),
        ("text-embedding-3-large", sorted(text for text, _ in LABELLED)),
        ("text-embedding-3-small", sorted(text for text, _ in LABELLED)),
    ]
    assert (
        large.json["training"]["embeddings"]
        == mirrored.json["training"]["embeddings"]
        == {
            "reused": 0,
            "embedded": len(LABELLED),
        }
    )
    keys = stored(db)
    assert sorted({(endpoint, model) for endpoint, model, _ in keys}) == [
        ("mirror", "text-embedding-3-small"),
        ("openai", "text-embedding-3-large"),
        ("openai", "text-embedding-3-small"),
    ]
    assert len(keys) == 3 * len(LABELLED)


def test_a_training_whose_database_fails_after_its_embeddings_call_leaves_no_judge_but_keeps_the_vectors(
    judges_handler, upload_handler, openai, openai_standin, master_engine, db
):
    # Given a failover of the database while the endpoint embeds the examples: the request's own
    # connection (the one holding the judge name's lock) is gone when the call returns
    labelled = keep_examples(upload_handler, LABELLED)
    terminated = []

    def database_fails_during_the_call(request, match):
        if not terminated:
            with master_engine.begin() as connection:
                pid = connection.scalar(
                    sa.text(
                        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = :namespace AND granted"
                    ),
                    {"namespace": 0x6A6E},
                )
                assert pid is not None
                terminated.append(connection.scalar(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}))
            for _ in range(500):  # until the server has let the connection go
                with master_engine.connect() as connection:
                    if not connection.scalar(
                        sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
                    ):
                        break
                time.sleep(0.01)
        return answered_by(openai, request)

    openai_standin.on("POST", EMBEDDINGS, database_fails_during_the_call)

    # When the judge is asked for, and then asked for again
    failed = train(judges_handler, "own-judge", labelled)

    # Then the first request stored no judge, and the vectors it paid for stay
    assert terminated == [True]
    assert failed.status == 503 and failed.json["error"]["code"] == "database_unavailable", failed.json
    assert judge_rows(db) == 0
    assert len(stored(db)) == len(LABELLED)
    paid = len(embedding_calls(openai_standin))
    assert paid == 1

    # And the retry makes the judge without another embeddings call
    retried = train(judges_handler, "own-judge", labelled)

    assert retried.status == 201, retried.json
    assert len(embedding_calls(openai_standin)) == paid
    assert retried.json["training"]["embeddings"] == {"reused": len(LABELLED), "embedded": 0}


def test_vectors_another_training_stored_meanwhile_are_no_conflict(
    judges_handler, upload_handler, openai, openai_standin, db
):
    # Given another training that stores the vector of one of the same texts while this one is paid for
    labelled = keep_examples(upload_handler, LABELLED)
    text = LABELLED[0][0]
    theirs = struct.pack("<1536f", *([0.5] + [0.0] * 1535))

    def another_training_stores_one_meanwhile(request, match):
        with db.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO stored_embeddings (endpoint, model, text_sha256, dimensions, vector) "
                    "VALUES ('openai', 'text-embedding-3-small', encode(sha256(convert_to(:text, 'UTF8')), 'hex'), "
                    "1536, :vector)"
                ),
                {"text": text, "vector": theirs},
            )
        return answered_by(openai, request)

    openai_standin.on("POST", EMBEDDINGS, another_training_stores_one_meanwhile)

    trained = train(judges_handler, "own-judge", labelled)

    # Then this training is made, and every vector is stored once (the first one stored stays)
    assert trained.status == 201, trained.json
    kept = stored(db)
    assert len(kept) == len(LABELLED)
    assert [vector for dimensions, vector in kept.values() if vector == theirs] == [theirs]


def test_stored_vectors_are_the_bits_the_endpoint_answered(judges_handler, upload_handler, openai, openai_standin, db):
    from shop_marketing.hashing import text_sha256
    from shop_marketing.judging.embedding_store import to_bytes
    from shop_marketing.judging.embeddings import from_bytes

    labelled = keep_examples(upload_handler, LABELLED)
    assert train(judges_handler, "own-judge", labelled).status == 201

    kept = stored(db)
    for text, _ in LABELLED:
        dimensions, vector = kept[("openai", "text-embedding-3-small", text_sha256(text))]
        answered = struct.pack("<1536f", *embedding_vector(text, "text-embedding-3-small", 1536))
        assert (dimensions, vector) == (1536, answered)
        assert to_bytes(from_bytes(vector)) == vector
        assert list(from_bytes(vector)) == list(struct.unpack("<1536f", answered))


def test_stored_vectors_of_another_size_than_the_endpoint_now_answers_are_a_502_and_no_judge(
    judges_handler, upload_handler, openai, openai_standin, db
):
    # Given a vector stored when the endpoint's model answered 3 dimensions (a self-hosted model swapped)
    labelled = keep_examples(upload_handler, LABELLED)
    with db.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO stored_embeddings (endpoint, model, text_sha256, dimensions, vector) "
                "VALUES ('openai', 'text-embedding-3-small', encode(sha256(convert_to(:text, 'UTF8')), 'hex'), 3, :v)"
            ),
            {"text": LABELLED[0][0], "v": struct.pack("<3f", 1.0, 0.0, 0.0)},
        )

    refused = train(judges_handler, "mixed", labelled)

    assert refused.status == 502 and refused.json["error"]["code"] == "bad_upstream_reply", refused.json
    assert "1536 and 3" in refused.json["error"]["message"] or "3 and 1536" in refused.json["error"]["message"]
    assert judge_rows(db) == 0


def test_vectors_that_cannot_be_stored_are_logged_and_the_judge_is_still_made(
    judges_handler, upload_handler, openai, openai_standin, master_engine, db, caplog
):
    from shop_marketing.database_roles import application_group

    # Given a database that refuses the stored vectors (the application may not add them, for once)
    labelled = keep_examples(upload_handler, LABELLED)
    with master_engine.begin() as connection:
        group = application_group(connection.scalar(sa.text("SELECT current_database()")))
        connection.execute(sa.text(f'REVOKE INSERT ON stored_embeddings FROM "{group}"'))
    try:
        trained = train(judges_handler, "own-judge", labelled)
    finally:
        with master_engine.begin() as connection:
            connection.execute(sa.text(f'GRANT INSERT ON stored_embeddings TO "{group}"'))

    # Then the judge is made from the vectors paid for, and the operator is told they were not kept
    assert trained.status == 201, trained.json
    assert trained.json["training"]["embeddings"] == {"reused": 0, "embedded": len(LABELLED)}
    assert stored(db) == {}
    logged = [record for record in caplog.records if record.getMessage() == "paid embeddings not stored"]
    assert [(record.texts, record.error) for record in logged] == [(len(LABELLED), "ProgrammingError")]
