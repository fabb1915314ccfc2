"""A comment's text as the banner can draw it: whole characters the font has, cleanly spaced.

The unit is the grapheme cluster (what a reader sees as one character: a Hangul syllable, a letter
with its accents, an emoji with its skin tone and joiners), found with ``regex``'s ``\\X``. Text is
only ever cut between clusters, so no character is drawn in half.

The font (NanumSquareR) draws Hangul, Latin and digits but has no emoji. A cluster it cannot draw is
handled the same way every time:

1. drawn as its compatibility decomposition without accents when the font has that (``é`` → ``e``,
   full-width ``Ａ`` → ``A``);
2. otherwise **dropped** — emoji, pictographs, scripts the font lacks — and the spaces around it
   collapse, so ``"최고예요 😍😍 또 살게요"`` is drawn ``"최고예요 또 살게요"``.

Line breaks are kept (runs of them become one), other whitespace becomes a single space.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_right
from functools import lru_cache
from importlib.resources import files

import regex

FONT_DIRECTORY = files(__package__).joinpath("fonts")
FONT_FILE = "NanumSquareR.ttf"
COVERAGE_FILE = "NanumSquareR.coverage"
ELLIPSIS = "…"

_CLUSTER = regex.compile(r"\X")
# Characters that only shape their neighbours (joiners, variation selectors): never drawn themselves.
_INVISIBLE = frozenset({"\u200c", "\u200d", "\ufe0e", "\ufe0f"})


class Coverage:
    """The code points the font has glyphs for."""

    def __init__(self, ranges: list[tuple[int, int]]):
        self._starts = [start for start, _ in ranges]
        self._ends = [end for _, end in ranges]

    @classmethod
    def parse(cls, text: str) -> Coverage:
        ranges = []
        for line in text.split():
            start, _, end = line.partition("-")
            ranges.append((int(start, 16), int(end or start, 16)))
        return cls(sorted(ranges))

    def has(self, character: str) -> bool:
        point = ord(character)
        index = bisect_right(self._starts, point) - 1
        return index >= 0 and point <= self._ends[index]

    def draws(self, cluster: str) -> bool:
        return all(self.has(character) for character in cluster)


@lru_cache(maxsize=1)
def font_coverage() -> Coverage:
    return Coverage.parse(FONT_DIRECTORY.joinpath(COVERAGE_FILE).read_text())


def clusters(text: str) -> list[str]:
    """The grapheme clusters of ``text``, in order."""
    return _CLUSTER.findall(text)


def _drawable_cluster(cluster: str, coverage: Coverage) -> str | None:
    visible = "".join(character for character in cluster if character not in _INVISIBLE)
    if not visible:
        return None
    if coverage.draws(visible):
        return visible
    plain = "".join(
        character for character in unicodedata.normalize("NFKD", visible) if not unicodedata.combining(character)
    )
    plain = unicodedata.normalize("NFC", plain)
    if plain and not plain.isspace() and coverage.draws(plain):
        return plain
    return None


def drawable_text(text: str, coverage: Coverage | None = None) -> str:
    """``text`` reduced to what the font draws (see the module's rules); may be empty."""
    coverage = coverage or font_coverage()
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    pieces: list[str] = []
    for cluster in clusters(text):
        if "\n" in cluster or cluster in ("\u2028", "\u2029"):
            pieces.append("\n")
        elif cluster.isspace():
            pieces.append(" ")
        elif unicodedata.category(cluster[0]) in ("Cc", "Cf", "Cs", "Co", "Cn") and len(cluster) == 1:
            continue
        else:
            drawn = _drawable_cluster(cluster, coverage)
            if drawn is not None:
                pieces.append(drawn)
            elif pieces and pieces[-1] != " " and pieces[-1] != "\n":
                # A dropped emoji between two words still separates them.
                pieces.append(" ")
    lines = [regex.sub(r" {2,}", " ", "".join(line_pieces)).strip() for line_pieces in _split_lines(pieces)]
    return "\n".join(line for line in lines if line)


def _split_lines(pieces: list[str]) -> list[list[str]]:
    lines: list[list[str]] = [[]]
    for piece in pieces:
        if piece == "\n":
            lines.append([])
        else:
            lines[-1].append(piece)
    return lines
