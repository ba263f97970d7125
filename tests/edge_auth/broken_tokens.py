"""Deliberately broken tokens from a dev issuer, for tests of what verifiers must refuse."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from devstack.dev_issuer import DevIssuer
from devstack.dev_realm import SigningKey


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json_b64(value: Mapping[str, Any]) -> str:
    return _b64url(json.dumps(value, separators=(",", ":")).encode())


def mint_alg_none(issuer: DevIssuer, **claim_options: Any) -> str:
    """An unsigned token (`alg: none`), which no verifier may accept."""
    header = {"alg": "none", "typ": "JWT", "kid": issuer.signing_key().kid}
    return f"{_json_b64(header)}.{_json_b64(issuer.claims(**claim_options))}."


def mint_hs256_with_public_key(issuer: DevIssuer, **claim_options: Any) -> str:
    """The key-confusion attack: HMAC-SHA256 keyed with the issuer's public key PEM.

    pyjwt refuses to produce this, so it is assembled by hand.
    """
    signer = issuer.signing_key()
    header = {"alg": "HS256", "typ": "JWT", "kid": signer.kid}
    signing_input = f"{_json_b64(header)}.{_json_b64(issuer.claims(**claim_options))}"
    mac = hmac.new(signer.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(mac)}"


def mint_with_foreign_key(issuer: DevIssuer, *, kid: str | None = None,
                          **claim_options: Any) -> str:
    """Signed by a key this issuer never published.

    With the default kid (the issuer's current one) the signature is simply wrong; with
    any other kid the key is unknown.
    """
    foreign = SigningKey.generate("RS256")
    return issuer.sign(issuer.claims(**claim_options), key=foreign,
                       kid=kid or issuer.signing_key().kid)
