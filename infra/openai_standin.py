"""A tiny OpenAI stand-in for trying the judge locally, with no key and no network.

    python -m infra.openai_standin --port 8080 --label good

answers every ``POST /v1/chat/completions`` with the given label, its probability as logprobs, and
``usage`` billed the way OpenAI bills a chat request (3 tokens per message plus its role and content,
plus 3 priming the reply; o200k_base). Point the judge at it with
``OPENAI_BASE_URL=http://127.0.0.1:8080/v1 OPENAI_API_KEY=sk-local JUDGE_MODEL=...``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from http.server import ThreadingHTTPServer
from typing import Any

from infra.loopback import LoopbackHandler
from shop_marketing.tokens import chat_prompt_tokens

CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")


def chat_completion(request: dict[str, Any], label: str, probability: float) -> dict[str, Any]:
    """The chat.completion OpenAI would return for ``request`` if the model answered ``label``."""
    prompt_tokens = chat_prompt_tokens(request["messages"])
    logprob = math.log(probability)
    token = {"token": label, "logprob": logprob, "bytes": list(label.encode())}
    return {
        "id": f"chatcmpl-standin-{time.time_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": label, "refusal": None},
                "logprobs": {"content": [{**token, "top_logprobs": [token]}], "refusal": None},
                "finish_reason": "length",
            }
        ],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 1, "total_tokens": prompt_tokens + 1},
    }


def make_server(label: str, probability: float, host: str = "127.0.0.1", port: int = 8080) -> ThreadingHTTPServer:
    class Handler(LoopbackHandler):
        protocol_version = "HTTP/1.1"

        def _reply(self, status: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path.partition("?")[0] not in CHAT_PATHS:
                self._reply(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
                return
            try:
                request = json.loads(raw)
                messages = request["messages"]
                request["model"]
            except (ValueError, KeyError, TypeError):
                self._reply(400, {"error": {"message": "model and messages are required", "type": "invalid_request_error"}})
                return
            if not isinstance(messages, list) or not messages:
                self._reply(400, {"error": {"message": "messages must be a non-empty list", "type": "invalid_request_error"}})
                return
            self._reply(200, chat_completion(request, label, probability))

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--label", default="good", help="what the model answers (try a non-label too)")
    parser.add_argument("--probability", type=float, default=0.9, help="the label's probability, 0 < p <= 1")
    arguments = parser.parse_args(argv)
    if not 0 < arguments.probability <= 1:
        parser.error("--probability must be in (0, 1]")
    server = make_server(arguments.label, arguments.probability, arguments.host, arguments.port)
    print(f"OpenAI stand-in answering {arguments.label!r} on http://{arguments.host}:{arguments.port}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
