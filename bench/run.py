"""What Lambda bills, measured here: `make bench` (docs/benchmarks.md explains and records a run).

Every function runs as in Lambda: the tracer on (``LAMBDA_TASK_ROOT`` set, X-Ray segments sent to a
loopback UDP sink as to the daemon), handlers called with real API Gateway and SQS events, OpenAI
answered by the loopback stand-in (infra/openai_standin.py) in its own process. Figures:

1. Cold start of each function (a fresh interpreter: import = Lambda's init, then one first request;
   the judge's first request is a fresh judgement, so loading o200k_base counts), beside the floor of
   its own dependencies (a fresh interpreter importing only them) taken in the same run, interleaved;
   and the SnapStart restore (after-restore hooks + first request of a copy primed before its snapshot).
2. Warm handler time beyond the database's own time (time blocked reading PostgreSQL's answers) and
   OpenAI's (the HTTP call), p50/p99, with statements and round trips per operation.
3. One queue invocation with 100 comments, OpenAI answering in 100 ms, at concurrency 4, 10 and 20.
4. Prompt tokens of the fine-tuned judge against the seed's instruction-prompt way.
5. Classifier judges: training on 1,000 and 5,000 labelled comments (``POST /judges``: the fit alone,
   and the request with the stand-in's embeddings), and the time of a fresh judgement beyond the
   embeddings (or chat) call and PostgreSQL's own time, beside the fine-tuned and prompted judges'.
6. The built layers: unpacked size, what the runtime provides, imports from the layers alone.

Medians of interleaved runs. ``BENCH_RUNS`` (cold starts, default 5), ``BENCH_REQUESTS`` (warm, 300),
``BENCH_QUEUE_RUNS`` (3), ``BENCH_JUDGEMENTS`` (classifier judging, 200), ``BENCH_LAYERS=0`` skips
building the layers. With DATABASE_URL unset the
figures are taken on an embedded PostgreSQL; either way in a scratch database of their own.
"""

from __future__ import annotations

import compileall
import json
import math
import os
import py_compile
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from contextlib import contextmanager
from pathlib import Path

from infra import embedded_postgres
from infra.api_gateway import api_gateway_event
from infra.lambda_runtime import LocalContext
from infra.migrations.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / "shared"
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
WARM_REQUESTS = int(os.environ.get("BENCH_REQUESTS", "300"))
QUEUE_RUNS = int(os.environ.get("BENCH_QUEUE_RUNS", "3"))
JUDGEMENTS = int(os.environ.get("BENCH_JUDGEMENTS", "200"))
QUEUE_CONCURRENCY = tuple(int(n) for n in os.environ.get("BENCH_QUEUE_CONCURRENCY", "4,10,20").split(","))
JUDGE_MODEL = "ft:gpt-4o-mini-2024-07-18:bench::judge"
SEED_COMMENT = "너무 맘에드는 옷입니다! 근데 사장님 순대국 좋아하세요?"

GOAL_COLD_RATIO = 1.2
GOAL_WARM_P50_MS, GOAL_WARM_P99_MS = 3.0, 10.0
GOAL_QUEUE_S = 1.5
GOAL_LAYER_MB = 70.0

# The dependencies each function loads, and nothing of ours: the floor its cold start is set against.
# botocore is the tracer's (it patches it) and the RDS secret's; the judge's floor loads o200k_base.
# Two packages defer part of their own import to first use, which any use pays: `import pydantic`
# loads a stub until BaseModel is asked for (pydantic.main), and the openai SDK's HTTP client imports
# its transport (httpcore2) when the first client is made. The floor imports those parts too.
BASE_FLOOR = [
    "aws_lambda_powertools",
    "aws_lambda_powertools.event_handler",
    "aws_xray_sdk.core",
    "botocore.client",
    "pydantic",
    "pydantic.main",
    "sqlalchemy",
    "sqlalchemy.orm",
    "sqlalchemy.dialects.postgresql.pg8000",
    "pg8000",
]
OPENAI_FLOOR = ["openai", "httpcore2"]
FLOORS = {
    "link_banner": BASE_FLOOR,
    "judge_comment": [*BASE_FLOOR, *OPENAI_FLOOR, "tiktoken", "o200k"],
    "fine_tuning_jobs": [*BASE_FLOOR, *OPENAI_FLOOR],
    "upload_training_file": [*BASE_FLOOR, *OPENAI_FLOOR, "tiktoken", "boto3"],
}

# --- what runs in a fresh interpreter ----------------------------------------------------------

CHILD_PRELUDE = r"""
import json, os, sys, time
class Context:
    function_name = "bench"; function_version = "1"; memory_limit_in_mb = 512; log_group_name = "bench"
    log_stream_name = "bench"; invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    def __init__(self): self.aws_request_id = os.urandom(8).hex()
    def get_remaining_time_in_millis(self): return 20000
def trace():
    root = f"1-{os.urandom(4).hex()}-{os.urandom(12).hex()}"
    os.environ["_X_AMZN_TRACE_ID"] = f"Root={root};Parent={os.urandom(8).hex()};Sampled=1"
job = json.loads(sys.stdin.read())
"""

