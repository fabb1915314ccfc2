"""What Lambda's runtime does for a function, done in this process: import a handler from its code
directory as Lambda imports it, and the context object it is called with. The local run, its queues and
its token trigger share it.

In Lambda each function has an execution environment of its own, so Powertools keeps an invocation's log
keys (function name and request id, correlation id, cold start) process-wide. Here every function shares
one process and several run at once, in threads: a handler loaded here keeps its invocation's keys for
its own thread too (Powertools' thread-safe keys, which win over the process-wide ones), so each record
names the invocation that wrote it, not whichever started last.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from aws_lambda_powertools.logging.lambda_context import build_lambda_context_model
from aws_lambda_powertools.utilities.jmespath_utils import query

Handler = Callable[[Any, Any], Any]


def load_handler(code_dir: Path, handler: str = "app.lambda_handler"):
    """Import a function's handler from its code directory, as Lambda does, under a unique name."""
    module_name, _, attribute = handler.rpartition(".")
    module = _load_module(code_dir / f"{module_name}.py", f"lambda_{code_dir.name}_{module_name}")
    return with_invocation_log_keys(getattr(module, attribute))


def with_invocation_log_keys(handler: Handler) -> Handler:
    """``handler``, its invocations' log keys kept for the thread that runs each (see the module's text)."""
    cold = True  # this function's first invocation: its own cold start, not the process's

    @functools.wraps(handler)
    def invoke(event: Any, context: Any) -> Any:
        nonlocal cold
        # Imported here, not with this module: the layer's observability objects read the service name and
        # metrics namespace once, when first imported, and the local run and the bench set them after
        # importing this module (a metric flushed without a namespace fails the invocation).
        from shop_marketing.observability import CORRELATION_ID_PATH, logger

        correlation_id = query(envelope=CORRELATION_ID_PATH, data=event) if isinstance(event, dict) else None
        # The keys Powertools' inject_lambda_context appends, from the same context model it builds
        logger.thread_safe_append_keys(
            cold_start=cold, correlation_id=correlation_id, **build_lambda_context_model(context).__dict__
        )
        cold = False
        try:
            return handler(event, context)
        finally:
            logger.thread_safe_clear_keys()

    return invoke


def _load_module(path: Path, name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"not a Python module: {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        # A module that failed to start must not be found half-made by the next request.
        del sys.modules[name]
        raise
    return module


@dataclass
class LocalContext:
    """The parts of the Lambda context object that Powertools reads."""

    function_name: str = "local"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    aws_request_id: str = ""
    log_group_name: str = "local"
    log_stream_name: str = "local"
    timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        self.aws_request_id = self.aws_request_id or str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))
