"""JSON a client sends, read without letting it crash the function or reach the database unstorable.

Python's ``json`` has three ways to fail that are not :class:`json.JSONDecodeError`: nesting deep
enough to exhaust the stack (``RecursionError``), an integer literal longer than the interpreter's
4,300-digit limit (``ValueError``), and strings PostgreSQL cannot store (a NUL character is SQLSTATE
22021; a lone surrogate cannot be encoded as UTF-8). :func:`loads` turns each into a
:class:`json.JSONDecodeError`, the error every caller already answers with 422 ``invalid_json``.
:func:`storable` is the same string rule for values that arrive another way (a queue message, a
JSONL line, a query parameter), as a pydantic validator.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import AfterValidator

# Far deeper than any body of this API; far shallower than the interpreter's recursion limit.
MAX_DEPTH = 64
# Ids are bigints (19 digits) and counts small; 100 digits is generous and cheap to convert.
MAX_INTEGER_DIGITS = 100
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class UnstorableText(ValueError):
    """A string with a NUL character or a lone surrogate: PostgreSQL's text cannot hold it."""


def check_text(value: str) -> str:
    match = UNSTORABLE.search(value)
    if match is not None:
        what = "a NUL character" if match.group() == "\x00" else "a lone surrogate (not valid Unicode)"
        raise UnstorableText(f"text contains {what} at position {match.start()}")
    return value


# A pydantic string type whose values can be stored: ``StorableStr = Annotated[str, storable]``.
storable = AfterValidator(check_text)
StorableStr = Annotated[str, storable]


class UnstorableJSON(json.JSONDecodeError):
    """Valid JSON holding a string PostgreSQL cannot store (NUL, a lone surrogate)."""


def _integer(literal: str) -> int:
    digits = len(literal.lstrip("-"))
    if digits > MAX_INTEGER_DIGITS:
        raise ValueError(f"an integer of {digits} digits (at most {MAX_INTEGER_DIGITS})")
    return int(literal)


def _depth_and_strings(document: str) -> None:
    """Refuse nesting past MAX_DEPTH before parsing (the parser itself recurses per level)."""
    depth = 0
    in_string = escaped = False
    for position, character in enumerate(document):
        if in_string:
            if escaped:
                escaped = False
            elif character == "\\":
                escaped = True
            elif character == '"':
                in_string = False
        elif character == '"':
            in_string = True
        elif character in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise json.JSONDecodeError(f"nested deeper than {MAX_DEPTH} levels", document, position)
        elif character in "]}":
            depth -= 1


def _walk(value: Any, document: str) -> None:
    """Every string (keys too) must be storable."""
    stack = [value]
    while stack:
        item = stack.pop()
        strings: tuple[str, ...]
        if isinstance(item, str):
            strings = (item,)
        elif isinstance(item, dict):
            strings = tuple(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            strings = ()
            stack.extend(item)
        else:
            continue
        for text in strings:
            try:
                check_text(text)
            except UnstorableText as error:
                raise UnstorableJSON(str(error), document, 0) from None


def loads(document: str | bytes | bytearray) -> Any:
    """``json.loads`` that fails only with :class:`json.JSONDecodeError` (see the module notes)."""
    if isinstance(document, (bytes, bytearray)):
        try:
            document = document.decode("utf-8")
        except UnicodeDecodeError as error:
            raise json.JSONDecodeError(f"not UTF-8 ({error.reason})", "", error.start) from None
    # Nesting is only possible with brackets; skip the scan for the flat bodies that are the rule.
    if document.count("[") + document.count("{") > MAX_DEPTH:
        _depth_and_strings(document)
    try:
        value = json.loads(document, parse_int=_integer)
    except RecursionError:  # belt and braces: the scan above should make this unreachable
        raise json.JSONDecodeError("nested too deeply", document, 0) from None
    except json.JSONDecodeError:
        raise
    except ValueError as error:  # an over-long integer literal
        raise json.JSONDecodeError(str(error), document, 0) from None
    _walk(value, document)
    return value
