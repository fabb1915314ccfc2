"""The repository's documentation as the tests read it: README.md and the pages under docs/.

The README is short (what the product is, `make local` and `make test`, a map, links); what it used to
say at length now lives in docs/<page>.md. Tests that hold the documentation to the code read the page
that states the thing, or every page at once.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def pages() -> list[Path]:
    """README.md, then every page under docs/ in name order."""
    return [README, *sorted(DOCS.glob("*.md"))]


def page(name: str) -> str:
    """The text of docs/<name>.md (``page("README")`` is the README)."""
    path = README if name == "README" else DOCS / f"{name}.md"
    return path.read_text(encoding="utf-8")


def documentation() -> str:
    """README.md and every docs page, one after another: for what may be stated on any of them."""
    return "\n\n".join(path.read_text(encoding="utf-8") for path in pages())


def without_code(markdown: str) -> str:
    """The prose of a page: fenced code blocks and inline code removed (their brackets are not links)."""
    prose = re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", prose)


def headings(markdown: str) -> list[str]:
    """The text of each ATX heading outside code blocks."""
    prose = re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)
    return [match.group(1).strip() for match in re.finditer(r"^#{1,6}\s+(.+?)\s*#*$", prose, flags=re.M)]


def anchor(heading: str) -> str:
    """The fragment GitHub gives a heading: lower case, punctuation dropped, each space a hyphen."""
    text = re.sub(r"`", "", heading).strip().lower()
    text = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return text.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """Every fragment a link into this page may name (a repeated heading gets -1, -2, … as on GitHub)."""
    seen: dict[str, int] = {}
    names = set()
    for heading in headings(markdown):
        slug = anchor(heading)
        count = seen.get(slug, 0)
        names.add(slug if count == 0 else f"{slug}-{count}")
        seen[slug] = count + 1
    return names
