"""docs/walkthrough.md "When fine-tuning is not available", run against `make local` with no OpenAI key: keep the
examples, create a prompted judge, add a golden set, evaluate it and the fine-tuned judge, compare
their cost per 1,000 comments, promote the prompted judge, judge with it."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from datetime import date, timedelta

import pytest

from infra.api_gateway import ROOT
from infra.openai_standin import CALENDAR_AS_OF_VARIABLE, calendar_from, local_behaviour, today_utc
from tests.support.local_run import serving
from tests.support.network import free_port

EXAMPLES = ROOT / "examples"
FINE_TUNED = "ft:gpt-4o-mini-2024-07-18:shop::judge01"
# The walkthroughs run against the stand-in's calendar as it lay on this day (the walkthrough page's day), moved
# to the day they run: gpt-4o-mini's shutdown always 39 days ahead, the fine-tuning cut-off 31.
CALENDAR_AS_OF = date(2026, 12, 6)


def small_models_shutdown(today: date) -> date:
    """gpt-4o-mini's (and its fine-tunes') shutdown date on the walkthroughs' calendar, run on ``today``."""
    models, _ = calendar_from(today, CALENDAR_AS_OF)
    shutdown = models["gpt-4o-mini-2024-07-18"].shutdown_date
    assert shutdown is not None
    return shutdown


def call(base: str, method: str, path: str, body: object = None, *, jsonl: bytes | None = None):
    data, content_type = (
        (jsonl, "application/jsonl")
        if jsonl is not None
        else (json.dumps(body).encode() if body is not None else None, "application/json")
    )
    request = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture
def local_run(db, database_url):
    """`python -m infra.local_api` on a free port, on the test database, with no OpenAI key."""
    port = free_port()
    environment = {
        k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "EVALUATION_QUEUE_URL")
    }
    environment["DATABASE_URL"] = database_url
    # OpenAI's calendar as it lay on the walkthrough page's day, moved to today: the walkthroughs never
    # depend on the day they run
    environment[CALENDAR_AS_OF_VARIABLE] = CALENDAR_AS_OF.isoformat()
    with serving([sys.executable, "-m", "infra.local_api", "--port", str(port)], ROOT, environment) as lines:
        yield f"http://127.0.0.1:{port}", lines


