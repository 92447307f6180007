"""Violation life cycle: tickets learn updates and the end; every applied event is kept under its key.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("state", sa.String(16), nullable=False, server_default="open"))
        batch.add_column(sa.Column("revision", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("ended_at", sa.String(40), nullable=True))
    op.create_table(
        "violation_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("key", sa.String(128), nullable=False, unique=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("applied", sa.Boolean, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_violation_events_ticket_id", "violation_events", ["ticket_id"])
    # Tickets filed before this revision were created by their start under the ticket's own key.
    op.execute(
        "INSERT INTO violation_events (ticket_id, key, state, revision, applied, received_at) "
        "SELECT id, idempotency_key, 'start', 0, TRUE, created_at FROM tickets"
    )


def downgrade() -> None:
    op.drop_table("violation_events")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("ended_at")
        batch.drop_column("revision")
        batch.drop_column("state")
