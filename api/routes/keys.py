"""The public keys manifest signatures and audit checkpoints are checked with: what an auditor needs to verify a
case offline."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from api.deps import AuditMirrorDep, TrustedKeysDep
from evidence import signing

router = APIRouter(prefix="/api/v1", tags=["integrity"])


class PublicKey(BaseModel):
    purpose: str = Field(..., description="manifest (signed by a pipeline) or audit_checkpoint (signed by the API)")
    key_id: str = Field(..., description="First 16 hex digits of the SHA-256 of the raw public key")
    algorithm: str = Field(signing.ALGORITHM)
    public_key: str = Field(..., description="The raw 32-byte Ed25519 public key, base64")


@router.get("/keys", response_model=list[PublicKey], responses={503: {"description": "A key file is unreadable"}})
def keys(trusted: TrustedKeysDep, mirror: AuditMirrorDep) -> list[PublicKey]:
    """Every key whose manifest signatures this server trusts, and the key its audit checkpoints are signed with."""
    try:
        checkpoint_key = mirror.signer()
    except (signing.SigningKeyError, OSError) as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"the audit checkpoint key cannot be read: {exc}"
        ) from exc
    return [
        *(
            PublicKey(purpose="manifest", key_id=kid, public_key=signing.public_key_b64(key))
            for kid, key in sorted(trusted.items())
        ),
        PublicKey(
            purpose="audit_checkpoint",
            key_id=checkpoint_key.key_id,
            public_key=signing.public_key_b64(checkpoint_key.public_key),
        ),
    ]
