"""Alembic environment: uses the connection handed over by ``api.db.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from api.models import Base

target_metadata = Base.metadata
connection = context.config.attributes.get("connection")

if connection is None:  # `alembic` CLI use: take the URL from the -x argument or the config
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("alembic: pass the database with -x url=sqlite:///path/to/nonsite.db")
    engine = create_engine(url)
    with engine.begin() as own_connection:
        context.configure(connection=own_connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