COLD = (
    CHILD_PRELUDE
    + r"""
started, started_cpu = time.perf_counter(), time.process_time()
sys.path.insert(0, job["code"])
import app
imported, imported_cpu = time.perf_counter(), time.process_time()
handler = getattr(app, job["handler"])
if job["mode"] == "restore":
    # As SnapStart: init, the before-snapshot hooks, [snapshot ... restore], the after-restore hooks.
    try:
        from shop_marketing import lifecycle
    except ImportError:  # code from before SnapStart: nothing to run
        lifecycle = None
    if lifecycle is not None:
        lifecycle.run_before_snapshot()
    imported, imported_cpu = time.perf_counter(), time.process_time()
    if lifecycle is not None:
        lifecycle.run_after_restore()
trace()
response = handler(job["event"], Context())
served, served_cpu = time.perf_counter(), time.process_time()
status = response.get("statusCode", 200) if isinstance(response, dict) else 200
print(json.dumps({"init_ms": (imported - started) * 1000, "first_ms": (served - imported) * 1000, "status": status,
                  "init_cpu_ms": (imported_cpu - started_cpu) * 1000,
                  "first_cpu_ms": (served_cpu - imported_cpu) * 1000}))
"""
)

FLOOR = (
    CHILD_PRELUDE
    + r"""
import importlib
started, started_cpu = time.perf_counter(), time.process_time()
for name in job["modules"]:
    if name == "o200k":
        os.environ["TIKTOKEN_CACHE_DIR"] = job["tiktoken_cache"]
        import tiktoken
        tiktoken.get_encoding("o200k_base")
    else:
        importlib.import_module(name)
print(json.dumps({"floor_ms": (time.perf_counter() - started) * 1000,
                  "floor_cpu_ms": (time.process_time() - started_cpu) * 1000}))
"""
)

