"""Rendering comments into banner images: every image decodes at its size, nothing drawn out of its box,
no character cut in half, no glyph the font lacks.

The corpus (over 50 comments, 1 to 2,200 characters) covers Hangul only, mixed scripts, emoji (with
skin tones, joiners, flags), line breaks, long unbroken strings, decomposed Hangul and accents, control
characters and scripts the font does not have. The checks do not trust the renderer's own report:
the pixels that differ from the empty design must lie inside the text boxes, and the characters drawn
are checked against the font file read with fontTools.
"""

from __future__ import annotations

import io
import random
import unicodedata
from functools import cache

import pytest
import regex
from fontTools.ttLib import TTFont
from PIL import Image, ImageChops, ImageDraw

from infra.banner_font import COVERAGE, FONT, coverage_text
from shop_marketing.banners.render import BannerRenderer, font
from shop_marketing.banners.text import ELLIPSIS, drawable_text

HANGUL = [chr(point) for point in range(0xAC00, 0xD7A4)]
WORDS = [
    "정말",
    "좋아요",
    "린넨",
    "셔츠",
    "사이즈",
    "배송",
    "빠르고",
    "재구매",
    "의사",
    "있어요",
    "핏이",
    "예뻐요",
    "세탁",
    "후에도",
    "그대로",
]
EMOJI = ["😍", "👍🏽", "❤️", "🙏", "👩‍👩‍👧‍👦", "🇰🇷", "🥹", "✨", "🔥", "😭"]
LATIN = ["linen", "shirt", "size", "M", "fits", "perfectly", "love", "it", "2nd", "order", "100%", "cotton", "café"]


def sentence(rng: random.Random, length: int, vocabulary: list[str]) -> str:
    words: list[str] = []
    while sum(len(word) + 1 for word in words) < length:
        words.append(rng.choice(vocabulary))
    return " ".join(words)[:length]


def corpus() -> list[tuple[str, str]]:
    rng = random.Random(20241010)
    cases: list[tuple[str, str]] = [
        ("one hangul syllable", "굿"),
        ("one latin letter", "a"),
        ("one digit", "7"),
        ("the seed's comment", "너무 맘에드는 옷입니다! 근데 사장님 순대국 좋아하세요?"),
        ("compatibility jamo", "ㅋㅋㅋㅋ 진짜 예뻐요 ㅠㅠ"),
        ("decomposed hangul (NFD)", unicodedata.normalize("NFD", "한글 자모로 풀어 쓴 후기입니다")),
        ("combining accent", "cafe\u0301 au lait 색감이 좋아요"),
        ("full-width latin", "ＢＥＳＴ 셔츠 ＥＶＥＲ"),
        ("emoji inside words", "최고예요😍😍또 살게요👍🏽"),
        ("zwj family, flag and skin tones", "가족 모두 입어요 👩‍👩‍👧‍👦 🇰🇷 👍🏿👍🏻"),
        ("emoji with variation selector", "❤️ 사랑해요 ☺️"),
        ("line breaks of every kind", "첫 줄\n둘째 줄\r\n셋째 줄\r넷째 줄\n\n\n\n다섯째 줄\u2028여섯째"),
        ("tabs and odd spaces", "탭\t으로\u3000나눈\u00a0후기   입니다"),
        ("control characters", "제어\x00문자\x07가\x1b섞인 후기\u200b입니다"),
        ("arabic and thai (not in the font)", "جميل جدا 좋아요 สวยมาก"),
        ("hanja", "韓國 品質 最高 좋아요"),
        ("a url", "https://smartstore.naver.com/sundae-closet/products/8812?utm_source=instagram&utm_medium=comment"),
        ("long hangul without spaces", "".join(rng.choice(HANGUL) for _ in range(2200))),
        ("long latin without spaces", "a" * 2200),
        ("long digits", "1234567890" * 220),
        ("long mixed unbroken", "".join(rng.choice(HANGUL + list("abcXYZ0123456789")) for _ in range(1500))),
        ("wide latin unbroken", "W" * 900),
        ("emoji only (nothing to draw)", "😍😍😍 🔥🔥"),
        ("hangul then a long word", "정말 좋아요 " + "가" * 300 + " 끝"),
    ]
    lengths = [1, 2, 5, 12, 30, 60, 90, 140, 200, 300, 450, 700, 1000, 1500, 2200]
    for length in lengths:
        cases.append((f"hangul only, {length}", sentence(rng, length, WORDS)))
    for length in lengths[2:]:
        mixed = WORDS + LATIN + [str(rng.randint(0, 9999))]
        cases.append((f"mixed, {length}", sentence(rng, length, mixed)))
    for length in (20, 80, 300, 1200, 2200):
        cases.append((f"emoji-heavy, {length}", sentence(rng, length, WORDS + EMOJI * 2)))
    for length in (50, 400, 2200):
        paragraphs = "\n".join(sentence(rng, rng.randint(5, 120), WORDS + LATIN) for _ in range(60))
        cases.append((f"many short lines, {length}", paragraphs[:length]))
    return cases


