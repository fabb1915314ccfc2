"""ORM models, SQLAlchemy 2.0 typed style.

The catalog's tables are registered when this package is imported: every function uses them. The
others (fine-tuning, judging, judges, banner images, reviews, stored embeddings) are registered when
first asked for, by name from this package or by importing their module, each with the tables its
foreign keys name; so the catalog function does not pay for tables it never touches. ``Base`` asked of
this package comes with every table registered (migrations and schema checks see the whole schema);
:func:`load_all` does the same.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .base import MAX_ID
from .catalog import InstagramPost, NaverImageBanner, NaverProduct, NaverStore, banner_instagram_posts

# Models registered on first use, and the module of each.
_LATER = {
    "FineTuningJob": "fine_tuning",
    "TrainingExample": "fine_tuning",
    "TrainingFile": "fine_tuning",
    "TrainingFileRejection": "fine_tuning",
    "InstagramComment": "judging",
    "Judgement": "judging",
    "Evaluation": "judges",
    "EvaluationItem": "judging",
    "GoldenExample": "judges",
    "GoldenSet": "judges",
    "Judge": "judges",
    "JudgeActivation": "judges",
    "JudgeClassifier": "judges",
    "BannerImage": "banner_images",
    "CommentReview": "reviews",
    "StoredEmbedding": "embeddings",
}


def load_all() -> None:
    """Register every table of the product."""
    for module in sorted(set(_LATER.values())):
        import_module(f".{module}", __name__)


def __getattr__(name: str) -> Any:
    if name == "Base":
        load_all()
        return import_module(".base", __name__).Base
    if name in _LATER:
        return getattr(import_module(f".{_LATER[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MAX_ID",
    "Base",
    "InstagramPost",
    "NaverImageBanner",
    "NaverProduct",
    "NaverStore",
    "banner_instagram_posts",
    "load_all",
    *_LATER,
]
