"""The public keys manifest signatures are checked with: what an auditor needs to verify a case offline."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import TrustedKeysDep
from evidence import signing

router = APIRouter(prefix="/api/v1", tags=["integrity"])


class PublicKey(BaseModel):
    key_id: str = Field(..., description="First 16 hex digits of the SHA-256 of the raw public key")
    algorithm: str = Field(signing.ALGORITHM)
    public_key: str = Field(..., description="The raw 32-byte Ed25519 public key, base64")


@router.get("/keys", response_model=list[PublicKey], responses={503: {"description": "A key file is unreadable"}})
def keys(trusted: TrustedKeysDep) -> list[PublicKey]:
    """Every key whose manifest signatures this server trusts."""
    return [PublicKey(key_id=kid, public_key=signing.public_key_b64(key)) for kid, key in sorted(trusted.items())]