CORPUS = corpus()


@cache
def font_cmap() -> frozenset[int]:
    return frozenset(TTFont(FONT).getBestCmap())


@cache
def renderer(width: int = 1200, height: int = 628) -> BannerRenderer:
    return BannerRenderer(width, height)


def stripped(text: str) -> str:
    return "".join(character for character in text if not character.isspace())


def cluster_boundaries(text: str) -> set[int]:
    boundaries, offset = {0}, 0
    for cluster in regex.findall(r"\X", text):
        offset += len(cluster)
        boundaries.add(offset)
    return boundaries


def check_banner(
    text: str, width: int, height: int, handle: str = "@linen_lover", store: str = "순대 클로젯 Sundae Closet"
) -> None:
    banner_renderer = renderer(width, height)
    drawn_text = drawable_text(text)
    rendered = banner_renderer.render(drawn_text, handle, store)
    layout = rendered.layout

    # The image decodes and has the configured size.
    image = Image.open(io.BytesIO(rendered.png))
    image.load()
    assert image.format == "PNG" and image.size == (width, height)

    # Every drawn line's ink lies inside its box (measured the way Pillow draws it).
    measure = ImageDraw.Draw(Image.new("RGB", (width, height)))
    placed = [(line, layout.text_box) for line in layout.lines]
    footers = ((layout.handle, layout.handle_box), (layout.store, layout.store_box))
    placed += [(line, box) for line, box in footers if line is not None]
    for line, box in placed:
        bbox = measure.textbbox((line.x, line.y), line.text, font=font(line.size), anchor="la")
        assert box.contains(bbox), (line.text, bbox, box)

    # Independently of the layout's report: pixels that differ from the empty design are inside the boxes.
    difference = ImageChops.difference(image.convert("RGB"), banner_renderer.background())
    outside = difference.copy()
    for box in (layout.text_box, layout.handle_box, layout.store_box):
        outside.paste((0, 0, 0), (box.left, box.top, box.right, box.bottom))
    assert outside.getbbox() is None
    assert difference.crop(
        (layout.text_box.left, layout.text_box.top, layout.text_box.right, layout.text_box.bottom)
    ).getbbox()

    # Only characters the font has are drawn (no empty boxes), none of them cut in half.
    shown = "".join(line.text for line in layout.lines)
    assert all(ord(character) in font_cmap() for character in shown)
    lines = [line.text for line in layout.lines]
    assert all(line == line.strip() and line for line in lines)
    if layout.truncated:
        assert lines[-1].endswith(ELLIPSIS)
        lines[-1] = lines[-1].removesuffix(ELLIPSIS)
    assert ELLIPSIS not in "".join(lines) or ELLIPSIS in drawn_text
    prefix, whole = stripped("".join(lines)), stripped(drawn_text)
    assert whole.startswith(prefix)
    assert len(prefix) in cluster_boundaries(whole)
    if not layout.truncated:
        assert prefix == whole


