"""A real RTSP server for the tests (Debian's gst-rtsp-server through python3-gi), on 127.0.0.1 only.

Run with Debian's own interpreter, which has ``gi``::

    /usr/bin/python3 tests/rtsp_server.py --port 8554 [--user U --password P] [--fps 10] [--size 640x360]

Mounts:
- ``/cam``: a live H.264 test pattern (a moving ball), keyframe every second (a camera's sub-stream);
- ``/main``: the same pattern at ``--main-size`` (the camera's main stream, for evidence clips);
- ``/audio``: audio only (Opus), for the "camera sends no video" case;
- ``--file NAME=PATH`` (repeatable): ``/NAME`` streams the H.264 MP4 at PATH in real time, its own packets
  (``benchmarks/channels.py`` serves the real clips this way; make the file as long as the run).

Prints ``READY <port>`` on stdout once it listens. With ``--user``/``--password`` every mount needs HTTP Basic
credentials. Tests stop it with SIGTERM, freeze it with SIGSTOP/SIGCONT and kill it with SIGKILL.
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402 - after the version pins above

VIDEO = (
    "( videotestsrc is-live=true pattern=ball ! video/x-raw,width={w},height={h},framerate={fps}/1 "
    "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} bitrate=400 "
    "! rtph264pay name=pay0 pt=96 config-interval=1 )"
)
FILE = "( filesrc location={path} ! qtdemux ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 )"
AUDIO = "( audiotestsrc is-live=true ! audioconvert ! opusenc ! rtpopuspay name=pay0 pt=97 )"


def factory(launch: str, permissions: GstRtspServer.RTSPPermissions | None) -> GstRtspServer.RTSPMediaFactory:
    made = GstRtspServer.RTSPMediaFactory()
    made.set_launch(launch)
    made.set_shared(True)  # one encoder for every client
    if permissions is not None:
        made.set_permissions(permissions)
    return made


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--main-size", default="1280x720")
    parser.add_argument("--file", action="append", default=[], metavar="NAME=PATH", help="serve a file at /NAME")
    args = parser.parse_args()
    Gst.init(None)
    width, height = (int(v) for v in args.size.split("x"))
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    permissions = None
    if args.user is not None:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "viewer")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password or ""), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_role_from_structure(
            Gst.Structure.from_string(
                "viewer, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
            )[0]
        )
    mounts = server.get_mount_points()
    mounts.add_factory("/cam", factory(VIDEO.format(w=width, h=height, fps=args.fps), permissions))
    main_width, main_height = (int(v) for v in args.main_size.split("x"))
    mounts.add_factory("/main", factory(VIDEO.format(w=main_width, h=main_height, fps=args.fps), permissions))
    mounts.add_factory("/audio", factory(AUDIO, permissions))
    for spec in args.file:
        name, _, path = spec.partition("=")
        mounts.add_factory(f"/{name}", factory(FILE.format(path=path), permissions))
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 1
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    print(f"READY {args.port}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
