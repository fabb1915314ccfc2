"""Renders the README's example banner with the product's own code: ``python -m infra.banner_example``."""

from __future__ import annotations

from pathlib import Path

from shop_marketing.banners.render import BannerRenderer
from shop_marketing.banners.text import drawable_text

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "banner-example.png"
COMMENT = (
    "린넨 셔츠인데 구김이 덜 가서 여름 내내 잘 입었어요 😍 세탁 후에도 핏이 그대로고, "
    "사이즈는 평소대로 M 샀는데 딱 맞아요. 다른 색도 재구매할게요!"
)


def main() -> None:
    banner = BannerRenderer().render(drawable_text(COMMENT), "@linen_lover", "순대 클로젯 Sundae Closet")
    EXAMPLE.parent.mkdir(exist_ok=True)
    EXAMPLE.write_bytes(banner.png)
    print(f"{EXAMPLE.name}: {len(banner.png)} bytes")


if __name__ == "__main__":
    main()