def wait_for(base: str, evaluation_id: int) -> dict:
    deadline = time.monotonic() + 120  # a deadline against hanging, not a speed requirement
    while True:
        status, evaluation = call(base, "GET", f"/evaluations/{evaluation_id}")
        assert status == 200
        if evaluation["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return evaluation
        time.sleep(0.2)


def test_the_readme_walk_through_without_fine_tuning(local_run):
    base, started = local_run
    assert any("no OPENAI_API_KEY" in line and "stand-in" in line for line in started)

    # Keep labelled examples without sending them to OpenAI
    status, kept = call(
        base, "POST", "/training-files?upload=false", jsonl=(EXAMPLES / "comment-examples.jsonl").read_bytes()
    )
    assert (status, kept["id"][:6], kept["uploaded"]) == (201, "local-", False)

    # A prompted judge on the current generation's small model, and the fine-tuned judge the shop had
    status, prompted = call(
        base,
        "POST",
        "/judges",
        {
            "name": "prompted-luna",
            "style": "prompted",
            "model": "gpt-6-luna",
            "examples_file_id": kept["id"],
            "prices": {"input": 0.10, "cached_input": 0.01, "output": 0.50},
        },
    )
    assert status == 201, prompted
    # its shape was found by probing: forced labels refused, structured output without reasoning accepted
    assert (prompted["output"], prompted["reasoning_effort"], prompted["confidence"], prompted["probe"]["calls"]) == (
        "structured",
        "none",
        True,
        2,
    )
    status, fine_tuned = call(
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
    assert status == 201, fine_tuned

    # A golden set, then both judges evaluated in the background
    status, golden = call(base, "POST", "/golden-sets", jsonl=(EXAMPLES / "golden-set.jsonl").read_bytes())
    assert (status, golden["examples"], golden["overlap_with_training"]) == (201, 24, 0)
    results = {}
    for judge in (prompted, fine_tuned):
        status, queued = call(base, "POST", "/evaluations", {"judge_id": judge["id"]})
        assert (status, queued["status"]) == (202, "queued")
        results[judge["name"]] = wait_for(base, queued["id"])

    for result in results.values():
        assert result["status"] == "succeeded", result
        assert (result["judged"], result["errors"]) == (24, 0)
        assert result["metrics"]["f1_good"] == 1.0
    # The prompted judge sends instructions and examples with every comment: it costs more per comment
    cost = {name: result["cost"]["usd_per_1000_comments"] for name, result in results.items()}
    print("\njudge                 F1    precision  prompt tokens/comment  cached  USD per 1,000 comments")
    for name, result in results.items():
        per_comment = result["cost"]["prompt_tokens"] / result["judged"]
        cached = result["cost"]["cached_prompt_tokens"] / max(1, result["cost"]["prompt_tokens"])
        print(
            f"{name:20}  {result['metrics']['f1_good']:.2f}  {result['metrics']['precision_good']:.2f}"
            f"       {per_comment:8.0f}               {cached:5.0%}   {cost[name]:.4f}"
        )
    assert cost["prompted-luna"] > cost["fine-tuned-4o-mini"] > 0

    # Promote the prompted judge on that evidence, and judge with it
    status, active = call(base, "POST", f"/judges/{prompted['id']}/activate")
    assert (status, active["status"]) == (200, "active")
    status, answer = call(
        base, "POST", "/comments/judge", {"comment": "바지 허리가 넉넉해서 밥 먹고도 편해요. 기장도 딱 맞아요."}
    )
    assert status == 200, answer
    assert (answer["judge"], answer["verdict"]) == ("prompted-luna", "good")
    assert answer["confidence"] is not None
    status, history = call(base, "GET", "/judges/activations")
    assert history["activations"][0]["judge"] == "prompted-luna"


def test_the_readme_walk_through_of_a_judge_outliving_its_model(local_run):
    """docs/walkthrough.md "Judges that outlive their models": the calendar, a successor, and an automatic
    succession once the stand-in's clock passes the fine-tuned judge's base model's shutdown date (2027-01-14
    on the page's day; 39 days after the day the test runs)."""
    base, started = local_run
    shutdown = small_models_shutdown(today_utc()).isoformat()
    assert any(f"the stand-in's calendar as it lay on {CALENDAR_AS_OF.isoformat()}" in line for line in started)
    [clock] = [
        line.split("the stand-in's clock: ")[1].split(" ")[0] for line in started if "the stand-in's clock: " in line
    ]
    status, kept = call(
        base, "POST", "/training-files?upload=false", jsonl=(EXAMPLES / "comment-examples.jsonl").read_bytes()
    )
    assert status == 201
    status, _ = call(base, "POST", "/golden-sets", jsonl=(EXAMPLES / "golden-set.jsonl").read_bytes())
    assert status == 201

    # 1. The calendar: the fine-tuned judge in service shows its base model's shutdown date
    status, fine_tuned = call(
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
    assert status == 201, fine_tuned
    assert fine_tuned["model_shutdown_date"] == shutdown
    assert fine_tuned["model_status"] == "retiring"  # 39 days left, within the 60 days' warning
    status, evaluation = call(base, "POST", "/evaluations", {"judge_id": fine_tuned["id"]})
    assert wait_for(base, evaluation["id"])["status"] == "succeeded"
    status, active = call(base, "POST", f"/judges/{fine_tuned['id']}/activate")
    assert (status, active["status"]) == (200, "active")
    status, refreshed = call(base, "POST", "/judges/refresh-models")
    assert status == 200 and refreshed["judges"][0]["model_shutdown_date"] == shutdown

    # 2. A successor on gpt-6-luna: same examples, probed, its evaluation started, in one call
    status, made = call(
        base,
        "POST",
        f"/judges/{fine_tuned['id']}/successor",
        {
            "model": "gpt-6-luna",
            "name": "luna",
            "examples_file_id": kept["id"],
            "prices": {"input": 0.10, "cached_input": 0.01, "output": 0.50},
        },
    )
    assert status == 201, made
    assert (made["judge"]["output"], made["judge"]["reasoning_effort"], made["judge"]["model_status"]) == (
        "structured",
        "none",
        "available",
    )
    assert made["judge"]["predecessor_id"] == fine_tuned["id"] and made["evaluation"]["status"] == "queued"
    result = wait_for(base, made["evaluation"]["id"])
    assert (result["status"], result["metrics"]["f1_good"], result["metrics"]["precision_good"]) == (
        "succeeded",
        1.0,
        1.0,
    )

    # 3. The stand-in's clock past the shutdown date: the next comment finds the model gone, and the successor answers
    past = (date.fromisoformat(shutdown) + timedelta(days=1)).isoformat()
    request = urllib.request.Request(
        clock, data=json.dumps({"today": past}).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
        assert json.loads(response.read()) == {"today": past}
    status, answer = call(
        base, "POST", "/comments/judge", {"comment": "바지 허리가 넉넉해서 밥 먹고도 편해요. 기장도 딱 맞아요."}
    )
    assert status == 200, answer
    assert (answer["judge"], answer["model"], answer["verdict"]) == ("luna", "gpt-6-luna", "good")
    status, history = call(base, "GET", "/judges/activations")
    assert (history["activations"][0]["judge"], history["activations"][0]["automatic"]) == ("luna", True)
    status, old = call(base, "GET", f"/judges/{fine_tuned['id']}")
    assert (old["status"], old["model_status"]) == ("retired", "shut_down")
    # and a new judge on the shut-down model is refused
    status, refused = call(
        base,
        "POST",
        "/judges",
        {"name": "too-late", "style": "prompted", "model": "gpt-4.1-mini", "examples_file_id": kept["id"]},
    )
    assert (status, refused["error"]["code"]) == (422, "model_unavailable")


def test_the_readme_walk_through_of_the_judge_the_shop_owns(local_run):
    """docs/walkthrough.md "The judge the shop owns": a classifier trained on the kept examples, compared with a
    prompted judge on the golden set, promoted, judging; then retrained on more labelled comments."""
    base, _ = local_run
    files = []
    for name in ("comment-examples.jsonl", "more-comment-examples.jsonl"):
        status, kept = call(base, "POST", "/training-files?upload=false", jsonl=(EXAMPLES / name).read_bytes())
        assert status == 201, kept
        files.append(kept["id"])

    # The shop's own judge, trained in the request on its 14 labelled comments
    status, own = call(
        base,
        "POST",
        "/judges",
        {
            "name": "own-3-small",
            "style": "classifier",
            "embedding_model": "text-embedding-3-small",
            "examples_file_id": files[0],
            "prices": {"input": 0.02},
        },
    )
    assert status == 201, own
    assert (own["style"], own["output"], own["training"]["examples"], own["training"]["labels"]) == (
        "classifier",
        "probability",
        14,
        {"good": 7, "bad": 7},
    )
    status, prompted = call(
        base,
        "POST",
        "/judges",
        {
            "name": "prompted-luna",
            "style": "prompted",
            "model": "gpt-6-luna",
            "examples_file_id": files[0],
            "prices": {"input": 0.10, "cached_input": 0.01, "output": 0.50},
        },
    )
    assert status == 201, prompted

    # Both measured on the golden set
    status, _ = call(base, "POST", "/golden-sets", jsonl=(EXAMPLES / "golden-set.jsonl").read_bytes())
    assert status == 201
    results = {}
    for judge in (prompted, own):
        status, queued = call(base, "POST", "/evaluations", {"judge_id": judge["id"]})
        assert status == 202
        results[judge["name"]] = wait_for(base, queued["id"])

    print("\njudge                 F1    precision  prompt tokens/comment  USD per 1,000 comments")
    for name, result in results.items():
        assert result["status"] == "succeeded" and (result["judged"], result["errors"]) == (24, 0), result
        prompt_tokens = result["cost"]["prompt_tokens"] / result["judged"]
        print(
            f"{name:20}  {result['metrics']['f1_good']:.2f}  {result['metrics']['precision_good']:.2f}"
            f"       {prompt_tokens:8.0f}               {result['cost']['usd_per_1000_comments']:.4f}"
        )
    mine = results["own-3-small"]
    assert mine["metrics"]["f1_good"] >= 0.95 and mine["metrics"]["precision_good"] >= 0.9
    assert mine["cost"]["usd_per_1000_comments"] <= results["prompted-luna"]["cost"]["usd_per_1000_comments"] / 100

    # Promoted on that evidence, it judges with one embeddings call and a probability
    status, active = call(base, "POST", f"/judges/{own['id']}/activate")
    assert (status, active["status"]) == (200, "active"), active
    status, answer = call(
        base, "POST", "/comments/judge", {"comment": "바지 허리가 넉넉해서 밥 먹고도 편해요. 기장도 딱 맞아요."}
    )
    assert status == 200, answer
    assert (answer["judge"], answer["model"], answer["verdict"], answer["completion_tokens"]) == (
        "own-3-small",
        "text-embedding-3-small",
        "good",
        0,
    )
    assert 0.5 <= answer["confidence"] <= 1

    # Retrained on more labelled comments: a new judge in seconds, measured the same way
    status, more = call(
        base,
        "POST",
        "/judges",
        {
            "name": "own-3-small-28",
            "style": "classifier",
            "embedding_model": "text-embedding-3-small",
            "examples_file_ids": files,
            "prices": {"input": 0.02},
        },
    )
    assert status == 201 and more["training"]["examples"] == 28, more
    # (the first file's vectors were stored by the first training: only the second file's are paid for)
    assert more["training"]["embeddings"] == {"reused": 14, "embedded": 14}
    status, queued = call(base, "POST", "/evaluations", {"judge_id": more["id"]})
    retrained = wait_for(base, queued["id"])
    print(f"own-3-small-28        {retrained['metrics']['f1_good']:.2f}  {retrained['metrics']['precision_good']:.2f}")
    assert retrained["metrics"]["f1_good"] >= mine["metrics"]["f1_good"]

    # Its embedding model retires: the same examples on another one, evaluated at once
    status, succession = call(
        base, "POST", f"/judges/{own['id']}/successor", {"model": "text-embedding-3-large", "prices": {"input": 0.13}}
    )
    assert status == 201, succession
    assert (
        succession["judge"]["style"],
        succession["judge"]["embedding_model"],
        succession["judge"]["predecessor_id"],
    ) == ("classifier", "text-embedding-3-large", own["id"])
    assert wait_for(base, succession["evaluation"]["id"])["status"] == "succeeded"


@pytest.mark.parametrize("today", [date(2026, 12, 6), date(2027, 2, 1), date(2031, 7, 19)])
def test_the_walkthroughs_calendar_does_not_depend_on_the_day_they_run(today):
    """The stand-in as `make local` serves it with the walkthroughs' calendar, on days before and long
    after OpenAI's real dates: the walkthroughs' models are served, gpt-4o-mini and its fine-tunes shut
    down 39 days later and no earlier, fine-tuning stays open 31 days; OpenAI's own dates would have
    shut them down by 2027-02-01."""
    standin = local_behaviour(CALENDAR_AS_OF, relative_to=today, today=today)
    shutdown = small_models_shutdown(today)
    assert shutdown == today + timedelta(days=39)
    for model in (FINE_TUNED, "gpt-4o-mini", "gpt-4.1-mini", "gpt-6-luna", "text-embedding-3-small"):
        assert standin.serves(model), model
    assert standin.retrieve_model("gpt-4o-mini-2024-07-18").json["shutdown_date"] == shutdown.isoformat()
    assert standin.retrieve_model("gpt-5-mini").json["shutdown_date"] == (today + timedelta(days=5)).isoformat()
    assert standin.fine_tuning_cutoff == today + timedelta(days=31)
    upload = standin.create_file(
        {"Content-Type": "multipart/form-data; boundary=b"},
        b'--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nfine-tune\r\n'
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="t.jsonl"\r\n\r\n{}\r\n--b--\r\n',
    )
    job = standin.create_job(
        json.dumps({"model": "gpt-4o-mini-2024-07-18", "training_file": upload.json["id"]}).encode()
    )
    assert job.status == 200, job.json

    standin.move_clock(shutdown - timedelta(days=1))
    assert standin.serves(FINE_TUNED)
    standin.move_clock(shutdown)
    assert not standin.serves(FINE_TUNED) and not standin.serves("gpt-4o-mini")
    assert standin.serves("gpt-6-luna")

    # Without the option, the stand-in serves OpenAI's own dates: by 2027-02-01 the walkthrough's models are gone.
    real = local_behaviour(None, today=date(2027, 2, 1))
    assert not real.serves(FINE_TUNED) and real.fine_tuning_cutoff == date(2027, 1, 6)


def test_the_calendar_day_is_read_from_the_environment():
    from infra.openai_standin import calendar_as_of_from_environment

    assert calendar_as_of_from_environment({CALENDAR_AS_OF_VARIABLE: "2026-12-06"}) == date(2026, 12, 6)
    assert calendar_as_of_from_environment({}) is None
    with pytest.raises(SystemExit, match="YYYY-MM-DD"):
        calendar_as_of_from_environment({CALENDAR_AS_OF_VARIABLE: "next tuesday"})
