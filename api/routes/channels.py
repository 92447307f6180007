"""Channel health: the pipeline reports every few seconds; the operations centre reads it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session, defer
from starlette.concurrency import run_in_threadpool

from api.accounts import camera_clause, sees
from api.deps import AUTH_RESPONSES, Reporter, RoomForNonEvidence, SessionDep, SettingsDep, Watcher
from api.models import Channel
from api.schemas import CameraId, ChannelList, ChannelPublic, ChannelsReport

router = APIRouter(prefix="/api/v1/channels", tags=["channels"], responses=AUTH_RESPONSES)

MAX_SNAPSHOT_BYTES = 512 * 1024
JPEG_MAGIC = b"\xff\xd8\xff"
CameraPath = Annotated[CameraId, Path(description="Camera id, as in the pipeline's config.")]


@router.put(
    "",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        400: {"description": "The body is not JSON"},
        413: {"description": "The body is larger than the API accepts"},
        422: {"description": "Not a valid report"},
    },
)
def put_channels(report: ChannelsReport, session: SessionDep, _: Reporter) -> Response:
    """The pipeline's newest health of its cameras; each camera's row is replaced (latest report wins)."""
    now = datetime.now(UTC)
    for channel in report.channels:
        row = session.get(Channel, channel.camera_id)
        if row is None:
            row = Channel(camera_id=channel.camera_id)
            session.add(row)
        if row.reported_at is not None and row.reported_at > report.reported_at:
            continue  # an older report that arrived late
        row.status = channel.status
        row.report = channel.model_dump(mode="json")
        row.reported_at = report.reported_at
        row.received_at = now
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("", response_model=ChannelList)
def list_channels(session: SessionDep, settings: SettingsDep, user: Watcher) -> ChannelList:
    """Every camera that has reported, by id. A camera whose reports stopped shows ``offline`` and ``stale``."""
    stale_before = datetime.now(UTC) - timedelta(seconds=settings.channel_stale_s)
    items = []
    query = select(Channel).where(camera_clause(Channel.camera_id, user.cameras)).options(defer(Channel.snapshot))
    for row in session.scalars(query.order_by(Channel.camera_id)):
        stale = row.received_at < stale_before
        items.append(
            ChannelPublic.model_validate(
                row.report
                | {
                    "status": "offline" if stale else row.status,
                    "reported_status": row.status,
                    "reported_at": row.reported_at,
                    "stale": stale,
                    # Versioned: the browser keeps a snapshot until a newer one is stored.
                    "snapshot_url": f"/api/v1/channels/{row.camera_id}/snapshot?at={row.snapshot_at.timestamp():.0f}"
                    if row.snapshot_at
                    else None,
                }
            )
        )
    counts: dict[str, int] = {}
    for item in items:
        counts[item.status] = counts.get(item.status, 0) + 1
    return ChannelList(items=items, counts=counts)


@router.put(
    "/{camera_id}/snapshot",
    status_code=status.HTTP_204_NO_CONTENT,
    openapi_extra={"requestBody": {"content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}}},
    responses={
        404: {"description": "The camera has not reported its health yet"},
        413: {"description": "Larger than the API accepts"},
        415: {"description": "Not a JPEG image"},
        507: {"description": "The disk is below the reserve kept for evidence: snapshots are refused"},
    },
)
async def put_snapshot(
    camera_id: CameraPath, request: Request, session: SessionDep, _: Reporter, __: RoomForNonEvidence
) -> Response:
    """A small JPEG of the camera's newest frame, for the channel grid (the body is the image itself)."""
    image = await request.body()
    if not image.startswith(JPEG_MAGIC):
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "a snapshot must be a JPEG image")
    if len(image) > MAX_SNAPSHOT_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"a snapshot is at most {MAX_SNAPSHOT_BYTES} bytes")
    if not await run_in_threadpool(_store_snapshot, session, camera_id, image):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"camera {camera_id} has not reported its health yet")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _store_snapshot(session: Session, camera_id: str, image: bytes) -> bool:
    row = session.get(Channel, camera_id)
    if row is None:
        return False
    row.snapshot, row.snapshot_at = image, datetime.now(UTC)
    session.commit()
    return True


@router.get(
    "/{camera_id}/snapshot",
    responses={200: {"content": {"image/jpeg": {}}}, 404: {"description": "No snapshot of this camera"}},
)
def get_snapshot(camera_id: CameraPath, session: SessionDep, user: Watcher) -> Response:
    row = session.get(Channel, camera_id) if sees(user, camera_id) else None
    if row is None or row.snapshot is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no snapshot of camera {camera_id}")
    return Response(row.snapshot, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=600"})