# The loopback OpenAI stand-in in a process of its own (its CPU is not the judge's), answering after a delay.
STANDIN = r"""
import sys
from datetime import date
from infra import openai_standin
delay = float(sys.argv[1])
# The stand-in's clock on a day the bench's fine-tuned model is served, whatever day the bench runs.
server = openai_standin.make_server(
    openai_standin.BehavingOpenAI(
        label="good", probabilities={"good": 0.93, "bad": 0.07}, delay=delay, today=date(2026, 12, 6)
    ),
    port=0,
)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@contextmanager
def openai_standin(delay_s: float):
    process = subprocess.Popen(
        [sys.executable, "-c", STANDIN, str(delay_s)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{SHARED}"},
    )
    try:
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(10)


def xray_sink() -> str:
    """A UDP socket standing in for the X-Ray daemon Lambda runs beside the function; drained, discarded."""
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))

    def drain():
        while True:
            sink.recv(65536)

    threading.Thread(target=drain, daemon=True).start()
    return f"127.0.0.1:{sink.getsockname()[1]}"


def lambda_environment(function: str) -> dict[str, str]:
    return {
        "LAMBDA_TASK_ROOT": str(ROOT / "functions" / function),
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "POWERTOOLS_TRACE_DISABLED": "false",
        "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
        "POWERTOOLS_SERVICE_NAME": "shop-marketing",
        "POWERTOOLS_METRICS_NAMESPACE": "ShopMarketing",
        "POWERTOOLS_LOG_LEVEL": "INFO",  # the template's default
    }


def compiled_package(scratch: Path) -> Path:
    """shop_marketing as the layer ships it (shared/Makefile): a copy with unchecked-hash bytecode.

    /opt is read-only in Lambda, so the layer carries the bytecode; run from the source tree, a cold
    child would compile every module of ours again, which Lambda never does. The function's own app.py
    is still compiled at each cold start, as in Lambda.
    """
    target = scratch / "python"
    shutil.copytree(SHARED / "shop_marketing", target / "shop_marketing", ignore=shutil.ignore_patterns("__pycache__"))
    compileall.compile_dir(target, quiet=1, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    return target


def run_child(script: str, job: dict, environment: dict[str, str]) -> dict:
    finished = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(job),
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if finished.returncode != 0:
        raise RuntimeError(f"bench child failed:\n{finished.stderr[-3000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def median(values) -> float:
    return statistics.median(values)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


# --- the scenario the figures are taken on -----------------------------------------------------


class Api:
    """Calls a handler in this process with API Gateway events, the X-Ray trace header set as Lambda does."""

    def __init__(self, handler):
        self.handler = handler

    def __call__(self, method: str, path: str, body=None) -> tuple[int, object]:
        os.environ["_X_AMZN_TRACE_ID"] = (
            f"Root=1-{os.urandom(4).hex()}-{os.urandom(12).hex()};Parent={os.urandom(8).hex()};Sampled=0"
        )
        event = api_gateway_event(
            method,
            path,
            body=json.dumps(body, ensure_ascii=False) if body is not None else None,
            headers={"content-type": "application/json"},
        )
        response = self.handler(event, LocalContext())
        return response["statusCode"], json.loads(response.get("body") or "null")


def seed_catalog(api: Api) -> dict[str, int]:
    tag = uuid.uuid4().hex[:8]
    _, store = api("POST", "/stores", {"name": "Bench", "naver_store_id": f"bench-{tag}"})
    _, product = api("POST", f"/stores/{store['id']}/products", {"naver_product_no": "1", "name": "Linen shirt"})
    _, banner = api(
        "POST", f"/stores/{store['id']}/banners", {"image_url": "https://cdn.example.com/b.png", "title": "Autumn"}
    )
    api("PUT", f"/banners/{banner['id']}/product", {"product_id": product["id"]})
    posts = []
    for n in range(11):
        _, post = api("POST", "/instagram-posts", {"instagram_media_id": f"bench-{tag}-{n}", "caption": "new in"})
        posts.append(post["id"])
    for post in posts[:10]:
        api("PUT", f"/banners/{banner['id']}/instagram-posts/{post}")
    return {"banner": banner["id"], "spare_post": posts[10], "post": posts[0]}


# --- 1. cold starts ------------------------------------------------------------------------------

PROBES = {
    "fine_tuning_jobs": ("GET", "/fine-tuning/jobs/ftjob-unknown", None),
    "upload_training_file": ("GET", "/training-files/rejections", None),
}


def cold_starts(seed: dict[str, int], base_environment: dict[str, str]) -> dict[str, dict[str, float]]:
    samples: dict[str, dict[str, list[float]]] = {}
    for run in range(RUNS):  # interleaved: each run takes every function's cold start, restore and floor
        for function in FLOORS:
            environment = {**base_environment, **lambda_environment(function)}
            row = samples.setdefault(function, {})
            for mode in ("cold", "restore"):
                if function == "link_banner":
                    event = api_gateway_event("GET", f"/banners/{seed['banner']}")
                elif function == "judge_comment":
                    comment = f"{mode} {run} {uuid.uuid4().hex[:6]}: 색감이 사진이랑 똑같고 세탁해도 안 줄어요"
                    event = api_gateway_event(
                        "POST",
                        "/comments/judge",
                        body=json.dumps({"comment": comment}),
                        headers={"content-type": "application/json"},
                    )
                else:
                    method, path, body = PROBES[function]
                    event = api_gateway_event(method, path, body=body)
                figures = run_child(
                    COLD,
                    {
                        "code": str(ROOT / "functions" / function),
                        "handler": "lambda_handler",
                        "mode": mode,
                        "event": event,
                    },
                    environment,
                )
                if figures["status"] >= 500:
                    raise RuntimeError(f"{function} answered {figures['status']} to its first request")
                row.setdefault(f"{mode}_init_ms", []).append(figures["init_ms"])
                row.setdefault(f"{mode}_first_ms", []).append(figures["first_ms"])
                row.setdefault(f"{mode}_cpu_ms", []).append(figures["init_cpu_ms"] + figures["first_cpu_ms"])
            floor = run_child(
                FLOOR,
                {"modules": FLOORS[function], "tiktoken_cache": str(SHARED / "shop_marketing" / "tiktoken_cache")},
                environment,
            )
            row.setdefault("floor_ms", []).append(floor["floor_ms"])
            row.setdefault("floor_cpu_ms", []).append(floor["floor_cpu_ms"])
            # Each run's cold start over the floor taken beside it: a shared machine's drift cancels out.
            row.setdefault("ratio", []).append((row["cold_init_ms"][-1] + row["cold_first_ms"][-1]) / floor["floor_ms"])
            row.setdefault("cpu_ratio", []).append(row["cold_cpu_ms"][-1] / floor["floor_cpu_ms"])
    return {function: {key: median(values) for key, values in row.items()} for function, row in samples.items()}


# --- 2. warm percentiles beyond the database and OpenAI ------------------------------------------


class Meter:
    """Time this process spends waiting for PostgreSQL and OpenAI, and the statements and round trips."""

    def __init__(self):
        self.external = 0.0
        self.statements = 0
        self.round_trips = 0

    def reset(self):
        self.external, self.statements, self.round_trips = 0.0, 0, 0

    def install(self, engine):
        from sqlalchemy import event

        meter = self

        @event.listens_for(engine, "before_cursor_execute")
        def _count(*_):
            meter.statements += 1

        @event.listens_for(engine.pool, "connect")
        def _time_reads(dbapi_connection, _record):
            # pg8000 reads every answer from, and flushes every request to, the buffered socket ``_sock``.
            dbapi_connection._sock = _MeteredSocket(dbapi_connection._sock, meter)  # noqa: SLF001

    def install_http(self):
        """Time the OpenAI SDK's HTTP calls (its client is httpx2's)."""
        import httpx2

        meter = self

        send = httpx2.Client.send

        def timed_send(client, *args, **kwargs):
            started = time.perf_counter()
            try:
                return send(client, *args, **kwargs)
            finally:
                meter.external += time.perf_counter() - started

        httpx2.Client.send = timed_send


class _MeteredSocket:
    def __init__(self, sock, meter: Meter):
        self._socket, self._meter = sock, meter

    def read(self, size):
        started = time.perf_counter()
        try:
            return self._socket.read(size)
        finally:
            self._meter.external += time.perf_counter() - started

    def flush(self):
        self._meter.round_trips += 1
        return self._socket.flush()

    def __getattr__(self, name):
        return getattr(self._socket, name)


def warm_latency(catalog: Api, judge: Api, seed: dict[str, int], meter: Meter) -> dict[str, dict[str, float]]:
    banner, post = seed["banner"], seed["spare_post"]
    operations = {
        "GET banner": lambda n: catalog("GET", f"/banners/{banner}"),
        "link post": lambda n: catalog("PUT", f"/banners/{banner}/instagram-posts/{post}"),
        "unlink post": lambda n: catalog("DELETE", f"/banners/{banner}/instagram-posts/{post}"),
        "fresh judgement": lambda n: judge(
            "POST", "/comments/judge", {"comment": f"{n} {uuid.uuid4().hex[:8]} 핏이 예뻐요"}
        ),
        "cached judgement": lambda n: judge("POST", "/comments/judge", {"comment": SEED_COMMENT}),
    }
    for name, operation in operations.items():  # warm every path once
        status, body = operation(0)
        if status != 200:
            raise RuntimeError(f"{name}: {status} {body}")
    beyond: dict[str, list[float]] = {name: [] for name in operations}
    counts: dict[str, tuple[int, int]] = {}
    for n in range(WARM_REQUESTS):  # interleaved: one of each per round
        for name, operation in operations.items():
            meter.reset()
            started = time.perf_counter()
            status, _ = operation(n)
            elapsed = time.perf_counter() - started
            assert status == 200, (name, status)
            beyond[name].append((elapsed - meter.external) * 1000)
            counts[name] = (meter.statements, meter.round_trips)
    return {
        name: {
            "p50": percentile(values, 0.5),
            "p99": percentile(values, 0.99),
            "statements": counts[name][0],
            "round_trips": counts[name][1],
        }
        for name, values in beyond.items()
    }


# --- 3. the queue --------------------------------------------------------------------------------


def sqs_event(bodies: list[dict]) -> dict:
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "bench",
                "body": json.dumps(body, ensure_ascii=False),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:comments-to-judge",
                "awsRegion": "us-east-1",
            }
            for body in bodies
        ]
    }


def queue_throughput(seed: dict[str, int], slow_openai: str, meter: Meter) -> dict[tuple[int, str], dict[str, float]]:
    import sqlalchemy as sa

    from shop_marketing.config import get_settings
    from shop_marketing.db import dispose_engine, get_engine
    from shop_marketing.openai_client import reset_openai_client

    os.environ["OPENAI_BASE_URL"] = slow_openai
    samples: dict[tuple[int, str], dict[str, list[float]]] = {}
    for _run in range(QUEUE_RUNS):
        for concurrency in QUEUE_CONCURRENCY:
            for variant in ("comment only", "with post and comment id"):
                os.environ["JUDGE_CONCURRENCY"] = os.environ["DB_POOL_SIZE"] = str(concurrency)
                get_settings.cache_clear()
                dispose_engine()
                reset_openai_client()
                meter.install(get_engine())
                queue_handler = load_function("judge_comment").queue_handler
                tag = uuid.uuid4().hex[:8]
                bodies = [{"comment": f"{tag} {n}번째 후기: 재질이 부드럽고 사이즈가 딱 맞아요"} for n in range(100)]
                if variant != "comment only":
                    bodies = [
                        {**body, "post_id": seed["post"], "instagram_comment_id": f"{tag}-{n}"}
                        for n, body in enumerate(bodies)
                    ]
                meter.reset()
                cpu, started = time.process_time(), time.perf_counter()
                os.environ["_X_AMZN_TRACE_ID"] = (
                    f"Root=1-{os.urandom(4).hex()}-{os.urandom(12).hex()};Parent={os.urandom(8).hex()};Sampled=0"
                )
                result = queue_handler(sqs_event(bodies), LocalContext(timeout_seconds=120))
                wall, cpu = time.perf_counter() - started, time.process_time() - cpu
                with get_engine().connect() as connection:
                    stored = connection.scalar(
                        sa.text(
                            "SELECT count(*) FROM judgements WHERE model = :m AND verdict IS NOT NULL "
                            "AND text_sha256 IN (SELECT encode(sha256(convert_to(c, 'UTF8')), 'hex') "
                            "FROM unnest(CAST(:texts AS text[])) AS c)"
                        ),
                        {"m": JUDGE_MODEL, "texts": [body["comment"] for body in bodies]},
                    )
                row = samples.setdefault((concurrency, variant), {})
                row.setdefault("wall_s", []).append(wall)
                row.setdefault("cpu_ms_per_record", []).append(cpu * 1000 / len(bodies))
                row.setdefault("statements_per_record", []).append(meter.statements / len(bodies))
                row.setdefault("round_trips_per_record", []).append(meter.round_trips / len(bodies))
                row.setdefault("failed", []).append(len(result["batchItemFailures"]))
                row.setdefault("stored", []).append(stored)
    return {key: {name: median(values) for name, values in row.items()} for key, row in samples.items()}


# --- 4. tokens -----------------------------------------------------------------------------------

# The seed's first way: an instruction sent with every comment (its wording is lost; this says what the
# seed summary says it said), and a model that answered with a sentence before its label.
INSTRUCTION = (
    "You judge comments left on our shop's Instagram posts. A good comment is not negative and is not merely "
    "'it's great!': it is a sincere, well-written review from someone who really used the product. "
    "Answer with exactly one word: good or bad."
)
SEED_WAY_ANSWER = "You asked me to judge whether this comment is a sincere real-use review, so: bad"


def token_cost() -> dict[str, float]:
    from shop_marketing.tokens import chat_prompt_tokens, count_tokens

    started = time.perf_counter()
    bare = chat_prompt_tokens([{"role": "user", "content": SEED_COMMENT}])
    instructed = chat_prompt_tokens(
        [{"role": "system", "content": INSTRUCTION}, {"role": "user", "content": SEED_COMMENT}]
    )
    counted = (time.perf_counter() - started) * 1000
    return {
        "comment": count_tokens(SEED_COMMENT),
        "bare_prompt": bare,
        "bare_completion": 1,
        "instructed_prompt": instructed,
        "instructed_completion": count_tokens(SEED_WAY_ANSWER),
        "count_ms": counted,
    }


# --- 5. classifier judges ---------------------------------------------------------------------

# Words of real-use reviews and of everything else: the synthetic comments the classifier learns.
REVIEW_WORDS = (
    "니트",
    "원단",
    "세탁",
    "보풀",
    "핏",
    "어깨선",
    "색감",
    "두께감",
    "허리",
    "기장",
    "착용감",
    "출근룩",
    "안감",
    "신축성",
    "바느질",
    "따뜻해요",
    "편해요",
    "딱",
    "맞아요",
    "부드러워요",
    "늘어나지",
    "않아요",
    "두 번",
    "빨았는데",
)
OTHER_WORDS = (
    "배송",
    "언제",
    "와요?",
    "품절",
    "재입고",
    "가격",
    "얼마예요?",
    "예뻐요",
    "최고",
    "대박",
    "맞팔",
    "이벤트",
    "사이즈",
    "문의",
    "DM",
    "환불",
    "별로",
    "ㅋㅋ",
    "@friend",
    "좋아요",
    "굿굿",
    "어디서",
    "사요?",
    "세일",
)


def labelled_comments(count: int, seed: int = 7, mark: str = "") -> list[tuple[str, str]]:
    """``count`` distinct synthetic comments, half of each label, 8% of the labels wrong (as people err);
    ``mark`` ends each one, so no text's vector is stored already (a training then pays for every text)."""
    import random

    chance = random.Random(seed)
    examples = []
    for n in range(count):
        good = n % 2 == 0
        words = [
            chance.choice(REVIEW_WORDS if good or chance.random() < 0.2 else OTHER_WORDS)
            for _ in range(chance.randint(3, 12))
        ]
        label = "good" if good else "bad"
        if chance.random() < 0.08:
            label = "bad" if good else "good"
        examples.append((f"{' '.join(words)} #{n}{mark}", label))
    return examples


