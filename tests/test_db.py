"""Migrations are their own step: the API refuses an empty or older schema and says what to run;
``nonsite db upgrade`` brings it to the newest revision and is safe to repeat."""

from __future__ import annotations

import fnmatch
import random
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from api import audit, crud, db
from api.app import create_app
from api.models import DecisionAction, Ticket, TicketStatus, User
from api.schemas import ViolationCreate
from evidence.types import ViolationKind
from pipeline.cli import main
from tests import postgres
from tests.conftest import make_event, settings_for


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
    db.migrate(engine, "0004")
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


def _file(session: Session, n: int, camera: str, kind: ViolationKind) -> Ticket:
    record = ViolationCreate.model_validate(
        make_event(str(uuid.UUID(int=n, version=4)), camera=camera, kind=kind).to_dict()
    )
    ticket, _ = crud.apply_event(session, key=record.key, record=record, sender=audit.Actor("pipeline", "pipeline"))
    return ticket


def test_the_list_total_is_kept_by_triggers_and_matches_a_count_for_every_filter(tmp_path: Path) -> None:
    """Migration 0007: tickets filed before it are counted (backfill); filing and deciding after it keep the
    per-camera counts right, for each filter and each reader's camera patterns."""
    url = _empty_database(tmp_path)
    engine = db.make_engine(url)
    db.migrate(engine, "0006")
    rng = random.Random(7)
    kinds = list(ViolationKind)
    plan = [(f"cam-{rng.choice('abc')}{rng.randint(1, 3)}", rng.choice(kinds)) for _ in range(60)]
    with db.session_factory(engine)() as session:  # the ORM's tickets table is the same before and after 0007
        for n, (camera, kind) in enumerate(plan[:30], start=1):
            session.execute(
                text(
                    "INSERT INTO tickets (violation_id, idempotency_key, kind, camera, zone, rule, track_id, label, "
                    "start_s, end_s, captured_at, status, violation, created_at, state, revision) VALUES "
                    "(:v, :k, :kind, :camera, 'z', 'r', 1, 'person', 0, 1, '2026-11-23T09:00:00+00:00', "
                    "'pending_review', '{}', '2026-11-23T09:00:00+00:00', 'open', 0)"
                ),
                {"v": f"before-{n}", "k": f"before-{n}", "kind": kind.value, "camera": camera},
            )
        session.commit()
    db.migrate(engine)
    officer = User(username="o", password_hash="x", role="officer", cameras=["*"])
    with db.session_factory(engine)() as session:
        for n, (camera, kind) in enumerate(plan[30:], start=31):
            ticket = _file(session, n, camera, kind)
            if n % 3 == 0:
                action = DecisionAction.CONFIRM if n % 2 else DecisionAction.REJECT
                crud.decide(session, ticket=ticket, action=action, reason="seen on the clip", officer=officer)
        filters: list[tuple[TicketStatus | None, str | None, str | None, tuple[str, ...]]] = [
            (None, None, None, ("*",)),
            (TicketStatus.PENDING_REVIEW, None, None, ("*",)),
            (TicketStatus.CONFIRMED, None, None, ("*",)),
            (None, kinds[0].value, None, ("*",)),
            (TicketStatus.PENDING_REVIEW, None, "cam-a1", ("*",)),
            (None, None, None, ("cam-a*", "cam-b2")),
            (TicketStatus.REJECTED, kinds[1].value, None, ("cam-c*",)),
        ]
        for status, wanted_kind, wanted_camera, cameras in filters:
            total, _ = crud.list_ticket_ids(
                session, status=status, kind=wanted_kind, camera=wanted_camera, cameras=cameras, limit=1
            )
            expected = sum(
                1
                for t in session.scalars(select(Ticket))
                if (status is None or t.status == status.value)
                and (wanted_kind is None or t.kind == wanted_kind)
                and (wanted_camera is None or t.camera == wanted_camera)
                and any(fnmatch.fnmatchcase(t.camera, p) for p in cameras)
            )
            assert total == expected, (status, wanted_kind, wanted_camera, cameras)
        decided = session.scalar(select(func.count()).select_from(Ticket).where(Ticket.status != "pending_review"))
        assert decided == 10  # the scenario did change statuses
