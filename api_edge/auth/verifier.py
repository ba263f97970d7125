"""Verification of OAuth 2.0 bearer access tokens (JWS, RS256/ES256) from the issuer."""

from __future__ import annotations

import logging
from typing import Any

import jwt
from jwt.exceptions import (
    DecodeError,
    ExpiredSignatureError,
    ImmatureSignatureError,
    InvalidAlgorithmError,
    InvalidAudienceError,
    InvalidIssuedAtError,
    InvalidIssuerError,
    InvalidSignatureError,
    InvalidTokenError,
    MissingRequiredClaimError,
)

from api_edge.auth.errors import AuthError
from api_edge.auth.jwks import JwksCache, UnknownKeyError
from api_edge.auth.principal import Principal
from api_edge.auth.settings import AuthSettings

log = logging.getLogger(__name__)

REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub")


class TokenVerifier:
    """Checks a compact JWS access token and returns the Principal it vouches for.

    Every failure is an `AuthError` (401, `invalid_token`) whose detail tells a client
    developer what to fix without echoing the token; issuer outages surface as
    `IssuerUnavailableError` so the application can answer 503 rather than blame the client.
    """

    def __init__(self, settings: AuthSettings, jwks: JwksCache | None = None) -> None:
        settings.required_issuer()
        self.settings = settings
        self.jwks = jwks if jwks is not None else JwksCache.from_settings(settings)
        self.realm = settings.realm_name

    async def verify(self, token: str, *, audience: str | None = None) -> Principal:
        """Verify `token` for `audience` (default: the API audience from the settings)."""
        expected_audience = audience or self.settings.audience
        header = self._checked_header(token)
        kid = header["kid"]
        try:
            key = await self.jwks.get_key(kid)
        except UnknownKeyError:
            raise self._invalid(
                "The access token is signed with an unknown key (kid); obtain a fresh token "
                "from the issuer."
            ) from None
        if key.algorithm_name != header["alg"]:
            raise self._invalid(
                f"The access token's alg {header['alg']} does not match its signing key."
            )
        claims = self._decode(token, key.key, header["alg"], expected_audience)
        token_type = claims.get("typ")
        # Keycloak marks access tokens "Bearer"; ID and refresh tokens carry other types and
        # must never open an API, even when signed by the same key.
        if token_type is not None and token_type != "Bearer":
            raise self._invalid("The token is not an access token (typ must be Bearer).")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise self._invalid("The access token has no usable sub claim.")
        scope = claims.get("scope")
        if scope is not None and not isinstance(scope, str):
            raise self._invalid("The access token's scope claim must be a space-separated string.")
        return Principal.from_claims(claims)

    def _checked_header(self, token: str) -> dict[str, Any]:
        if not token or len(token) > self.settings.max_token_bytes:
            raise self._invalid("The access token is empty or too large.")
        if token.count(".") != 2:
            raise self._invalid(
                "The access token is not a signed JWT (expected three dot-separated parts)."
            )
        try:
            header = jwt.get_unverified_header(token)
        except DecodeError:
            raise self._invalid(
                "The access token is malformed (its header cannot be decoded)."
            ) from None
        alg = header.get("alg")
        if not isinstance(alg, str) or not alg:
            raise self._invalid("The access token header has no alg.")
        if alg.lower() == "none":
            raise self._invalid("Unsigned tokens (alg none) are not accepted.")
        if alg.upper().startswith("HS"):
            # With HMAC the verification key is the signing key: a token "signed" with our
            # public key would verify unless symmetric algorithms are refused outright.
            raise self._invalid("Symmetric (HMAC) token signatures are not accepted.")
        if alg not in self.settings.algorithms:
            allowed = " or ".join(self.settings.algorithms)
            raise self._invalid(f"The token algorithm {alg} is not accepted; use {allowed}.")
        if "crit" in header:
            raise self._invalid("The token header has critical extensions this API cannot handle.")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise self._invalid("The access token header has no kid (key id).")
        return header

    def _decode(self, token: str, key: Any, alg: str, audience: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=audience,
                issuer=self.settings.issuer,
                leeway=self.settings.leeway_seconds,
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_signature": True,
                    "verify_exp": True,
                    "verify_nbf": True,
                    "verify_iat": True,
                    "verify_aud": True,
                    "verify_iss": True,
                },
            )
        except ExpiredSignatureError:
            raise self._invalid("The access token has expired; obtain a new one.") from None
        except ImmatureSignatureError:
            raise self._invalid(
                "The access token is not valid yet (nbf or iat lies in the future); check the "
                "clock of the machine that obtained it."
            ) from None
        except InvalidIssuedAtError:
            raise self._invalid("The access token's iat claim is not a timestamp.") from None
        except InvalidIssuerError:
            raise self._invalid(
                f"The access token was issued by an unexpected issuer; expected "
                f"{self.settings.issuer}."
            ) from None
        except InvalidAudienceError:
            raise self._invalid(
                f"The access token is not intended for this API; its aud must include "
                f"{audience}."
            ) from None
        except MissingRequiredClaimError as exc:
            raise self._invalid(f"The access token has no {exc.claim} claim.") from None
        except InvalidSignatureError:
            raise self._invalid("The access token signature is invalid.") from None
        except (InvalidAlgorithmError, DecodeError):
            raise self._invalid(
                "The access token is malformed or its signature is invalid."
            ) from None
        except InvalidTokenError as exc:
            log.info("rejected access token: %s", type(exc).__name__)
            raise self._invalid("The access token is invalid.") from None
        return claims

    def _invalid(self, description: str) -> AuthError:
        return AuthError.invalid_token(description, realm=self.realm)
