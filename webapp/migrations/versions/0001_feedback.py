"""Feedback of visitors on recommended movies, and the rate-limit counters.

Revision ID: 0001_feedback
Revises:
Create Date: 2026-11-25
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_feedback"
down_revision = None
branch_labels = None
depends_on = None

# Written out rather than imported from webapp.db: a migration must keep creating what it
# created when it was written, whatever the code's tables look like later.
KINDS = ("pick", "loved", "not_for_me", "not_interested", "rated", "more_like_this", "undo")
SECTIONS = ("picks", "popular", "less_known", "marks")


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("visitor_id", sa.String(32), nullable=False),
        sa.Column("movie_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("rating", sa.Float(), nullable=True),
        sa.Column("build_id", sa.String(64), nullable=False),
        sa.Column("section", sa.String(16), nullable=False),
        sa.Column("rank", sa.SmallInteger(), nullable=False),
        sa.CheckConstraint(f"kind IN ({', '.join(repr(k) for k in KINDS)})",
                           name="ck_feedback_kind"),
        sa.CheckConstraint(f"section IN ({', '.join(repr(s) for s in SECTIONS)})",
                           name="ck_feedback_section"),
        sa.CheckConstraint("(kind = 'rated' AND rating IS NOT NULL AND rating >= 0.5 AND rating <= 5) "
                           "OR (kind <> 'rated' AND rating IS NULL)", name="ck_feedback_rating"),
        sa.CheckConstraint("rank >= 1", name="ck_feedback_rank"),
    )
    op.create_index("ix_feedback_visitor", "feedback", ["visitor_id", "id"])
    op.create_table(
        "rate_limits",
        sa.Column("limit_key", sa.String(40), primary_key=True),
        sa.Column("window_start", sa.BigInteger(), primary_key=True),
        sa.Column("hits", sa.Integer(), nullable=False),
    )
    op.create_index("ix_rate_limits_window", "rate_limits", ["window_start"])


def downgrade() -> None:
    op.drop_index("ix_rate_limits_window", table_name="rate_limits")
    op.drop_table("rate_limits")
    op.drop_index("ix_feedback_visitor", table_name="feedback")
    op.drop_table("feedback")
