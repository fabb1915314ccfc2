"""ORM models, SQLAlchemy 2.0 typed style. Importing this package registers every table."""

from .base import MAX_ID, Base
from .catalog import InstagramPost, NaverImageBanner, NaverProduct, NaverStore, banner_instagram_posts
from .judge_model import JudgeModel
from .fine_tuning import FineTuningJob, TrainingFile, TrainingFileRejection  # noqa: F401 - registers the fine-tuning tables
from .judging import InstagramComment, Judgement  # noqa: F401 - registers the judging tables
from .banner_images import BannerImage  # noqa: F401 - registers the banner images table

__all__ = [
    "MAX_ID",
    "Base",
    "InstagramPost",
    "JudgeModel",
    "NaverImageBanner",
    "NaverProduct",
    "NaverStore",
    "banner_instagram_posts",
]