@pytest.mark.parametrize(
    ("name", "text"),
    [case for case in CORPUS if drawable_text(case[1])],
    ids=[case[0] for case in CORPUS if drawable_text(case[1])],
)
def test_every_comment_renders_inside_its_box_without_cutting_a_character(name, text):
    assert 1 <= len(text) <= 2200
    check_banner(text, 1200, 628)


def test_the_corpus_is_at_least_fifty_comments_from_1_to_2200_characters():
    assert len(CORPUS) >= 50
    assert min(len(text) for _, text in CORPUS) == 1
    assert max(len(text) for _, text in CORPUS) == 2200


@pytest.mark.parametrize(("width", "height"), [(1080, 1080), (640, 360), (320, 240)])
@pytest.mark.parametrize(
    "name", ["the seed's comment", "long hangul without spaces", "emoji-heavy, 300", "line breaks of every kind"]
)
def test_other_configured_sizes_keep_every_rule(width, height, name):
    check_banner(dict(CORPUS)[name], width, height)


def test_emoji_the_font_lacks_are_dropped_consistently_and_spaces_collapse():
    assert drawable_text("최고예요 😍😍 또 살게요") == "최고예요 또 살게요"
    assert drawable_text("최고예요😍또 살게요") == "최고예요 또 살게요"
    assert drawable_text("가족 👩‍👩‍👧‍👦 모두") == "가족 모두"
    assert drawable_text("😍😍😍 🔥") == ""
    # What the font has is kept (full-width letters, ♥); else its compatibility form if the font has it: é → e.
    assert drawable_text("cafe\u0301 ＯＫ ♥ ﬁne") == "cafe ＯＫ ♥ fine"
    assert drawable_text(unicodedata.normalize("NFD", "한글")) == "한글"
    assert drawable_text("줄\r\n\n\n바꿈\t  여러   칸") == "줄\n바꿈 여러 칸"


@pytest.mark.parametrize(
    ("handle", "store"),
    [
        ("@linen_lover", "Sundae\nCloset\r\nSeoul"),  # a store's name is the shop's own text: line breaks too
        ("@linen_lover", "순대 클로젯 🍦\t아이스크림"),
        ("@linen_lover", "🍦🍦"),
        ("@린넨\n러버 😍", "Sundae Closet"),
        ("@" + "가" * 100, "S" * 300),
    ],
)
def test_the_handle_and_the_store_name_follow_the_comments_rules_on_one_line(handle, store):
    check_banner("린넨 셔츠 구김이 덜 가서 여름 내내 입었어요", 1200, 628, handle, store)
    layout = renderer().layout("린넨 셔츠", handle, store)
    footers = [line.text for line in (layout.handle, layout.store) if line is not None]
    assert all("\n" not in text and "\t" not in text and text == text.strip() for text in footers)
    assert all(ord(character) in font_cmap() for character in "".join(footers))


def test_a_long_comment_is_shortened_with_an_ellipsis_at_a_cluster_boundary():
    text = "가" * 2200
    layout = renderer().layout(drawable_text(text), "@a", "b")

    assert layout.truncated
    assert layout.lines[-1].text.endswith(ELLIPSIS)
    assert set("".join(line.text for line in layout.lines).removesuffix(ELLIPSIS)) == {"가"}


def test_the_shipped_coverage_list_is_the_fonts_own_cmap():
    assert COVERAGE.read_text() == coverage_text()


def test_the_font_ships_unmodified_with_its_licence_beside_it():
    names = TTFont(FONT)["name"]
    assert names.getDebugName(1) == "NanumSquare"
    licence = (FONT.parent / "OFL.txt").read_text()
    assert "SIL Open Font License" in licence or "SIL OPEN FONT LICENSE" in licence
    assert "NAVER Corporation" in licence
    assert FONT.stat().st_size < 1_000_000
