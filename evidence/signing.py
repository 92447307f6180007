"""Ed25519 signatures over each violation's canonical manifest.

The locker signs the manifest's exact bytes (RFC 8785 canonical JSON) and stores the signature as its own
artifact, a small canonical JSON document naming the key (``key_id``, the public key) and the manifest's SHA-256.
Anyone holding the public key can check a manifest away from the server; the key id is the first 16 hex digits
of the SHA-256 of the raw public key, so the same key always has the same id.

The private key is a PKCS#8 PEM file: generated on first use with mode 0600, or supplied by the operator (then it
must not be readable by group or others). ``cryptography`` does the signing; nothing here is hand-rolled crypto.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from evidence.manifest import canonical_bytes
from evidence.store import atomic_write

ALGORITHM = "Ed25519"


class SigningKeyError(RuntimeError):
    """The signing key file cannot be used (unreadable, not an Ed25519 key, readable by others)."""


class SignatureError(ValueError):
    """A manifest signature that does not hold, with the reason."""


def key_id(public_key: Ed25519PublicKey) -> str:
    return hashlib.sha256(_raw(public_key)).hexdigest()[:16]


def public_key_b64(public_key: Ed25519PublicKey) -> str:
    return base64.b64encode(_raw(public_key)).decode()


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class ManifestSigner:
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    @classmethod
    def load_or_create(cls, path: Path) -> ManifestSigner:
        """The key at ``path``; a new one written there (0600, never overwritten) when there is none."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it a moment ago: use theirs
                return cls.load(path)
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
                fh.flush()
                os.fsync(fh.fileno())
        signer = cls.load(path)
        public = public_key_path(path)  # the half the API trusts and auditors check with: always the key in use
        if not public.exists() or public.read_bytes() != signer.public_pem():
            atomic_write(public, signer.public_pem())
        return signer

    @classmethod
    def load(cls, path: Path) -> ManifestSigner:
        try:
            mode = path.stat().st_mode
            data = path.read_bytes()
        except OSError as exc:
            raise SigningKeyError(f"cannot read the signing key {path}: {exc.strerror or exc}") from exc
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SigningKeyError(f"the signing key {path} is readable by others (mode {oct(mode & 0o777)}); chmod 600")
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise SigningKeyError(f"{path} is not an unencrypted PEM private key: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
        return cls(key)

    def public_pem(self) -> bytes:
        return self.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, manifest: bytes) -> bytes:
        """The signature document (canonical JSON) for these exact manifest bytes."""
        return canonical_bytes(
            {
                "algorithm": ALGORITHM,
                "key_id": self.key_id,
                "public_key": public_key_b64(self.public_key),
                "manifest_sha256": hashlib.sha256(manifest).hexdigest(),
                "signature": base64.b64encode(self.private_key.sign(manifest)).decode(),
            }
        )


def public_key_path(private_key_path: Path) -> Path:
    return private_key_path.with_suffix(".pub")


def trusted_keys(folder: Path) -> dict[str, Ed25519PublicKey]:
    """Every ``*.pub`` Ed25519 public key (PEM) in ``folder``, by key id; a file that is not one is an error."""
    keys: dict[str, Ed25519PublicKey] = {}
    for path in sorted(folder.glob("*.pub")) if folder.is_dir() else []:
        try:
            key = serialization.load_pem_public_key(path.read_bytes())
        except (OSError, ValueError, UnsupportedAlgorithm) as exc:
            raise SigningKeyError(f"{path} is not a readable PEM public key: {exc}") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise SigningKeyError(f"{path} holds a {type(key).__name__}, not an Ed25519 public key")
        keys[key_id(key)] = key
    return keys


def verify(manifest: bytes, signature_document: bytes, trusted: dict[str, Ed25519PublicKey]) -> str:
    """Check ``signature_document`` over ``manifest`` with a key from ``trusted`` (by key id); returns the key id.

    The public key carried inside the document is for readers without the API; it is never used here (only the
    trusted key of that id is)."""
    try:
        doc = json.loads(signature_document)
        algorithm, kid, digest, sig = (doc[k] for k in ("algorithm", "key_id", "manifest_sha256", "signature"))
    except (ValueError, KeyError, TypeError) as exc:
        raise SignatureError(f"the signature document cannot be read: {exc!r}") from exc
    if not all(isinstance(v, str) for v in (algorithm, kid, digest, sig)):
        raise SignatureError("the signature document's fields must be strings")
    if algorithm != ALGORITHM:
        raise SignatureError(f"unsupported signature algorithm {algorithm!r}")
    if digest != hashlib.sha256(manifest).hexdigest():
        raise SignatureError("the signature is for a different manifest (its SHA-256 does not match)")
    key = trusted.get(kid)
    if key is None:
        raise SignatureError(f"signed with key {kid}, which is not a trusted key")
    try:
        key.verify(base64.b64decode(sig, validate=True), manifest)
    except (InvalidSignature, ValueError) as exc:
        raise SignatureError(f"the signature does not match the manifest under key {kid}") from exc
    return str(kid)
