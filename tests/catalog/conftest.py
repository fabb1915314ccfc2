import pytest

from tests.support.lambda_invoke import call_http, handler_of


class CatalogApi:
    """Calls the link-banner function's handler with API Gateway events."""

    def __init__(self):
        self.handler = handler_of("link_banner")

    def __call__(self, method, path, **kwargs):
        return call_http(self.handler, method, path, **kwargs)

    def created(self, path, body):
        result = self("POST", path, json=body)
        assert result.status == 201, result.body
        return result.json

    def store(self, naver_store_id="store-1", name="Sundae Closet"):
        return self.created("/stores", {"name": name, "naver_store_id": naver_store_id})

    def product(self, store_id, number="P-1", name="Linen shirt"):
        return self.created(f"/stores/{store_id}/products", {"naver_product_no": number, "name": name})

    def banner(self, store_id, title="Autumn"):
        return self.created(
            f"/stores/{store_id}/banners", {"image_url": "https://cdn.example.com/b.png", "title": title}
        )

    def post(self, media_id="ig-1"):
        return self.created("/instagram-posts", {"instagram_media_id": media_id, "caption": "new in"})


@pytest.fixture
def api(db):
    return CatalogApi()


@pytest.fixture
def idle_between_invocations(db, monkeypatch):
    """As between two invocations, when the execution environment was frozen: every pooled
    connection counts as idle long enough to be pinged before use (DB_PING_AFTER_IDLE_SECONDS=0;
    a frozen environment is idle far longer than the default)."""
    from shop_marketing.config import get_settings
    from shop_marketing.db import dispose_engine

    monkeypatch.setenv("DB_PING_AFTER_IDLE_SECONDS", "0")
    get_settings.cache_clear()
    dispose_engine()
    yield
    monkeypatch.delenv("DB_PING_AFTER_IDLE_SECONDS")
    get_settings.cache_clear()
    dispose_engine()