def keep_labelled(examples: list[tuple[str, str]]) -> str:
    from shop_marketing.config import get_settings
    from shop_marketing.db import session_scope
    from shop_marketing.training.files import Origin, upload_training_file
    from shop_marketing.training.jsonl import training_jsonl

    data = training_jsonl(examples)
    with session_scope() as session:
        kept = upload_training_file(
            session,
            data,
            filename="bench.jsonl",
            origin=Origin("api"),
            client=None,
            settings=get_settings(),
            upload=False,
        )
        return kept.file.openai_file_id


def classifier_figures(meter: Meter) -> dict:
    """Training on 1,000 and 5,000 examples; then fresh judgements by a classifier, a fine-tuned and a
    prompted judge, each timed beyond its OpenAI call and PostgreSQL's time."""
    from shop_marketing.config import get_settings
    from shop_marketing.db import session_scope
    from shop_marketing.judging import judges as judge_registry
    from shop_marketing.judging.judge import judge_with
    from shop_marketing.openai_client import get_endpoint_client

    api = Api(load_function("judges").lambda_handler)
    tag = uuid.uuid4().hex[:6]
    training, made = {}, {}
    for count in (1000, 5000):
        file_id = keep_labelled(labelled_comments(count, mark=f" {tag}-{count}"))
        meter.reset()
        started = time.perf_counter()
        status, judge = api(
            "POST",
            "/judges",
            {
                "name": f"bench-classifier-{count}-{tag}",
                "style": "classifier",
                "embedding_model": "text-embedding-3-small",
                "examples_file_id": file_id,
                "prices": {"input": 0.02},
            },
        )
        elapsed = time.perf_counter() - started
        if status != 201 or judge["training"]["embeddings"]["reused"]:
            raise RuntimeError(f"classifier training (every text paid for): {status} {judge}")
        made[count] = (judge, file_id)
        training[count] = {
            "request_s": elapsed,
            "waiting_s": meter.external,
            "fit_s": judge["training"]["training_ms"] / 1000,
            "cv_f1": judge["training"]["cross_validated"]["f1_good"],
            "c": judge["training"]["regularisation_c"],
        }
    status, prompted = api(
        "POST",
        "/judges",
        {
            "name": f"bench-prompted-{tag}",
            "style": "prompted",
            "model": "gpt-4o-mini",
            "examples_file_id": made[1000][1],
        },
    )
    if status != 201:
        raise RuntimeError(f"prompted judge: {status} {prompted}")
    with session_scope() as session:
        specs = {
            "classifier": judge_registry.load_spec(session, judge_registry.get_judge(session, made[1000][0]["id"])),
            "fine_tuned": judge_registry.load_spec(
                session, judge_registry.fine_tuned_judge_for_model(session, JUDGE_MODEL)
            ),
            "prompted": judge_registry.load_spec(session, judge_registry.get_judge(session, prompted["id"])),
        }
    settings = get_settings()
    beyond: dict[str, list[float]] = {name: [] for name in specs}
    for n in range(JUDGEMENTS + 5):  # interleaved; the first rounds warm each path
        for name, spec in specs.items():
            comment = f"{n} {uuid.uuid4().hex[:8]} 니트 원단이 부드럽고 세탁해도 보풀이 없어요"
            meter.reset()
            started = time.perf_counter()
            judge_with(spec, comment, client_for=get_endpoint_client, settings=settings)
            elapsed = time.perf_counter() - started
            if n >= 5:
                beyond[name].append((elapsed - meter.external) * 1000)
    judging = {
        name: {"p50": percentile(values, 0.5), "p99": percentile(values, 0.99)} for name, values in beyond.items()
    }
    return {"training": training, "judging": judging}


