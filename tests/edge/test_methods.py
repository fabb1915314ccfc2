"""A method a path does not serve is 405, in the product's error shape, with the methods it does serve in
``Allow``, on every path of the template: also on a path of its own that a route with a parameter matches
too (``GET /judges/rollback`` is not ``GET /judges/{judge_id}`` with a bad id)."""

from __future__ import annotations

import json
import re
from collections import defaultdict

import pytest

from infra.api_gateway import routes_from_template
from infra.local_api import LocalApi

ROUTES = routes_from_template()
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")


def served() -> dict[str, set[str]]:
    methods: dict[str, set[str]] = defaultdict(set)
    for route in ROUTES:
        methods[route.path].add(route.method)
    return methods


def concrete(path: str) -> str:
    return re.sub(r"\{job_id\}", "ftjob-1", re.sub(r"\{\w+_id\}", "1", path))


WRONG = [(path, method) for path, methods in sorted(served().items()) for method in METHODS if method not in methods]


@pytest.fixture(scope="module")
def api(database_url):
    return LocalApi(ROUTES).load_all()


@pytest.mark.parametrize(("path", "method"), WRONG, ids=[f"{method} {path}" for path, method in WRONG])
def test_a_method_the_path_does_not_serve_is_405_naming_those_it_does(api, db, path, method):
    status, headers, body = api.invoke(method, concrete(path), {"Content-Type": "application/json"}, b"{}")

    assert (status, json.loads(body)["error"]["code"]) == (405, "method_not_allowed"), body
    assert set(headers["Allow"].split(", ")) == served()[path]
