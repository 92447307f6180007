"""Camera URLs: only RTSP(S) is accepted, and the credentials in them never leave this module in clear.

A camera URL is a secret (it holds the camera's password) and an attack surface (FFmpeg would happily open
``http://``, ``file://`` or ``concat:`` targets for it). :func:`parse_stream_url` accepts ``rtsp://`` and
``rtsps://`` only; :attr:`StreamUrl.redacted` is the form for logs, errors, health and metrics;
:func:`scrub` removes the URL and its password (raw and percent-encoded) from any text, such as an FFmpeg error
message. A password may contain ``@``, ``:`` and ``.`` as typed; ``/``, ``?`` and ``#`` must be percent-encoded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

SCHEMES = ("rtsp", "rtsps")
# What the demuxer may open for a camera: RTSP over TCP/UDP/TLS and its RTP payloads, nothing else.
PROTOCOL_WHITELIST = "rtsp,rtsps,tcp,udp,tls,rtp,srtp"
HIDDEN = "***"


class StreamUrlError(ValueError):
    """The URL is not one nonsite will open; the message never contains the credentials."""


@dataclass(frozen=True)
class StreamUrl:
    scheme: str
    host: str
    port: int | None
    path: str  # with query, as given
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)

    @property
    def redacted(self) -> str:
        """The URL with its credentials hidden: safe for logs, errors, API answers and metrics."""
        userinfo = f"{HIDDEN}@" if self.username or self.password else ""
        return f"{self.scheme}://{userinfo}{self._hostport}{self.path}"

    @property
    def for_demuxer(self) -> str:
        """The URL FFmpeg opens: credentials percent-encoded, so an ``@`` or ``:`` in them is unambiguous."""
        userinfo = ""
        if self.username or self.password:
            userinfo = f"{quote(self.username, safe='')}:{quote(self.password, safe='')}@"
        return f"{self.scheme}://{userinfo}{self._hostport}{self.path}"

    @property
    def _hostport(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" if self.port is not None else host

    def __str__(self) -> str:
        return self.redacted

    def secrets(self) -> list[str]:
        """Every form of the credentials that could appear in a message, longest first."""
        user, password = quote(self.username, safe=""), quote(self.password, safe="")
        forms = {self.password, password, self.for_demuxer, f"{self.username}:{self.password}", f"{user}:{password}"}
        return sorted((s for s in forms if s and self.password), key=len, reverse=True)


def parse_stream_url(url: str) -> StreamUrl:
    """Checks and splits a camera URL; raises StreamUrlError (with the URL redacted) when it is not RTSP(S)."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:  # its message quotes the part it could not read, which may be the password
        raise StreamUrlError(
            f"not a valid stream URL ({_redact_guess(text)}): check the port, and percent-encode / ? # in the "
            "user name or password"
        ) from None
    if "@" in text.partition("://")[2] and "@" not in parts.netloc:
        # An @ after the host part: a password with an unencoded / ? or # split the URL in the wrong place.
        raise StreamUrlError(
            f"not a valid stream URL ({_redact_guess(text)}): percent-encode / ? # in the user name or password"
        )
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        shown = f"{scheme}://" if scheme else repr(_redact_guess(text))
        raise StreamUrlError(f"camera URLs must be rtsp:// or rtsps:// (got {shown}); video files are given as `path:`")
    if not parts.hostname:
        raise StreamUrlError(f"{scheme}:// URL has no host: {_redact_guess(text)}")
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return StreamUrl(
        scheme=scheme,
        host=parts.hostname,
        port=port,
        path=path or "/",
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
    )


def scrub(text: str, url: StreamUrl) -> str:
    """``text`` with every form of ``url``'s credentials replaced (FFmpeg puts the full URL in its errors)."""
    for secret in url.secrets():
        text = text.replace(secret, url.redacted if "://" in secret else HIDDEN)
    return text


def _redact_guess(text: str) -> str:
    """Best effort for a URL that did not parse: hide everything between ``//`` and the last ``@``."""
    scheme, sep, rest = text.partition("://")
    if not sep or "@" not in rest:
        return text
    return f"{scheme}://{HIDDEN}@{rest.rpartition('@')[2]}"