# --- 6. layers -----------------------------------------------------------------------------------

LAYERS = {
    "SharedLayer": "requirements.txt",
    "OpenAILayer": "requirements-openai.txt",
    "MigrationsLayer": "requirements-migrations.txt",
    "NumericLayer": "requirements-numeric.txt",
}
FUNCTION_LAYERS = {
    "link_banner": ["SharedLayer"],
    "judge_comment": ["SharedLayer", "OpenAILayer"],
    "upload_training_file": ["SharedLayer", "OpenAILayer"],
    "fine_tuning_jobs": ["SharedLayer", "OpenAILayer"],
    "migrations": ["SharedLayer", "MigrationsLayer"],
    "judges (HTTP)": ["SharedLayer", "OpenAILayer", "NumericLayer"],
}
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3")


def apparent_mb(path: Path) -> float:
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file()) / 1e6


def built_layers(scratch: Path) -> dict[str, Path] | None:
    """The layers as `sam build` makes them (shared/Makefile), built here into ``scratch``."""
    built = {}
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for layer in LAYERS:
        artifacts = scratch / layer
        artifacts.mkdir()
        finished = subprocess.run(
            ["make", "-C", str(SHARED), f"build-{layer}", f"ARTIFACTS_DIR={artifacts}"],
            env=environment,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if finished.returncode != 0:
            print(f"  layer {layer} did not build: {finished.stderr.strip()[-500:]}")
            return None
        built[layer] = artifacts / "python"
    return built


IMPORT_FROM_LAYERS = r"""
import sys, time
started = time.perf_counter()
import app
print((time.perf_counter() - started) * 1000, "openai" in sys.modules, "botocore" in sys.modules)
"""


def layer_figures(scratch: Path, built: dict[str, Path]) -> dict:
    """Sizes, forbidden contents, and each function imported from its layers alone (read-only, as in Lambda)."""
    runtime = scratch / "runtime"  # the Lambda runtime's boto3 and what it needs, taken from this venv
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    runtime.mkdir()
    for name in (*RUNTIME_PROVIDED, "dateutil", "six.py"):
        source = site / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, runtime / name)
    sizes = {layer: apparent_mb(path) for layer, path in built.items()}
    shadowing = sorted({name for path in built.values() for name in RUNTIME_PROVIDED if (path / name).exists()})
    test_folders = sorted(
        str(p.relative_to(scratch))
        for path in built.values()
        for p in path.rglob("*")
        if p.is_dir() and p.name in ("tests", "testing")
    )
    imports = {}
    for function in ("link_banner", "judge_comment"):
        path = os.pathsep.join(["."] + [str(built[layer]) for layer in FUNCTION_LAYERS[function]] + [str(runtime)])
        environment = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": path,
            "PYTHONDONTWRITEBYTECODE": "1",
            **lambda_environment(function),
            "DATABASE_URL": os.environ["DATABASE_URL"],
            "OPENAI_API_KEY": "sk-bench",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        samples = []
        for _ in range(RUNS):
            finished = subprocess.run(
                [sys.executable, "-S", "-c", IMPORT_FROM_LAYERS],
                cwd=ROOT / "functions" / function,
                env=environment,
                capture_output=True,
                text=True,
                timeout=300,
            )
            if finished.returncode != 0:
                raise RuntimeError(f"{function} does not import from its layers:\n{finished.stderr[-2000:]}")
            ms, openai_loaded, botocore_loaded = finished.stdout.split()
            samples.append(float(ms))
        imports[function] = {"import_ms": median(samples), "openai": openai_loaded == "True"}
    return {"sizes": sizes, "shadowing": shadowing, "test_folders": test_folders, "imports": imports}


