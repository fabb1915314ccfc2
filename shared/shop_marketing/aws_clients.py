"""boto3 clients, made when first used and shared by the execution environment's threads.

A function that never reaches AWS (the local run, most requests) never imports boto3, and one that does
makes each service's client once. SnapStart forgets them on both sides of the snapshot
(:mod:`.lifecycle`); tests forget them inside a fresh moto mock.
"""

from __future__ import annotations

import threading
from typing import Any, Literal

_lock = threading.Lock()
_clients: dict[str, Any] = {}
# The services the functions call.
Service = Literal["s3", "sqs"]


def aws_client(service: Service) -> Any:
    """This environment's client of ``service`` (``"s3"``, ``"sqs"``), made on first use."""
    client = _clients.get(service)
    if client is None:
        with _lock:
            client = _clients.get(service)
            if client is None:
                import boto3

                client = _clients[service] = boto3.client(service)
    return client


def forget_aws_clients() -> None:
    """Forget every client: the next use makes a new one (after a snapshot's restore, in a new mock)."""
    with _lock:
        _clients.clear()
