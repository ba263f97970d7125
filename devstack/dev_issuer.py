"""A small local OpenID Connect issuer shaped like Keycloak, for development and fast tests.

It serves, under `/realms/{realm}/`, the discovery document, the JWKS and a token endpoint
(`password` and `client_credentials` grants), and mints tokens with Keycloak's claim layout
(iss, aud, sub, azp, scope, exp, iat, jti, preferred_username, typ "Bearer"). The same
`DevIssuer` object mints tokens directly for tests and benchmarks.

Development credentials (public on purpose: they also live in the Keycloak realm export
`devstack/keycloak/paystream-realm.json`, and both issuers must never face a network):

- users (password grant through the public client `paystream-shop`):
  `shopper1` / `shopper1-password` (sub `cust-shopper1`),
  `shopper2` / `shopper2-password` (sub `cust-shopper2`);
  their tokens carry aud `paystream-api` and scopes
  `payments:read payments:write wallet:read wallet:write`.
- confidential client (client_credentials): `paystream-orchestrator-client` /
  `paystream-orchestrator-secret` (sub `svc-paystream-orchestrator-client`,
  preferred_username `service-account-paystream-orchestrator-client`);
  aud `paystream-orchestrator paystream-worker`, scopes `orchestrator:invoke orders:read
  wallet:admin` (Payments-A calling Payments-B, and B reading the worker views).
- confidential client (client_credentials): `paystream-merchant-backoffice` /
  `paystream-merchant-secret` (sub `svc-paystream-merchant-backoffice`); aud
  `paystream-api`, scope `merchant:payments` (register orders, capture, refund, reverse).
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import secrets
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, unquote_plus

import jwt
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from api_edge.auth.scopes import SHOPPER_SCOPES
from devstack.dev_realm import (
    API_AUDIENCE,
    DEFAULT_CLIENTS,
    DEFAULT_PORT,
    DEFAULT_REALM,
    DEFAULT_USERS,
    ORCHESTRATOR_CLIENT_ID,
    SERVICE_ACCOUNT_PREFIX,
    SHOP_CLIENT_ID,
    DevClient,
    DevUser,
    SigningKey,
)

# Keycloak puts these on every token from a client that has the `profile`/`email` scopes.
_BASE_SCOPES: Final = ("profile", "email")
_MAX_FORM_BYTES: Final = 16_384


class OAuthError(Exception):
    """An RFC 6749 section 5.2 token endpoint error."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(error)
        self.error = error
        self.description = description
        self.status = status


