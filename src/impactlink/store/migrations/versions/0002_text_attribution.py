"""model v2: record and issue text, stored terms, per-record text matches; no link table

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _text(name: str) -> sa.Column[str]:
    return sa.Column(name, sa.Text(), nullable=False, server_default="")


def upgrade() -> None:
    with op.batch_alter_table("ticket") as batch:
        batch.add_column(_text("description"))
        batch.add_column(_text("terms"))
    with op.batch_alter_table("csat_response") as batch:
        batch.add_column(_text("terms"))
    with op.batch_alter_table("issue") as batch:
        batch.add_column(_text("body"))
        batch.add_column(_text("terms"))
    op.create_table(
        "record_match",
        sa.Column("kind", sa.String(length=1), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("candidates", sa.String(length=64), nullable=False),
        sa.Column("matches", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "record_id"),
    )
    op.drop_table("link")
    # Stored terms are made by the next cycle (store.terms), for every stored record.
    op.execute("DELETE FROM meta WHERE key IN ('link_fingerprint', 'reuse')")


def downgrade() -> None:
    op.create_table(
        "link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_key", sa.String(length=300), nullable=False),
        sa.Column("link_key", sa.Text(), nullable=False),
        sa.Column("features", sa.Text(), nullable=False),
        sa.Column("refs", sa.Text(), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("issue_key", "link_key", name="uq_link_issue_key"),
    )
    op.create_index("ix_link_issue_key", "link", ["issue_key"])
    op.drop_table("record_match")
    with op.batch_alter_table("issue") as batch:
        batch.drop_column("terms")
        batch.drop_column("body")
    with op.batch_alter_table("csat_response") as batch:
        batch.drop_column("terms")
    with op.batch_alter_table("ticket") as batch:
        batch.drop_column("terms")
        batch.drop_column("description")
