"""Several app processes (issue 17): the events of the limits that hold across
processes (``domain.limits.DatabaseStore``), and uploads waiting for their
import where every process reads them (``pendingupload``).

Revision ID: 0018_shared_limits
Revises: 0016_partial_payment
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "0018_shared_limits"
# The coordinator re-chains the branches' migrations at merge.
down_revision: str | None = "0017_payment_connection"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sharedlimitkey",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index(op.f("ix_sharedlimitkey_name"), "sharedlimitkey", ["name"], unique=False)
    op.create_table(
        "sharedlimithit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_sharedlimithit_key"), "sharedlimithit", ["key"], unique=False)
    op.create_index(op.f("ix_sharedlimithit_name"), "sharedlimithit", ["name"], unique=False)
    op.create_index(op.f("ix_sharedlimithit_at"), "sharedlimithit", ["at"], unique=False)

    op.create_table(
        "pendingupload",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_pendingupload_organisation_id"), "pendingupload", ["organisation_id"], unique=False)
    op.create_index(op.f("ix_pendingupload_token_hash"), "pendingupload", ["token_hash"], unique=True)
    op.create_index(op.f("ix_pendingupload_created_at"), "pendingupload", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_pendingupload_created_at"), table_name="pendingupload")
    op.drop_index(op.f("ix_pendingupload_token_hash"), table_name="pendingupload")
    op.drop_index(op.f("ix_pendingupload_organisation_id"), table_name="pendingupload")
    op.drop_table("pendingupload")
    op.drop_index(op.f("ix_sharedlimithit_at"), table_name="sharedlimithit")
    op.drop_index(op.f("ix_sharedlimithit_name"), table_name="sharedlimithit")
    op.drop_index(op.f("ix_sharedlimithit_key"), table_name="sharedlimithit")
    op.drop_table("sharedlimithit")
    op.drop_index(op.f("ix_sharedlimitkey_name"), table_name="sharedlimitkey")
    op.drop_table("sharedlimitkey")
