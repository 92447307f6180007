"""Migrations are their own step: the API refuses an empty or older schema and says what to run;
``nonsite db upgrade`` brings it to the newest revision and is safe to repeat."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from api import db
from api.app import create_app
from pipeline.cli import main
from tests import postgres
from tests.conftest import settings_for


def _empty_database(tmp_path: Path) -> str:
    return postgres.server().new_database() if postgres.wanted() else f"sqlite:///{tmp_path / 'fresh.db'}"


def test_the_api_refuses_an_empty_database_and_db_upgrade_creates_the_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _empty_database(tmp_path)
    settings = settings_for(tmp_path, database_url=url)
    with pytest.raises(db.SchemaOutOfDate, match="no nonsite schema yet: run `nonsite db upgrade`"):
        create_app(settings)
    assert main(["db", "current", "--database-url", url]) == 1
    assert "revision (empty)" in capsys.readouterr().out
    assert main(["db", "upgrade", "--database-url", url]) == 0
    _, head = db.revisions(db.make_engine(url))
    assert f"upgraded from an empty database to revision {head}" in capsys.readouterr().out
    assert main(["db", "upgrade", "--database-url", url]) == 0  # idempotent
    assert "already at revision" in capsys.readouterr().out
    assert main(["db", "current", "--database-url", url]) == 0
    assert "up to date" in capsys.readouterr().out
    create_app(settings)  # now it starts


def test_an_older_schema_names_both_revisions_and_serve_exits_with_the_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _empty_database(tmp_path)
    engine = db.make_engine(url)
    config = db._alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
    _, head = db.revisions(engine)
    with pytest.raises(db.SchemaOutOfDate, match=f"at revision 0004 and this build needs {head}"):
        db.require_current_schema(engine)
    monkeypatch.setenv("NONSITE_DEVELOPMENT", "1")
    monkeypatch.setenv("NONSITE_EVIDENCE_DIR", str(tmp_path / "evidence"))
    assert main(["serve", "--database-url", url, "--port", "8998"]) == 2
    err = capsys.readouterr().err
    assert "run `nonsite db upgrade`" in err and "Traceback" not in err
    with pytest.raises(SystemExit, match="run `nonsite db upgrade`"):  # every server command checks it
        main(["users", "list", "--database-url", url])


def test_a_revision_this_build_does_not_know_is_not_mistaken_for_old(tmp_path: Path) -> None:
    url = _empty_database(tmp_path)
    engine = db.make_engine(url)
    db.migrate(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(db.SchemaOutOfDate, match="revision 9999, which this build does not know"):
        db.require_current_schema(engine)


def test_db_upgrade_on_an_unusable_database_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "not-a-db").write_bytes(b"this is not a database file" * 100)
    assert main(["db", "upgrade", "--database-url", f"sqlite:///{tmp_path / 'not-a-db'}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot migrate") and "Traceback" not in err
