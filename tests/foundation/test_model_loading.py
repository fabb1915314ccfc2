"""Modules and tables are loaded as the functions need them: the catalog function registers the
catalog's tables alone; ``Base`` from the models package, and any model module, come with every table
they name; a queue's modules load at its function's init, never in the HTTP function beside it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from infra.api_gateway import ROOT

CATALOG_TABLES = ["banner_instagram_posts", "instagram_posts", "naver_image_banners", "naver_products", "naver_stores"]


def probe(script: str) -> dict:
    """Run ``script`` in a fresh interpreter (the layer on its path); its last line is JSON."""
    environment = {
        **os.environ,
        "DATABASE_URL": "postgresql+pg8000://user@127.0.0.1:1/none",
        "PYTHONPATH": str(ROOT / "shared"),
    }
    finished = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300
    )
    assert finished.returncode == 0, finished.stderr
    return json.loads(finished.stdout.strip().splitlines()[-1])


def test_the_catalog_function_registers_the_catalogs_tables_alone():
    loaded = probe(r"""
import json, sys
sys.path.insert(0, "functions/link_banner")
import app
from shop_marketing.models.base import Base
print(json.dumps({"tables": sorted(Base.metadata.tables),
                  "modules": sorted(m for m in sys.modules if m.startswith("shop_marketing.models."))}))
""")

    assert loaded["tables"] == CATALOG_TABLES
    assert loaded["modules"] == ["shop_marketing.models.base", "shop_marketing.models.catalog"]


def test_base_from_the_models_package_comes_with_every_table_and_a_model_module_with_those_it_names():
    loaded = probe(r"""
import json
from shop_marketing.models.base import Base as bare
import shop_marketing.models.judging
named = sorted(bare.metadata.tables)
order = [table.name for table in bare.metadata.sorted_tables]  # resolves every foreign key
from shop_marketing.models import Base, Judge
print(json.dumps(
    {"named": named, "ordered": len(order), "all": sorted(Base.metadata.tables), "judge": Judge.__tablename__}
))
""")

    assert {"judgements", "judges", "instagram_comments", "training_files"} <= set(loaded["named"])
    assert loaded["ordered"] == len(loaded["named"])
    assert set(CATALOG_TABLES) < set(loaded["all"]) and {"banner_images", "fine_tuning_jobs", "golden_sets"} <= set(
        loaded["all"]
    )
    assert loaded["judge"] == "judges"


QUEUE_MODULES = {
    "judge_comment": ["aws_lambda_powertools.utilities.batch", "shop_marketing.judging.batch"],
    "judges": ["aws_lambda_powertools.utilities.batch", "shop_marketing.batches"],
}


@pytest.mark.parametrize(
    ("function", "handler", "loads_its_queues_modules"),
    [
        ("judge_comment", "app.lambda_handler", False),
        ("judge_comment", "app.queue_handler", True),
        ("judges", "app.lambda_handler", False),
        ("judges", "app.evaluation_queue_handler", True),
    ],
)
def test_a_queues_modules_load_at_its_functions_init_and_never_in_the_http_function_beside_it(
    function, handler, loads_its_queues_modules
):
    # One app.py serves an HTTP function and a queue function (template.yaml): the HTTP one never
    # processes a batch, and the queue one has its modules in its snapshot. Lambda names the handler in
    # _HANDLER.
    loaded = probe(rf"""
import json, os, sys
os.environ.update(OPENAI_API_KEY="sk-probe", _HANDLER="{handler}")
sys.path.insert(0, "functions/{function}")
import app
print(json.dumps({{"loaded": [name for name in {QUEUE_MODULES[function]!r} if name in sys.modules]}}))
""")

    assert loaded["loaded"] == (QUEUE_MODULES[function] if loads_its_queues_modules else [])
