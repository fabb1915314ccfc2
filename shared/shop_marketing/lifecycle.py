"""SnapStart: what an execution environment must not hand on to the copies restored from its snapshot.

With SnapStart, Lambda runs a function's init once, snapshots the memory, and starts every new
environment from that snapshot. Whatever init left open would be shared by all the copies: database
connections (the server sees one socket, many clients would write to it), the OpenAI client's pooled
connections, secrets read for the credentials of that moment, boto3 clients, and the random
generator's state (every copy would draw the same retry jitter). So, on both sides of the snapshot:

- before it: shared work done once (mappers configured, the o200k encoding loaded), then connections
  closed, secrets and clients forgotten, so none is in the snapshot;
- after each restore: the same again (a hook of another module may have opened one), and the random
  generator reseeded. The next request opens what it needs, with the secrets of that moment.

The hooks are registered when the package is imported (every handler imports it). The runtime's
``snapshot_restore_py`` runs them; off Lambda a registry of the same shape stands in, so tests and
the benchmarks can run them as the runtime does.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from typing import Any

try:  # part of Lambda's Python runtimes
    from snapshot_restore_py import (
        get_after_restore,
        get_before_snapshot,
        register_after_restore,
        register_before_snapshot,
    )
except ImportError:  # off Lambda: the same registry, run by run_before_snapshot / run_after_restore
    _before_snapshot: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []
    _after_restore: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []

    def register_before_snapshot(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
        _before_snapshot.append((func, args, kwargs))
        return func

    def register_after_restore(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
        _after_restore.append((func, args, kwargs))
        return func

    def get_before_snapshot() -> list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]]:
        return _before_snapshot

    def get_after_restore() -> list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]]:
        return _after_restore


def forget_connections_and_secrets() -> None:
    """Close and forget the database engine, the OpenAI client, cached secrets and AWS clients.

    Only what this environment has imported is touched: the catalog function never imports openai.
    """
    db = sys.modules.get(f"{__package__}.db")
    if db is not None:
        db.dispose_engine()
    openai_client = sys.modules.get(f"{__package__}.openai_client")
    if openai_client is not None:
        openai_client.reset_openai_client()
    aws_clients = sys.modules.get(f"{__package__}.aws_clients")
    if aws_clients is not None:
        aws_clients.forget_aws_clients()
    parameters = sys.modules.get("aws_lambda_powertools.utilities.parameters.base")
    if parameters is not None:
        # Cached secret values and the boto3 clients that fetched them.
        parameters.clear_caches()


def reseed_random() -> None:
    random.seed()


def prime_shared_state() -> None:
    """Work every restored copy would otherwise repeat and may share: mappers, the o200k encoding."""
    if f"{__package__}.models" in sys.modules:
        from sqlalchemy.orm import configure_mappers

        configure_mappers()
    tokens = sys.modules.get(f"{__package__}.tokens")
    if tokens is not None:
        tokens.encoding()


# Before the snapshot the hooks run last-registered first: prime, then forget.
register_before_snapshot(forget_connections_and_secrets)
register_before_snapshot(prime_shared_state)
register_after_restore(forget_connections_and_secrets)
register_after_restore(reseed_random)


def run_before_snapshot() -> None:
    """Run the before-snapshot hooks as the runtime does: last registered first."""
    for func, args, kwargs in reversed(get_before_snapshot()):
        func(*args, **kwargs)


def run_after_restore() -> None:
    """Run the after-restore hooks as the runtime does: in the order they were registered."""
    for func, args, kwargs in get_after_restore():
        func(*args, **kwargs)
