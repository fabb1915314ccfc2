"""Prints cold-start and latency figures: `make bench`.

Cold start: for each function of template.yaml, a fresh interpreter imports the handler (what Lambda
does during init) and serves one cheap request; import time, first-request time and peak RSS are the
medians of a few runs. Warm latency: the banner view with 10 linked posts, served repeatedly in-process.
Token counting: loading o200k_base once, then counting the seed's comment. With DATABASE_URL unset the
figures are taken on an embedded PostgreSQL; either way in a scratch database of their own.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from infra import embedded_postgres
from infra.local_api import ROOT, routes_from_template
from infra.migrations.migrate import upgrade

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
WARM_REQUESTS = int(os.environ.get("BENCH_REQUESTS", "300"))

COLD_START = r"""
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
started = time.perf_counter()
from infra.local_api import LocalContext, api_gateway_event, load_handler, ROOT
handler = load_handler(ROOT / "functions" / sys.argv[1])
imported = time.perf_counter()
response = handler(api_gateway_event("GET", sys.argv[2]), LocalContext())
served = time.perf_counter()
print(json.dumps({"import_ms": (imported - started) * 1000, "first_request_ms": (served - imported) * 1000,
                  "status": response["statusCode"], "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

# One cheap GET per function: it exercises init, the router and (for most) a database round trip.
PROBES = {
    "link_banner": "/stores/1",
    "judge_comment": "/instagram-posts/1/good-comments",
    "fine_tuning_jobs": "/fine-tuning/jobs/ftjob-unknown",
    "upload_training_file": "/training-files/rejections",
}


def cold_start(function: str, path: str) -> dict[str, float]:
    samples = []
    for _ in range(RUNS):
        finished = subprocess.run(
            [sys.executable, "-c", COLD_START, function, path], cwd=ROOT, capture_output=True, text=True, check=True
        )
        samples.append(json.loads(finished.stdout.strip().splitlines()[-1]))
    return {key: statistics.median(sample[key] for sample in samples) for key in samples[0]}


BUILT = ROOT / ".aws-sam" / "build"


def built_import_ms(layer: Path, function: Path) -> float:
    """Import time of a built handler as Lambda loads it: read-only code, no bytecode written."""
    code = "import time; t = time.perf_counter(); import app; print((time.perf_counter() - t) * 1000)"
    environment = {**os.environ, "PYTHONPATH": f"{function}:{layer}", "PYTHONDONTWRITEBYTECODE": "1"}
    samples = [
        float(subprocess.run([sys.executable, "-c", code], cwd=function, env=environment, capture_output=True,
                             text=True, check=True).stdout.split()[-1])
        for _ in range(RUNS)
    ]
    return statistics.median(samples)


def built_layer_bytecode() -> tuple[float, float] | None:
    """Cold import of the built link-banner function with the layer's shipped bytecode, and without it."""
    layer, function = BUILT / "SharedLayer" / "python", BUILT / "LinkBannerFunction"
    if not layer.exists() or not function.exists():
        return None
    with tempfile.TemporaryDirectory() as scratch:
        bare = Path(scratch) / "python"
        shutil.copytree(layer, bare, ignore=shutil.ignore_patterns("__pycache__"))
        return built_import_ms(layer, function), built_import_ms(bare, function)


def warm_latency() -> dict[str, float]:
    from infra.local_api import LocalContext, api_gateway_event, load_handler

    handler = load_handler(ROOT / "functions" / "link_banner")

    def call(method, path, body=None):
        event = api_gateway_event(method, path, body=json.dumps(body) if body else None,
                                  headers={"content-type": "application/json"})
        return json.loads(handler(event, LocalContext())["body"] or "null")

    store = call("POST", "/stores", {"name": "Bench", "naver_store_id": f"bench-{time.time_ns()}"})
    banner = call("POST", f"/stores/{store['id']}/banners", {"image_url": "https://x.example/b.png"})
    for n in range(10):
        post = call("POST", "/instagram-posts", {"instagram_media_id": f"bench-{time.time_ns()}-{n}"})
        call("PUT", f"/banners/{banner['id']}/instagram-posts/{post['id']}")
    timings = []
    for _ in range(WARM_REQUESTS):
        started = time.perf_counter()
        call("GET", f"/banners/{banner['id']}")
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {
        "p50_ms": timings[len(timings) // 2],
        "p95_ms": timings[int(len(timings) * 0.95)],
        "p99_ms": timings[int(len(timings) * 0.99)],
    }


def token_counting() -> dict[str, float]:
    started = time.perf_counter()
    from shop_marketing.tokens import count_tokens, encoding

    encoding()
    loaded = time.perf_counter()
    comment = "너무 맘에드는 옷입니다! 근데 사장님 순대국 좋아하세요?"
    for _ in range(1000):
        count_tokens(comment)
    counted = time.perf_counter()
    return {"load_o200k_ms": (loaded - started) * 1000, "count_seed_comment_us": (counted - loaded) * 1000}


def main() -> None:
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "bench")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Bench")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    server, server_url = None, os.environ.get("DATABASE_URL")
    if not server_url:
        server, server_url = embedded_postgres.start()
    # A database of its own, so the figures neither read nor leave rows in anyone else's.
    os.environ["DATABASE_URL"] = embedded_postgres.create_database(server_url, "shop_marketing_bench")
    upgrade()
    try:
        functions = sorted({route.code_dir.name for route in routes_from_template()})
        print(f"cold start (median of {RUNS} fresh interpreters; import = Lambda init, then one GET)")
        print(f"  {'function':24} {'import ms':>10} {'1st req ms':>11} {'peak RSS MB':>12}")
        for function in functions:
            figures = cold_start(function, PROBES.get(function, "/"))
            print(f"  {function:24} {figures['import_ms']:10.0f} {figures['first_request_ms']:11.0f} {figures['rss_mb']:12.0f}")
        warm = warm_latency()
        print(f"warm GET /banners/{{id}} with 10 posts, {WARM_REQUESTS} requests: "
              f"p50 {warm['p50_ms']:.2f} ms, p95 {warm['p95_ms']:.2f} ms, p99 {warm['p99_ms']:.2f} ms")
        built = built_layer_bytecode()
        if built is None:
            print("built layer: run `make build` first to measure the shipped bytecode")
        else:
            print(f"built link_banner import (read-only, as in Lambda): {built[0]:.0f} ms with the layer's "
                  f"bytecode, {built[1]:.0f} ms without")
        tokens = token_counting()
        print(f"o200k_base: loaded in {tokens['load_o200k_ms']:.0f} ms; seed comment counted in "
              f"{tokens['count_seed_comment_us']:.1f} µs")
    finally:
        embedded_postgres.drop_database(server_url, os.environ["DATABASE_URL"])
        if server is not None:
            server.cleanup()


if __name__ == "__main__":
    main()