# --- running it ----------------------------------------------------------------------------------


def load_function(function: str):
    from infra.lambda_runtime import load_handler

    return sys.modules[load_handler(ROOT / "functions" / function).__module__]


def verdict(met: bool) -> str:
    return "met" if met else "NOT MET"


def main() -> None:
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    sink = xray_sink()
    base = {
        "AWS_DEFAULT_REGION": "us-east-1",
        "OPENAI_API_KEY": "sk-bench",
        "JUDGE_MODEL": JUDGE_MODEL,
        "AWS_XRAY_DAEMON_ADDRESS": sink,
        "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
        # As the template's Globals: the observability objects read these when the layer is first imported.
        "POWERTOOLS_SERVICE_NAME": "shop-marketing",
        "POWERTOOLS_METRICS_NAMESPACE": "ShopMarketing",
    }
    os.environ.update(base)
    server, server_url = None, os.environ.get("DATABASE_URL")
    if not server_url:
        server, server_url = embedded_postgres.start()
    os.environ["DATABASE_URL"] = embedded_postgres.create_database(server_url, "shop_marketing_bench")
    upgrade()
    try:
        with (
            openai_standin(0.0) as fast_openai,
            openai_standin(0.1) as slow_openai,
            tempfile.TemporaryDirectory(prefix="bench-package-") as package,
        ):
            os.environ["OPENAI_BASE_URL"] = fast_openai
            child_environment = {**os.environ, "PYTHONPATH": str(compiled_package(Path(package)))}
            # This process serves the warm and queue figures as the judge function's environment does.
            os.environ.update(lambda_environment("judge_comment"))
            meter = Meter()
            from shop_marketing.db import get_engine

            meter.install(get_engine())
            meter.install_http()
            catalog, judge = (
                Api(load_function("link_banner").lambda_handler),
                Api(load_function("judge_comment").lambda_handler),
            )
            # Logs are formatted as in Lambda (INFO), then dropped rather than printed among the figures.
            from shop_marketing.observability import logger

            logger.registered_handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - for the process's life
            seed = seed_catalog(catalog)
            report(seed, child_environment, catalog, judge, meter, slow_openai)
    finally:
        from shop_marketing.db import dispose_engine

        dispose_engine()
        embedded_postgres.drop_database(server_url, os.environ["DATABASE_URL"])
        if server is not None:
            server.cleanup()


