"""Judges as data: judges, their activations, judgements keyed by judge, kept training examples,
golden sets, evaluations and their items.

The old ``judge_models`` rows become ``fine_tuned`` judges (the latest activated one active, with an
activation each), and every judgement is re-keyed from its model to the judge of that model.

Revision ID: 0005_judges
Revises: 0004_fine_tuning
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005_judges"
down_revision = "0004_fine_tuning"
branch_labels = None
depends_on = None


def _id() -> sa.Column:
    return sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True)


def _created_at() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    # --- kept training files and their examples ------------------------------------------------
    op.add_column("training_files", sa.Column("uploaded", sa.Boolean, server_default=sa.true(), nullable=False))
    op.create_table(
        "training_examples",
        _id(),
        sa.Column(
            "training_file_id",
            sa.BigInteger,
            sa.ForeignKey("training_files.id", ondelete="CASCADE", name="fk_training_examples_training_file_id"),
            nullable=False,
        ),
        sa.Column("line", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("text_sha256", sa.String(64), nullable=False),
        sa.Column("label", sa.String(4), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_training_examples"),
        sa.UniqueConstraint("training_file_id", "line", name="uq_training_examples_training_file_id_line"),
        sa.CheckConstraint("label IN ('good', 'bad')", name=op.f("ck_training_examples_label")),
    )
    op.create_index("ix_training_examples_text_sha256", "training_examples", ["text_sha256"])

    # --- judges and their activations ---------------------------------------------------------
    op.create_table(
        "judges",
        _id(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("style", sa.String(20), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("endpoint", sa.String(64), server_default="openai", nullable=False),
        sa.Column("instructions", sa.Text, nullable=True),
        sa.Column(
            "examples_file_id",
            sa.BigInteger,
            sa.ForeignKey("training_files.id", ondelete="RESTRICT", name="fk_judges_examples_file_id"),
            nullable=True,
        ),
        sa.Column("example_count", sa.Integer, nullable=True),
        sa.Column("output", sa.String(20), server_default="label_token", nullable=False),
        sa.Column("reasoning_effort", sa.String(20), nullable=True),
        sa.Column("prices", JSONB, nullable=True),
        sa.Column("status", sa.String(20), server_default="candidate", nullable=False),
        sa.Column("unevaluated", sa.Boolean, server_default=sa.false(), nullable=False),
        sa.Column("source_job_id", sa.String(100), nullable=True),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_judges"),
        sa.UniqueConstraint("name", name="uq_judges_name"),
        # A finished fine-tuning job makes its judge once.
        sa.UniqueConstraint("source_job_id", name="uq_judges_source_job_id"),
        sa.CheckConstraint("style IN ('fine_tuned', 'prompted')", name=op.f("ck_judges_style")),
        sa.CheckConstraint("status IN ('candidate', 'active', 'retired')", name=op.f("ck_judges_status")),
        sa.CheckConstraint("output IN ('label_token', 'structured')", name=op.f("ck_judges_output")),
        sa.CheckConstraint(
            "style = 'fine_tuned' OR (examples_file_id IS NOT NULL AND example_count > 0)",
            name=op.f("ck_judges_prompted_has_examples"),
        ),
    )
    # Exactly one active judge: every active row has the same indexed value.
    op.create_index(
        "uq_judges_one_active", "judges", ["status"], unique=True, postgresql_where=sa.text("status = 'active'")
    )
    op.create_index("ix_judges_model", "judges", ["model"])
    op.create_table(
        "judge_activations",
        _id(),
        sa.Column(
            "judge_id",
            sa.BigInteger,
            sa.ForeignKey("judges.id", ondelete="CASCADE", name="fk_judge_activations_judge_id"),
            nullable=False,
        ),
        sa.Column(
            "previous_judge_id",
            sa.BigInteger,
            sa.ForeignKey("judges.id", ondelete="SET NULL", name="fk_judge_activations_previous_judge_id"),
            nullable=True,
        ),
        sa.Column("kind", sa.String(20), server_default="activation", nullable=False),
        sa.Column("forced", sa.Boolean, server_default=sa.false(), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("evaluation_id", sa.BigInteger, nullable=True),
        sa.Column("metrics", JSONB, nullable=True),
        sa.Column("rolled_back_at", sa.DateTime(timezone=True), nullable=True),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_judge_activations"),
        sa.CheckConstraint("kind IN ('activation', 'rollback')", name=op.f("ck_judge_activations_kind")),
    )
    op.create_index("ix_judge_activations_judge_id", "judge_activations", ["judge_id"])

    # The old active-model rows become fine_tuned judges; the latest activated one is active.
    op.execute(
        """
        INSERT INTO judges (name, style, model, status, unevaluated, source_job_id, created_at)
        SELECT model, 'fine_tuned', model,
               CASE WHEN row_number() OVER (ORDER BY activated_at DESC, id DESC) = 1 THEN 'active' ELSE 'retired' END,
               true, job_id, activated_at
        FROM judge_models
        """
    )
    op.execute(
        """
        INSERT INTO judge_activations (judge_id, kind, reason, created_at)
        SELECT judges.id, 'activation', 'activated before judges existed', judge_models.activated_at
        FROM judge_models JOIN judges ON judges.name = judge_models.model
        """
    )
    # Models that judged but were never activated (JUDGE_MODEL) get a judge too, so no verdict is lost.
    op.execute(
        """
        INSERT INTO judges (name, style, model, status, unevaluated)
        SELECT DISTINCT model, 'fine_tuned', model, 'candidate', true FROM judgements
        WHERE model NOT IN (SELECT name FROM judges)
        """
    )
    op.drop_table("judge_models")

    # --- judgements keyed by judge ----------------------------------------------------------------
    op.add_column(
        "judgements",
        sa.Column(
            "judge_id",
            sa.BigInteger,
            sa.ForeignKey("judges.id", ondelete="CASCADE", name="fk_judgements_judge_id"),
            nullable=True,
        ),
    )
    op.add_column("judgements", sa.Column("cached_prompt_tokens", sa.Integer, server_default="0", nullable=False))
    op.add_column("judgements", sa.Column("latency_ms", sa.Integer, nullable=True))
    op.execute(
        "UPDATE judgements SET judge_id = judges.id FROM judges "
        "WHERE judges.name = judgements.model AND judges.style = 'fine_tuned'"
    )
    op.alter_column("judgements", "judge_id", nullable=False)
    op.drop_constraint("uq_judgements_text_sha256_model", "judgements", type_="unique")
    op.create_unique_constraint("uq_judgements_judge_id_text_sha256", "judgements", ["judge_id", "text_sha256"])

    # --- golden sets ----------------------------------------------------------------------------
    op.create_table(
        "golden_sets",
        _id(),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("filename", sa.String(255), nullable=True),
        sa.Column("examples", sa.Integer, nullable=False),
        sa.Column("good_examples", sa.Integer, nullable=False),
        sa.Column("bad_examples", sa.Integer, nullable=False),
        sa.Column("overlap_with_training", sa.Integer, nullable=False),
        sa.Column("warnings", JSONB, server_default=sa.text("'[]'::jsonb"), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_golden_sets"),
        sa.UniqueConstraint("sha256", name="uq_golden_sets_sha256"),
    )
    op.create_table(
        "golden_examples",
        _id(),
        sa.Column(
            "golden_set_id",
            sa.BigInteger,
            sa.ForeignKey("golden_sets.id", ondelete="CASCADE", name="fk_golden_examples_golden_set_id"),
            nullable=False,
        ),
        sa.Column("line", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("text_sha256", sa.String(64), nullable=False),
        sa.Column("label", sa.String(4), nullable=False),
        # In a training file: reported, and left out of scoring.
        sa.Column("overlaps_training", sa.Boolean, server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_golden_examples"),
        sa.UniqueConstraint("golden_set_id", "line", name="uq_golden_examples_golden_set_id_line"),
        sa.CheckConstraint("label IN ('good', 'bad')", name=op.f("ck_golden_examples_label")),
    )

    # --- evaluations ------------------------------------------------------------------------------
    op.create_table(
        "evaluations",
        _id(),
        sa.Column(
            "judge_id",
            sa.BigInteger,
            sa.ForeignKey("judges.id", ondelete="CASCADE", name="fk_evaluations_judge_id"),
            nullable=False,
        ),
        sa.Column(
            "golden_set_id",
            sa.BigInteger,
            sa.ForeignKey("golden_sets.id", ondelete="CASCADE", name="fk_evaluations_golden_set_id"),
            nullable=False,
        ),
        sa.Column("status", sa.String(20), server_default="queued", nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("judged", sa.Integer, server_default="0", nullable=False),
        sa.Column("errors", sa.Integer, server_default="0", nullable=False),
        sa.Column("paid_calls", sa.Integer, server_default="0", nullable=False),
        sa.Column("metrics", JSONB, nullable=True),
        sa.Column("cost", JSONB, nullable=True),
        sa.Column("latency_ms", JSONB, nullable=True),
        # Set for the evaluation a finished fine-tuning job starts: promote by the rule when it succeeds.
        sa.Column("promote_when_done", sa.Boolean, server_default=sa.false(), nullable=False),
        sa.Column("outcome", sa.Text, nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_evaluations"),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed')", name=op.f("ck_evaluations_status")
        ),
    )
    op.create_index("ix_evaluations_judge_id", "evaluations", ["judge_id"])
    op.create_foreign_key(
        "fk_judge_activations_evaluation_id",
        "judge_activations",
        "evaluations",
        ["evaluation_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_table(
        "evaluation_items",
        sa.Column(
            "evaluation_id",
            sa.BigInteger,
            sa.ForeignKey("evaluations.id", ondelete="CASCADE", name="fk_evaluation_items_evaluation_id"),
            nullable=False,
        ),
        sa.Column(
            "golden_example_id",
            sa.BigInteger,
            sa.ForeignKey("golden_examples.id", ondelete="CASCADE", name="fk_evaluation_items_golden_example_id"),
            nullable=False,
        ),
        sa.Column("status", sa.String(10), server_default="pending", nullable=False),
        sa.Column("verdict", sa.String(4), nullable=True),
        sa.Column(
            "judgement_id",
            sa.BigInteger,
            sa.ForeignKey("judgements.id", ondelete="SET NULL", name="fk_evaluation_items_judgement_id"),
            nullable=True,
        ),
        sa.Column("paid", sa.Boolean, server_default=sa.false(), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("evaluation_id", "golden_example_id", name="pk_evaluation_items"),
        sa.CheckConstraint("status IN ('pending', 'judged', 'error')", name=op.f("ck_evaluation_items_status")),
    )


def downgrade() -> None:
    op.drop_table("evaluation_items")
    op.drop_constraint("fk_judge_activations_evaluation_id", "judge_activations", type_="foreignkey")
    op.drop_table("evaluations")
    op.drop_table("golden_examples")
    op.drop_table("golden_sets")
    op.create_table(
        "judge_models",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("job_id", sa.String(100), nullable=True),
        sa.Column("activated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.UniqueConstraint("model", name="uq_judge_models_model"),
    )
    op.create_index("ix_judge_models_activated_at", "judge_models", ["activated_at"])
    # The fine_tuned judges that were ever active become active models again (the active one last).
    op.execute(
        """
        INSERT INTO judge_models (model, job_id, activated_at)
        SELECT DISTINCT ON (judges.model) judges.model, judges.source_job_id,
               CASE WHEN judges.status = 'active' THEN now() ELSE judges.created_at END
        FROM judges WHERE judges.style = 'fine_tuned' AND judges.endpoint = 'openai'
          AND (judges.status = 'active' OR EXISTS (SELECT 1 FROM judge_activations a WHERE a.judge_id = judges.id))
        ORDER BY judges.model, judges.status = 'active' DESC
        """
    )
    # Verdicts of other judges cannot be keyed by model alone: only fine_tuned ones are kept.
    op.execute(
        "DELETE FROM judgements "
        "WHERE judge_id IN (SELECT id FROM judges WHERE style <> 'fine_tuned' OR endpoint <> 'openai')"
    )
    op.execute(
        "DELETE FROM judgements a USING judgements b"
        " WHERE a.model = b.model AND a.text_sha256 = b.text_sha256 AND a.id > b.id"
    )
    op.drop_constraint("uq_judgements_judge_id_text_sha256", "judgements", type_="unique")
    op.create_unique_constraint("uq_judgements_text_sha256_model", "judgements", ["text_sha256", "model"])
    op.drop_column("judgements", "latency_ms")
    op.drop_column("judgements", "cached_prompt_tokens")
    op.drop_column("judgements", "judge_id")
    op.drop_table("judge_activations")
    op.drop_table("judges")
    op.drop_table("training_examples")
    op.drop_column("training_files", "uploaded")
