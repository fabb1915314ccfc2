"""Token counting with tiktoken's ``o200k_base`` (the encoding of gpt-4o and gpt-4o-mini).

The encoding file ships in ``tiktoken_cache/`` under the name tiktoken's cache gives it, so tiktoken
loads it with no network and still verifies it against the sha256 it expects. Imported only by the
functions that count tokens: loading the encoding costs a few hundred milliseconds once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from importlib.resources import files

import tiktoken

ENCODING_NAME = "o200k_base"
CACHE_DIR = files(__package__).joinpath("tiktoken_cache")

# OpenAI's chat format: every message is framed by 3 tokens (plus 1 if it carries a name), and every
# reply is primed with 3 more. This is what ``usage.prompt_tokens`` bills for a chat request.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3

_lock = threading.Lock()
_encoding: tiktoken.Encoding | None = None


def encoding() -> tiktoken.Encoding:
    global _encoding
    if _encoding is None:
        with _lock:
            if _encoding is None:
                os.environ["TIKTOKEN_CACHE_DIR"] = str(CACHE_DIR)
                _encoding = tiktoken.get_encoding(ENCODING_NAME)
    return _encoding


def count_tokens(text: str) -> int:
    """Tokens of ``text`` alone (special-token look-alikes are counted as plain text)."""
    return len(encoding().encode(text, disallowed_special=()))


def chat_prompt_tokens(messages: Iterable[Mapping[str, str]]) -> int:
    """Tokens OpenAI bills as ``prompt_tokens`` for a chat request with these messages."""
    total = REPLY_PRIMING_TOKENS
    for message in messages:
        total += TOKENS_PER_MESSAGE
        for key, value in message.items():
            total += count_tokens(value)
            if key == "name":
                total += TOKENS_PER_NAME
    return total


def single_token_id(text: str) -> int:
    """The id of ``text`` when it is exactly one token (the judge's labels are)."""
    ids = encoding().encode(text, disallowed_special=())
    if len(ids) != 1:
        raise ValueError(f"{text!r} is {len(ids)} tokens in {ENCODING_NAME}, not one")
    return ids[0]
