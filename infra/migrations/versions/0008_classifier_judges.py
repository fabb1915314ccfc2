"""Classifier judges: a judge the product trains itself over text embeddings; its fitted weights.

Revision ID: 0008_classifier_judges
Revises: 0007_model_life_cycle
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0008_classifier_judges"
down_revision = "0007_model_life_cycle"
branch_labels = None
depends_on = None


def _replace_check(name: str, condition: str) -> None:
    op.drop_constraint(op.f(f"ck_judges_{name}"), "judges", type_="check")
    op.create_check_constraint(op.f(f"ck_judges_{name}"), "judges", condition)


def upgrade() -> None:
    _replace_check("style", "style IN ('fine_tuned', 'prompted', 'classifier')")
    _replace_check("output", "output IN ('label_token', 'structured', 'probability')")
    _replace_check(
        "prompted_has_examples", "style <> 'prompted' OR (examples_file_id IS NOT NULL AND example_count > 0)"
    )
    op.create_table(
        "judge_classifiers",
        sa.Column(
            "judge_id",
            sa.BigInteger,
            sa.ForeignKey("judges.id", ondelete="CASCADE", name="fk_judge_classifiers_judge_id"),
            nullable=False,
        ),
        sa.Column("dimensions", sa.Integer, nullable=False),
        sa.Column("weights", ARRAY(sa.Double), nullable=False),
        sa.Column("bias", sa.Double, nullable=False),
        sa.Column("regularisation_c", sa.Double, nullable=False),
        sa.Column("folds", sa.Integer, nullable=False),
        sa.Column("training_file_ids", ARRAY(sa.BigInteger), nullable=False),
        sa.Column("examples", sa.Integer, nullable=False),
        sa.Column("good_examples", sa.Integer, nullable=False),
        sa.Column("bad_examples", sa.Integer, nullable=False),
        sa.Column("cv_f1_good", sa.Double, nullable=False),
        sa.Column("cv_precision_good", sa.Double, nullable=False),
        sa.Column("cv_recall_good", sa.Double, nullable=False),
        sa.Column("embedding_tokens", sa.Integer, nullable=False),
        sa.Column("training_ms", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("judge_id", name="pk_judge_classifiers"),
        sa.CheckConstraint(
            "cardinality(weights) = dimensions", name=op.f("ck_judge_classifiers_weights_match_dimensions")
        ),
        sa.CheckConstraint("good_examples > 0 AND bad_examples > 0", name=op.f("ck_judge_classifiers_both_labels")),
    )


def downgrade() -> None:
    op.drop_table("judge_classifiers")
    op.execute("DELETE FROM judges WHERE style = 'classifier'")
    _replace_check(
        "prompted_has_examples", "style = 'fine_tuned' OR (examples_file_id IS NOT NULL AND example_count > 0)"
    )
    _replace_check("output", "output IN ('label_token', 'structured')")
    _replace_check("style", "style IN ('fine_tuned', 'prompted')")