def report(seed, child_environment, catalog, judge, meter, slow_openai) -> None:
    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {RUNS} cold runs, "
        f"{WARM_REQUESTS} warm requests per operation, {QUEUE_RUNS} queue runs (medians, interleaved)"
    )

    cold = cold_starts(seed, child_environment)
    print("\n1. cold start (fresh interpreter: init = import; then the first request) and SnapStart restore")
    print("  wall ms (what Lambda bills), medians; a ratio is the median of each run's cold start over the floor taken")
    print("  beside it (the CPU-time ratio is steadier still on a shared machine)")
    print(
        f"  {'function':22} {'init':>7} {'1st req':>8} {'total':>7} {'floor':>7} {'ratio':>6} {'goal':>6}"
        f" {'':8} | {'CPU ratio':>9} | {'restore':>8} (hooks + first request after restore)"
    )
    for function, row in cold.items():
        total = row["cold_init_ms"] + row["cold_first_ms"]
        ratio = row["ratio"]  # the median of each run's own ratio
        goal = f"≤{GOAL_COLD_RATIO}" if function in ("link_banner", "judge_comment") else ""
        mark = verdict(ratio <= GOAL_COLD_RATIO) if goal else ""
        print(
            f"  {function:22} {row['cold_init_ms']:7.0f} {row['cold_first_ms']:8.0f} {total:7.0f} "
            f"{row['floor_ms']:7.0f} {ratio:5.2f}x {goal:>6} {mark:8} | "
            f"{row['cpu_ratio']:8.2f}x | {row['restore_first_ms']:6.0f} ms"
        )

    warm = warm_latency(catalog, judge, seed, meter)
    print(
        f"\n2. warm handler time beyond PostgreSQL's and OpenAI's own time (goal p50 ≤ {GOAL_WARM_P50_MS:.0f} ms, "
        f"p99 ≤ {GOAL_WARM_P99_MS:.0f} ms)"
    )
    print(f"  {'operation':18} {'p50 ms':>7} {'p99 ms':>7} {'statements':>11} {'round trips':>12}")
    for name, row in warm.items():
        met = row["p50"] <= GOAL_WARM_P50_MS and row["p99"] <= GOAL_WARM_P99_MS
        print(
            f"  {name:18} {row['p50']:7.2f} {row['p99']:7.2f} {row['statements']:11d} {row['round_trips']:12d}  "
            f"{verdict(met)}"
        )

    queue = queue_throughput(seed, slow_openai, meter)
    print(
        "\n3. one queue invocation, 100 comments, OpenAI answering in 100 ms "
        f"(goal ≤ {GOAL_QUEUE_S} s, every record stored)"
    )
    print("  OpenAI's floor: 100 calls of 100 ms, at most `concurrency` at once, take ceil(100 / concurrency) x 0.1 s")
    print(
        f"  {'concurrency':>11} {'records':26} {'wall s':>7} {'floor s':>8} {'CPU ms/rec':>11} "
        f"{'stmts/rec':>10} {'trips/rec':>10} {'stored':>7}"
    )
    for (concurrency, variant), row in queue.items():
        floor = math.ceil(100 / concurrency) * 0.1
        met = row["wall_s"] <= GOAL_QUEUE_S and row["stored"] == 100 and row["failed"] == 0
        mark = verdict(met) if met or floor < GOAL_QUEUE_S else f"NOT MET: OpenAI's floor alone is {floor:.1f} s"
        print(
            f"  {concurrency:11d} {variant:26} {row['wall_s']:7.2f} {floor:8.1f} {row['cpu_ms_per_record']:11.1f} "
            f"{row['statements_per_record']:10.2f} {row['round_trips_per_record']:10.2f} {row['stored']:7.0f}  {mark}"
        )

    tokens = token_cost()
    print("\n4. tokens per judged comment (the seed's comment, o200k_base)")
    print(
        f"  fine-tuned judge: {tokens['bare_prompt']} prompt + {tokens['bare_completion']} completion "
        f"(comment alone: {tokens['comment']})"
    )
    instructed = tokens["instructed_prompt"] + tokens["instructed_completion"]
    print(
        f"  seed's instruction way: {tokens['instructed_prompt']} prompt "
        f"+ {tokens['instructed_completion']} completion -> {instructed / (tokens['bare_prompt'] + 1):.1f}x the tokens"
    )

    classifier = classifier_figures(meter)
    print(
        "\n5. classifier judges (POST /judges, text-embedding-3-small from the stand-in, 1,536 dimensions, "
        "8% of labels wrong)"
    )
    print(
        f"  {'examples':>8} {'fit s':>6} {'request s':>10} {'waiting s':>10} {'CV F1':>6} {'C':>5}   "
        "(fit: the folds' fits along the C path, then the final fit)"
    )
    for count, row in classifier["training"].items():
        print(
            f"  {count:8d} {row['fit_s']:6.2f} {row['request_s']:10.2f} {row['waiting_s']:10.2f} "
            f"{row['cv_f1']:6.3f} {row['c']:5g}"
        )
    print("  waiting: PostgreSQL's and the stand-in's own time (it hashes the n-grams of every text in Python)")
    print(f"  a fresh judgement beyond its OpenAI call and PostgreSQL's time ({JUDGEMENTS} each, interleaved), ms:")
    for name, row in classifier["judging"].items():
        print(f"  {name:12} p50 {row['p50']:6.2f}  p99 {row['p99']:6.2f}")

    print(f"\n6. built layers (goal: the judge's layers ≤ {GOAL_LAYER_MB:.0f} MB unpacked, no botocore)")
    if os.environ.get("BENCH_LAYERS", "1") == "0":
        print("  skipped (BENCH_LAYERS=0)")
        return
    with tempfile.TemporaryDirectory() as scratch:
        built = built_layers(Path(scratch))
        if built is None:
            return
        layers = layer_figures(Path(scratch), built)
    for layer, size in layers["sizes"].items():
        print(f"  {layer:16} {size:6.1f} MB")
    for function, names in FUNCTION_LAYERS.items():
        total = sum(layers["sizes"][name] for name in names)
        # The goal is the judging functions'; the judges function's HTTP routes (admin, training) have
        # Lambda's own limit, 250 MB unpacked.
        goal = (
            verdict(total <= GOAL_LAYER_MB)
            if function != "judges (HTTP)"
            else f"(Lambda's limit: 250 MB) {verdict(total <= 250)}"
        )
        print(f"  {function:22} gets {' + '.join(names):32} = {total:5.1f} MB  {goal}")
    print(
        f"  runtime packages shipped (must be none): {layers['shadowing'] or 'none'}; "
        f"test folders: {layers['test_folders'] or 'none'}"
    )
    for function, row in layers["imports"].items():
        print(
            f"  {function} imported from its layers alone (read-only bytecode): {row['import_ms']:.0f} ms, "
            f"openai loaded: {row['openai']}"
        )


if __name__ == "__main__":
    main()
