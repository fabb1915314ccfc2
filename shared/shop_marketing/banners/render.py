"""A good comment drawn as a banner image with Pillow.

The picture: a warm background with an accent bar and an opening quotation mark; the comment in the
text box, centred, as large as it fits; under a rule, the author's handle on the left and the store's
name on the right. Every piece of text is measured by its drawn (ink) bounding box before it is
placed, so nothing is drawn outside its box:

- the comment is wrapped at spaces, and a word wider than the box is broken between grapheme
  clusters (never inside one); the largest font size whose lines all fit is used;
- at the smallest size a longer comment shows as many lines as fit, the last ending in ``…`` cut at a
  cluster boundary; the handle and the store name are one line each, shortened the same way, and drawn
  by the comment's rules (:func:`.text.drawable_text`: emoji dropped, line breaks and tabs a space).

Pillow's own layout engine is used (Raqm where Pillow has it, else its basic one): Hangul syllables,
Latin and digits need no shaping, and the image key depends on the content, not on the pixels.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from .text import ELLIPSIS, FONT_DIRECTORY, FONT_FILE, clusters, drawable_text

# Part of every image key: bump it when the picture's design changes, so new images get new keys.
LAYOUT_VERSION = 1

BACKGROUND = (255, 247, 238)
ACCENT = (228, 87, 46)
TEXT = (43, 33, 24)
MUTED = (122, 106, 92)
RULE = (233, 220, 203)


@dataclass(frozen=True)
class Box:
    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    def contains(self, other: tuple[float, float, float, float]) -> bool:
        left, top, right, bottom = other
        return left >= self.left and top >= self.top and right <= self.right and bottom <= self.bottom


@dataclass(frozen=True)
class PlacedLine:
    text: str
    x: int
    y: int
    size: int


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    text_box: Box
    handle_box: Box
    store_box: Box
    lines: tuple[PlacedLine, ...]
    handle: PlacedLine | None
    store: PlacedLine | None
    truncated: bool


@dataclass(frozen=True)
class RenderedBanner:
    png: bytes
    layout: Layout


@lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_DIRECTORY.joinpath(FONT_FILE)), size)


def ink(text: str, size: int) -> tuple[int, int, int, int]:
    """The drawn bounding box of ``text`` at ``size``, relative to its left-ascender origin."""
    # Pillow types the box as floats (it allows fractional origins); drawn from the origin it is whole pixels.
    left, top, right, bottom = font(size).getbbox(text, anchor="la")
    return int(left), int(top), int(right), int(bottom)


def ink_width(text: str, size: int) -> int:
    left, _, right, _ = ink(text, size)
    return right - left


def line_height(size: int) -> int:
    ascent, descent = font(size).getmetrics()
    return ascent + descent


def shorten(text: str, size: int, width: int) -> str:
    """``text`` cut at a cluster boundary and ended with ``…`` so that it fits ``width``."""
    kept = clusters(text)
    while kept and ink_width("".join(kept).rstrip() + ELLIPSIS, size) > width:
        kept.pop()
    return "".join(kept).rstrip() + ELLIPSIS


def fit_line(text: str, size: int, width: int) -> str:
    return text if ink_width(text, size) <= width else shorten(text, size, width)


def wrap(text: str, size: int, width: int, max_lines: int) -> list[str]:
    """Greedy wrapping of ``text`` (lines separated by ``\\n``) into at most ``max_lines + 1`` lines."""
    lines: list[str] = []

    def push(line: str) -> bool:
        lines.append(line)
        return len(lines) > max_lines

    for paragraph in text.split("\n"):
        current = ""
        for word in paragraph.split(" "):
            if not word:
                continue
            candidate = f"{current} {word}" if current else word
            if ink_width(candidate, size) <= width:
                current = candidate
                continue
            if current and push(current):
                return lines
            current = ""
            if ink_width(word, size) <= width:
                current = word
                continue
            # A word wider than the box: break it between clusters, as many per line as fit.
            rest = clusters(word)
            while rest:
                count = _clusters_that_fit(rest, size, width)
                current, rest = "".join(rest[:count]), rest[count:]
                if rest and push(current):
                    return lines
        if current and push(current):
            return lines
    return lines


def _clusters_that_fit(parts: list[str], size: int, width: int) -> int:
    """How many leading clusters fit ``width`` (at least one: a single cluster is never split)."""
    # No glyph is narrower than a fifth of the size: a line never holds more clusters than this.
    low, high = 1, max(1, min(len(parts), width * 5 // max(1, size)))
    while low < high:
        middle = (low + high + 1) // 2
        if ink_width("".join(parts[:middle]), size) <= width:
            low = middle
        else:
            high = middle - 1
    return low


class BannerRenderer:
    """Renders banners of one size; the geometry is proportional to it."""

    def __init__(self, width: int = 1200, height: int = 628):
        self.width, self.height = width, height
        margin = round(min(width, height) * 0.07)
        footer = round(height * 0.16)
        quote_space = round(height * 0.10)
        inset = round(margin * 1.6)
        self.margin = margin
        self.quote_size = max(18, round(height * 0.16))
        self.text_box = Box(inset, margin + quote_space, width - inset, height - margin - footer)
        rule_y = height - margin - footer + round(footer * 0.3)
        self.rule = (inset, rule_y, width - inset, rule_y + max(1, height // 300))
        half = (width - 2 * inset) // 2
        self.footer_size = max(12, round(height * 0.045))
        footer_top = rule_y + round(footer * 0.15)
        footer_bottom = height - margin // 2
        self.handle_box = Box(inset, footer_top, inset + half - margin // 2, footer_bottom)
        self.store_box = Box(inset + half + margin // 2, footer_top, width - inset, footer_bottom)
        self.max_size = max(16, round(height * 0.085))
        self.min_size = max(12, round(height * 0.032))

    def _max_lines(self, size: int) -> int:
        pitch = round(line_height(size) * 1.2)
        return max(1, (self.text_box.height - line_height(size)) // pitch + 1)

    def _comment_lines(self, text: str) -> tuple[list[str], int, bool]:
        width = self.text_box.width
        # The largest size at which every line fits (binary search: fewer lines fit as the size grows).
        sizes = list(range(self.min_size, self.max_size + 1, 2))
        low, high, best = 0, len(sizes) - 1, None
        while low <= high:
            middle = (low + high) // 2
            size = sizes[middle]
            lines = wrap(text, size, width, self._max_lines(size))
            if len(lines) <= self._max_lines(size):
                best, low = (lines, size), middle + 1
            else:
                high = middle - 1
        if best is not None:
            return best[0], best[1], False
        size = self.min_size
        max_lines = self._max_lines(size)
        lines = wrap(text, size, width, max_lines)[:max_lines]
        lines[-1] = shorten(lines[-1], size, width)
        return lines, size, True

    def _centred(self, line: str, size: int, box: Box, y: int) -> PlacedLine:
        left, _, right, _ = ink(line, size)
        x = box.left + (box.width - (right - left)) // 2 - left
        return PlacedLine(line, x, y, size)

    def layout(self, text: str, handle: str, store: str) -> Layout:
        """Where every line goes. ``text`` must already be drawable (see :func:`.text.drawable_text`)."""
        if not text.strip():
            raise ValueError("nothing to draw")
        lines, size, truncated = self._comment_lines(text)
        pitch = round(line_height(size) * 1.2)
        block = (len(lines) - 1) * pitch + line_height(size)
        top = self.text_box.top + (self.text_box.height - block) // 2
        placed = tuple(
            self._centred(line, size, self.text_box, top + index * pitch) for index, line in enumerate(lines)
        )

        def footer_line(value: str, box: Box, align_right: bool) -> PlacedLine | None:
            # The comment's rules (emoji dropped, whitespace collapsed), on one line.
            value = drawable_text(value).replace("\n", " ")
            if not value:
                return None
            shown = fit_line(value, self.footer_size, box.width)
            left, _, right, _ = ink(shown, self.footer_size)
            x = box.right - right if align_right else box.left - left
            y = box.top + (box.height - line_height(self.footer_size)) // 2
            return PlacedLine(shown, x, y, self.footer_size)

        return Layout(
            width=self.width,
            height=self.height,
            text_box=self.text_box,
            handle_box=self.handle_box,
            store_box=self.store_box,
            lines=placed,
            handle=footer_line(handle, self.handle_box, align_right=False),
            store=footer_line(store, self.store_box, align_right=True),
            truncated=truncated,
        )

    def background(self) -> Image.Image:
        """The picture without any text of the comment, its author or its store."""
        image = Image.new("RGB", (self.width, self.height), BACKGROUND)
        draw = ImageDraw.Draw(image)
        draw.rectangle((0, 0, max(6, self.width // 100) - 1, self.height - 1), fill=ACCENT)
        draw.rectangle(self.rule, fill=RULE)
        draw.text(
            (self.text_box.left, self.margin // 2), "\u201c", font=font(self.quote_size), fill=ACCENT, anchor="la"
        )
        return image

    def render(self, text: str, handle: str, store: str) -> RenderedBanner:
        layout = self.layout(text, handle, store)
        image = self.background()
        draw = ImageDraw.Draw(image)
        for line in layout.lines:
            draw.text((line.x, line.y), line.text, font=font(line.size), fill=TEXT, anchor="la")
        for footer, colour in ((layout.handle, ACCENT), (layout.store, MUTED)):
            if footer is not None:
                draw.text((footer.x, footer.y), footer.text, font=font(footer.size), fill=colour, anchor="la")
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", optimize=True)
        return RenderedBanner(png=buffer.getvalue(), layout=layout)
