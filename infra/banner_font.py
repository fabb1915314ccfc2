"""Writes the banner font's character coverage beside it: ``python -m infra.banner_font``.

The layer ships the font unmodified (NanumSquareR, SIL OFL 1.1, from Debian's fonts-nanum) and a
list of the code points it has glyphs for, as ``start-end`` hex ranges, so the renderer knows which
characters it can draw without shipping a font library. A test checks the list against the font.
"""

from __future__ import annotations

from pathlib import Path

from fontTools.ttLib import TTFont

FONTS = Path(__file__).resolve().parents[1] / "shared" / "shop_marketing" / "banners" / "fonts"
FONT = FONTS / "NanumSquareR.ttf"
COVERAGE = FONTS / "NanumSquareR.coverage"


def code_point_ranges(font: Path = FONT) -> list[tuple[int, int]]:
    points = sorted(TTFont(font).getBestCmap())
    ranges: list[tuple[int, int]] = []
    for point in points:
        if ranges and point == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], point)
        else:
            ranges.append((point, point))
    return ranges


def coverage_text(font: Path = FONT) -> str:
    return "".join(f"{start:04X}-{end:04X}\n" for start, end in code_point_ranges(font))


if __name__ == "__main__":
    COVERAGE.write_text(coverage_text())
    print(f"{COVERAGE.name}: {len(code_point_ranges())} ranges")
