"""ORM models, SQLAlchemy 2.0 typed style. Importing this package registers every table."""

from .base import MAX_ID, Base
from .catalog import InstagramPost, NaverImageBanner, NaverProduct, NaverStore, banner_instagram_posts
from .fine_tuning import (  # noqa: F401 - registers the fine-tuning tables
    FineTuningJob,
    TrainingExample,
    TrainingFile,
    TrainingFileRejection,
)
from .judging import InstagramComment, Judgement  # noqa: F401 - registers the judging tables
from .judges import (  # noqa: F401 - registers the judges tables
    Evaluation,
    EvaluationItem,
    GoldenExample,
    GoldenSet,
    Judge,
    JudgeActivation,
)
from .banner_images import BannerImage  # noqa: F401 - registers the banner images table

__all__ = [
    "MAX_ID",
    "Base",
    "InstagramPost",
    "NaverImageBanner",
    "NaverProduct",
    "NaverStore",
    "banner_instagram_posts",
]
