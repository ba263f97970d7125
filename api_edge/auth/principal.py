"""Who is calling: the verified identity carried by an access token."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

SERVICE_ACCOUNT_PREFIX = "service-account-"


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    scopes: frozenset[str]
    client_id: str | None
    username: str | None
    token_id: str | None
    is_service: bool
    expires_at: int
    claims: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), repr=False)

    def has_scopes(self, *scopes: str) -> bool:
        return set(scopes) <= self.scopes

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Principal:
        """Build from claims whose signature, iss, aud and times were already verified."""
        scope = claims.get("scope")
        scopes = frozenset(scope.split()) if isinstance(scope, str) else frozenset()
        azp = _str_or_none(claims.get("azp"))
        client_claim = _str_or_none(claims.get("client_id"))
        username = _str_or_none(claims.get("preferred_username"))
        # Keycloak issues client-credentials tokens for the client's service-account user
        # (username "service-account-<client id>") and, through the service_account client
        # scope, a `client_id` claim. Tying the username to azp keeps a human user who merely
        # picked such a username from passing as a service.
        is_service = client_claim is not None or (
            azp is not None and username == f"{SERVICE_ACCOUNT_PREFIX}{azp}"
        )
        return cls(
            subject=str(claims["sub"]),
            scopes=scopes,
            client_id=azp or client_claim,
            username=username,
            token_id=_str_or_none(claims.get("jti")),
            is_service=is_service,
            expires_at=int(claims["exp"]),
            claims=MappingProxyType(dict(claims)),
        )


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