class DevIssuer:
    """The issuer's state (keys, users, clients) plus the ASGI app that serves it."""

    def __init__(
        self,
        base_url: str = f"http://127.0.0.1:{DEFAULT_PORT}",
        realm: str = DEFAULT_REALM,
        *,
        users: Iterable[DevUser] = DEFAULT_USERS,
        clients: Iterable[DevClient] = DEFAULT_CLIENTS,
        token_lifetime_seconds: int = 300,
        key_file: Path | None = None,
        with_es256_key: bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.realm = realm
        self.users = {user.username: user for user in users}
        self.clients = {client.client_id: client for client in clients}
        self.token_lifetime_seconds = token_lifetime_seconds
        self.key_file = key_file
        self._lock = threading.Lock()
        self.keys: list[SigningKey] = self._load_or_create_keys(with_es256_key)
        # Requests served, so tests can assert how often a verifier refetched the JWKS.
        self.jwks_requests = 0
        self.discovery_requests = 0
        self.app = self._build_app()

    # ----------------------------------------------------------------- keys

    def _load_or_create_keys(self, with_es256_key: bool) -> list[SigningKey]:
        if self.key_file is not None and self.key_file.exists():
            stored = json.loads(self.key_file.read_text())
            return [SigningKey.from_pem(k["kid"], k["alg"], k["pem"]) for k in stored["keys"]]
        keys = [SigningKey.generate("RS256")]
        if with_es256_key:
            keys.append(SigningKey.generate("ES256"))
        self._persist(keys)
        return keys

    def _persist(self, keys: Sequence[SigningKey]) -> None:
        if self.key_file is None:
            return
        self.key_file.parent.mkdir(parents=True, exist_ok=True)
        payload = {"keys": [{"kid": k.kid, "alg": k.alg, "pem": k.private_pem()} for k in keys]}
        # Created 0600 from the start: the file holds private keys.
        fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(payload, handle)

    def signing_key(self, alg: str = "RS256") -> SigningKey:
        """The newest key for `alg` (the one tokens are signed with)."""
        with self._lock:
            for key in reversed(self.keys):
                if key.alg == alg:
                    return key
        raise LookupError(f"no {alg} key")

    def rotate_key(self, alg: str = "RS256", *, keep_old: bool = True) -> SigningKey:
        """Add a new signing key (and publish it); old keys stay published unless told."""
        new = SigningKey.generate(alg)
        with self._lock:
            kept = [k for k in self.keys if keep_old or k.alg != alg]
            self.keys = [*kept, new]
            self._persist(self.keys)
        return new

    # ------------------------------------------------------------ documents

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/realms/{self.realm}"

    def openid_configuration(self) -> dict[str, Any]:
        oidc = f"{self.issuer}/protocol/openid-connect"
        return {
            "issuer": self.issuer,
            "token_endpoint": f"{oidc}/token",
            "jwks_uri": f"{oidc}/certs",
            "grant_types_supported": ["password", "client_credentials"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": sorted(
                {s for c in self.clients.values() for s in c.default_scopes | c.optional_scopes}
            ),
        }

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            return {"keys": [key.public_jwk() for key in self.keys]}

    # --------------------------------------------------------------- tokens

    def claims(
        self,
        *,
        subject: str = "cust-shopper1",
        scopes: Iterable[str] | str = SHOPPER_SCOPES,
        audience: str | Sequence[str] | None = API_AUDIENCE,
        issuer: str | None = None,
        client_id: str | None = SHOP_CLIENT_ID,
        username: str | None = "shopper1",
        expires_in: int | None = None,
        issued_at: int | None = None,
        not_before: int | None = None,
        extra: Mapping[str, Any] | None = None,
        drop: Iterable[str] = (),
        base_scopes: Sequence[str] = _BASE_SCOPES,
    ) -> dict[str, Any]:
        """Keycloak-shaped access-token claims; every field can be bent for a test."""
        now = int(time.time())
        iat = now if issued_at is None else issued_at
        scope_list = scopes.split() if isinstance(scopes, str) else sorted(scopes)
        claims: dict[str, Any] = {
            "exp": iat + (self.token_lifetime_seconds if expires_in is None else expires_in),
            "iat": iat,
            "jti": str(uuid.uuid4()),
            "iss": issuer or self.issuer,
            "sub": subject,
            "typ": "Bearer",
            "scope": " ".join([*base_scopes, *scope_list]),
        }
        if audience is not None:
            # Keycloak writes a single audience as a string and several as a list.
            claims["aud"] = audience if isinstance(audience, str) else list(audience)
        if client_id is not None:
            claims["azp"] = client_id
        if username is not None:
            claims["preferred_username"] = username
        if not_before is not None:
            claims["nbf"] = not_before
        claims.update(extra or {})
        for name in drop:
            claims.pop(name, None)
        return claims

    def sign(
        self,
        claims: Mapping[str, Any],
        *,
        alg: str = "RS256",
        kid: str | None = None,
        include_kid: bool = True,
        key: SigningKey | None = None,
    ) -> str:
        signer = key or self.signing_key(alg)
        headers: dict[str, Any] = {"typ": "JWT"}
        if include_kid:
            headers["kid"] = kid or signer.kid
        return jwt.encode(dict(claims), signer.private_key, algorithm=signer.alg, headers=headers)

    def mint(self, *, alg: str = "RS256", kid: str | None = None, include_kid: bool = True,
             **claim_options: Any) -> str:
        """A token signed by this issuer; `claim_options` are those of `claims()`."""
        return self.sign(self.claims(**claim_options), alg=alg, kid=kid, include_kid=include_kid)

    def mint_for_user(self, username: str, *, client_id: str = SHOP_CLIENT_ID,
                      scopes: Iterable[str] | None = None) -> str:
        """What the password grant would return for `username` through `client_id`."""
        user = self.users[username]
        client = self.clients[client_id]
        return self.sign(self._user_claims(user, client, scopes or client.default_scopes))

    def mint_for_service(self, client_id: str = ORCHESTRATOR_CLIENT_ID) -> str:
        """What the client-credentials grant would return for `client_id`."""
        client = self.clients[client_id]
        return self.sign(self._service_claims(client, client.default_scopes))

    # -------------------------------------------------------------- grants

    def _user_claims(self, user: DevUser, client: DevClient, scopes: Iterable[str]
                     ) -> dict[str, Any]:
        return self.claims(
            subject=user.subject,
            scopes=scopes,
            audience=_audience(client),
            client_id=client.client_id,
            username=user.username,
            extra={
                "email": user.email,
                "email_verified": True,
                "name": f"{user.given_name} {user.family_name}",
                "given_name": user.given_name,
                "family_name": user.family_name,
                "sid": str(uuid.uuid4()),
            },
        )

    def _service_claims(self, client: DevClient, scopes: Iterable[str]) -> dict[str, Any]:
        subject = client.service_account_subject or f"svc-{client.client_id}"
        return self.claims(
            subject=subject,
            scopes=scopes,
            audience=_audience(client),
            client_id=client.client_id,
            username=f"{SERVICE_ACCOUNT_PREFIX}{client.client_id}",
            extra={"client_id": client.client_id},
            base_scopes=("profile",),
        )

    def token_response(self, form: Mapping[str, str], authorization: str | None
                       ) -> dict[str, Any]:
        """Run the token endpoint's logic; raises OAuthError."""
        client = self._authenticate_client(form, authorization)
        grant_type = form.get("grant_type", "")
        if grant_type not in ("password", "client_credentials"):
            raise OAuthError("unsupported_grant_type", "Unsupported grant_type")
        if grant_type not in client.grant_types:
            raise OAuthError("unauthorized_client",
                             f"Client not allowed to use grant_type {grant_type}")
        scopes = self._granted_scopes(client, form.get("scope", ""))
        if grant_type == "password":
            user = self._authenticate_user(form.get("username", ""), form.get("password", ""))
            claims = self._user_claims(user, client, scopes)
        else:
            claims = self._service_claims(client, scopes)
        return {
            "access_token": self.sign(claims),
            "expires_in": claims["exp"] - claims["iat"],
            "refresh_expires_in": 0,
            "token_type": "Bearer",
            "not-before-policy": 0,
            "scope": claims["scope"],
        }

    def _authenticate_client(self, form: Mapping[str, str], authorization: str | None
                             ) -> DevClient:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
                basic_id, _, basic_secret = decoded.partition(":")
            except (ValueError, UnicodeDecodeError):
                raise OAuthError("invalid_client", "Malformed client credentials", 401) from None
            # RFC 6749 2.3.1: both halves are form-urlencoded before base64.
            client_id, secret = unquote_plus(basic_id), unquote_plus(basic_secret)
        client = self.clients.get(client_id or "")
        if client is None:
            raise OAuthError("invalid_client", "Invalid client or Invalid client credentials", 401)
        if client.secret is not None and not hmac.compare_digest(
            (secret or "").encode(), client.secret.encode()
        ):
            raise OAuthError("invalid_client", "Invalid client or Invalid client credentials", 401)
        return client

    def _authenticate_user(self, username: str, password: str) -> DevUser:
        user = self.users.get(username)
        # Compare against something even for unknown users, so timing does not reveal them.
        expected = user.password if user else secrets.token_urlsafe(16)
        if not hmac.compare_digest(password.encode(), expected.encode()) or user is None:
            raise OAuthError("invalid_grant", "Invalid user credentials", 401)
        return user

    @staticmethod
    def _granted_scopes(client: DevClient, requested: str) -> frozenset[str]:
        # Keycloak semantics: default scopes always; optional ones only when asked for;
        # OIDC's own scope names are accepted and ignored.
        asked = set(requested.split()) - {"openid", *_BASE_SCOPES}
        unknown = asked - client.default_scopes - client.optional_scopes
        if unknown:
            raise OAuthError("invalid_scope", "Invalid scopes: " + " ".join(sorted(unknown)))
        return client.default_scopes | (asked & client.optional_scopes)

    # ----------------------------------------------------------------- app

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="paystream dev OpenID Connect issuer", docs_url=None,
                      redoc_url=None, openapi_url=None)

        def check_realm(realm: str) -> None:
            if realm != self.realm:
                raise HTTPException(404, "Realm does not exist")

        @app.get("/realms/{realm}/.well-known/openid-configuration")
        async def discovery(realm: str) -> dict[str, Any]:
            check_realm(realm)
            self.discovery_requests += 1
            return self.openid_configuration()

        @app.get("/realms/{realm}/protocol/openid-connect/certs")
        async def certs(realm: str) -> dict[str, Any]:
            check_realm(realm)
            self.jwks_requests += 1
            return self.jwks()

        @app.post("/realms/{realm}/protocol/openid-connect/token")
        async def token(realm: str, request: Request) -> JSONResponse:
            check_realm(realm)
            body = await request.body()
            if len(body) > _MAX_FORM_BYTES:
                return _oauth_error(OAuthError("invalid_request", "Request too large"))
            parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
            if any(len(values) > 1 for values in parsed.values()):
                # RFC 6749 3.2: parameters must not be repeated.
                return _oauth_error(OAuthError("invalid_request", "Repeated parameter"))
            form = {name: values[0] for name, values in parsed.items()}
            try:
                payload = self.token_response(form, request.headers.get("authorization"))
            except OAuthError as exc:
                return _oauth_error(exc)
            return JSONResponse(
                payload, headers={"Cache-Control": "no-store", "Pragma": "no-cache"}
            )

        return app


def _audience(client: DevClient) -> str | list[str] | None:
    if not client.audiences:
        return None
    return client.audiences[0] if len(client.audiences) == 1 else list(client.audiences)


def _oauth_error(exc: OAuthError) -> JSONResponse:
    headers = {"Cache-Control": "no-store"}
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="paystream"'
    return JSONResponse({"error": exc.error, "error_description": exc.description},
                        status_code=exc.status, headers=headers)
