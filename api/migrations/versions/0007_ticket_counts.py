"""Reads under load: indexes that match the ticket list's filters (newest first), and ticket counts per camera,
kind and status kept by triggers, so the list's total is a sum over a few rows instead of a scan of the table.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The list filters on status, kind and camera in any combination and pages by id, newest first.
INDEXES = {
    "ix_tickets_status_id": ("status", "id"),
    "ix_tickets_camera_status_id": ("camera", "status", "id"),
    "ix_tickets_kind_status_id": ("kind", "status", "id"),
}
REPLACED = ("ix_tickets_status", "ix_tickets_camera", "ix_tickets_kind")  # prefixes of the new ones

BUMP = (
    "INSERT INTO ticket_counts (camera, kind, status, n) VALUES ({row}.camera, {row}.kind, {row}.status, {delta}) "
    "ON CONFLICT (camera, kind, status) DO UPDATE SET n = ticket_counts.n + {delta}"
)
# (trigger, event, the statements it runs)
COUNTERS = (
    ("ticket_counts_insert", "AFTER INSERT ON tickets", (BUMP.format(row="NEW", delta=1),)),
    ("ticket_counts_delete", "AFTER DELETE ON tickets", (BUMP.format(row="OLD", delta=-1),)),
    (
        "ticket_counts_update",
        "AFTER UPDATE OF camera, kind, status ON tickets",
        (BUMP.format(row="OLD", delta=-1), BUMP.format(row="NEW", delta=1)),
    ),
)


def upgrade() -> None:
    op.create_table(
        "ticket_counts",
        sa.Column("camera", sa.String(128), primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("status", sa.String(32), primary_key=True),
        sa.Column("n", sa.Integer, nullable=False),
    )
    op.execute(
        "INSERT INTO ticket_counts (camera, kind, status, n) "
        "SELECT camera, kind, status, count(*) FROM tickets GROUP BY camera, kind, status"
    )
    for name in REPLACED:
        op.drop_index(name, table_name="tickets")
    for name, columns in INDEXES.items():
        op.create_index(name, "tickets", list(columns))
    postgresql = op.get_context().dialect.name == "postgresql"
    for name, event, statements in COUNTERS:
        if postgresql:
            body = "; ".join(statements)
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body}; RETURN NULL; END $$"
            )
            op.execute(f"CREATE TRIGGER {name} {event} FOR EACH ROW EXECUTE FUNCTION {name}()")
        else:
            op.execute(f"CREATE TRIGGER {name} {event} BEGIN {'; '.join(statements)}; END")


def downgrade() -> None:
    postgresql = op.get_context().dialect.name == "postgresql"
    for name, _event, _statements in COUNTERS:
        op.execute(f"DROP TRIGGER {name} ON tickets" if postgresql else f"DROP TRIGGER {name}")
        if postgresql:
            op.execute(f"DROP FUNCTION {name}()")
    for name in INDEXES:
        op.drop_index(name, table_name="tickets")
    for name in REPLACED:
        op.create_index(name, "tickets", [name.removeprefix("ix_tickets_")])
    op.drop_table("ticket_counts")
