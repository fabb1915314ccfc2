"""Where banner images live: the banner-images bucket in AWS, a local directory for the local run.

An image's key is derived from its content, so storing the same image twice is a no-op: the object is
written only when it is not there yet. Images are immutable under their key, which lets CloudFront
(and browsers) cache them for a year.

In AWS the bucket is private and served by CloudFront through origin access control: a banner's
``image_url`` is stored in the database and handed to Naver, so it must stay valid for as long as the
banner exists — a presigned URL expires within days, a CloudFront URL does not.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

from ..aws_clients import aws_client
from ..config import Settings
from ..errors import ServiceUnavailable

CONTENT_TYPE = "image/png"
CACHE_CONTROL = "public, max-age=31536000, immutable"
LOCAL_BASE_URL = "http://127.0.0.1:3000/banner-images"


class BannerImagesNotConfigured(ServiceUnavailable):
    code = "banner_images_not_configured"


class BannerImageStorageUnavailable(ServiceUnavailable):
    code = "banner_image_storage_unavailable"


class ImageStore(Protocol):
    def put(self, key: str, png: bytes) -> None: ...

    def url(self, key: str) -> str: ...


class S3ImageStore:
    def __init__(self, bucket: str, base_url: str, client: Any = None):
        self.bucket = bucket
        self.base_url = base_url.rstrip("/")
        self._client = client

    @property
    def client(self) -> Any:
        return self._client if self._client is not None else aws_client("s3")

    def put(self, key: str, png: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            try:
                self.client.head_object(Bucket=self.bucket, Key=key)
                return
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                    raise
            self.client.put_object(
                Bucket=self.bucket, Key=key, Body=png, ContentType=CONTENT_TYPE, CacheControl=CACHE_CONTROL
            )
        except (BotoCoreError, ClientError) as error:
            raise BannerImageStorageUnavailable(
                f"The banner-images bucket could not be written: {type(error).__name__}.", retry_after=30
            ) from None

    def url(self, key: str) -> str:
        return f"{self.base_url}/{key}"


class LocalImageStore:
    """Images as files under a directory (``.local/banner-images`` for ``make local``)."""

    def __init__(self, directory: str | Path, base_url: str):
        self.directory = Path(directory)
        self.base_url = base_url.rstrip("/")

    def path(self, key: str) -> Path:
        return self.directory / key

    def put(self, key: str, png: bytes) -> None:
        target = self.path(key)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        # Written beside the target, then renamed: a reader never sees half an image.
        handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".part")
        with os.fdopen(handle, "wb") as file:
            file.write(png)
        os.replace(temporary, target)

    def url(self, key: str) -> str:
        return f"{self.base_url}/{key}"


def image_store(settings: Settings) -> ImageStore:
    if settings.banner_images_bucket:
        if not settings.banner_images_base_url:
            raise BannerImagesNotConfigured("BANNER_IMAGES_BASE_URL must be set with BANNER_IMAGES_BUCKET.")
        return S3ImageStore(settings.banner_images_bucket, settings.banner_images_base_url)
    if settings.banner_images_dir:
        return LocalImageStore(settings.banner_images_dir, settings.banner_images_base_url or LOCAL_BASE_URL)
    raise BannerImagesNotConfigured(
        "Banner images cannot be stored: BANNER_IMAGES_BUCKET (AWS) or BANNER_IMAGES_DIR (local) is not set."
    )
