"""The development realm both local issuers share: its users, clients and signing keys.

The dev issuer (`devstack.dev_issuer`) serves it; the Keycloak realm export
`devstack/keycloak/paystream-realm.json` holds the same users and clients. The values are
public on purpose and development-only: neither issuer may ever face a network.
"""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from api_edge.auth.scopes import (
    MERCHANT_SCOPES,
    ORCHESTRATOR_INVOKE,
    ORDERS_READ,
    SHOPPER_SCOPES,
    WALLET_ADMIN,
)

DEFAULT_REALM: Final = "paystream"
DEFAULT_PORT: Final = 8180
API_AUDIENCE: Final = "paystream-api"
SERVICE_AUDIENCE: Final = "paystream-orchestrator"
WORKER_AUDIENCE: Final = "paystream-worker"
SHOP_CLIENT_ID: Final = "paystream-shop"
ORCHESTRATOR_CLIENT_ID: Final = "paystream-orchestrator-client"
ORCHESTRATOR_CLIENT_SECRET: Final = "paystream-orchestrator-secret"  # dev only, see above
MERCHANT_CLIENT_ID: Final = "paystream-merchant-backoffice"
MERCHANT_CLIENT_SECRET: Final = "paystream-merchant-secret"  # dev only, see above
SERVICE_ACCOUNT_PREFIX: Final = "service-account-"


@dataclass(frozen=True)
class DevUser:
    username: str
    password: str = field(repr=False)
    subject: str
    email: str
    given_name: str
    family_name: str


@dataclass(frozen=True)
class DevClient:
    client_id: str
    secret: str | None = field(default=None, repr=False)
    grant_types: frozenset[str] = frozenset({"password"})
    default_scopes: frozenset[str] = frozenset()
    optional_scopes: frozenset[str] = frozenset()
    audiences: tuple[str, ...] = ()
    # Fixed so a service account's `sub` is as predictable as a shopper's.
    service_account_subject: str | None = None

    @property
    def public(self) -> bool:
        return self.secret is None


DEFAULT_USERS: Final[tuple[DevUser, ...]] = (
    DevUser("shopper1", "shopper1-password", "cust-shopper1", "shopper1@paystream.test",
            "Sam", "Shopper"),
    DevUser("shopper2", "shopper2-password", "cust-shopper2", "shopper2@paystream.test",
            "Alex", "Buyer"),
)

DEFAULT_CLIENTS: Final[tuple[DevClient, ...]] = (
    DevClient(
        SHOP_CLIENT_ID,
        grant_types=frozenset({"password"}),
        default_scopes=SHOPPER_SCOPES,
        audiences=(API_AUDIENCE,),
    ),
    DevClient(
        ORCHESTRATOR_CLIENT_ID,
        secret=ORCHESTRATOR_CLIENT_SECRET,
        grant_types=frozenset({"client_credentials"}),
        # One token for Payments-B and, through B, the worker views.
        default_scopes=frozenset({ORCHESTRATOR_INVOKE, ORDERS_READ, WALLET_ADMIN}),
        audiences=(SERVICE_AUDIENCE, WORKER_AUDIENCE),
        service_account_subject="svc-paystream-orchestrator-client",
    ),
    DevClient(
        MERCHANT_CLIENT_ID,
        secret=MERCHANT_CLIENT_SECRET,
        grant_types=frozenset({"client_credentials"}),
        default_scopes=MERCHANT_SCOPES,
        audiences=(API_AUDIENCE,),
        service_account_subject="svc-paystream-merchant-backoffice",
    ),
)


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = field(repr=False)

    @classmethod
    def generate(cls, alg: str = "RS256") -> SigningKey:
        private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
        if alg == "RS256":
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif alg == "ES256":
            private = ec.generate_private_key(ec.SECP256R1())
        else:
            raise ValueError(f"unsupported signing algorithm {alg}")
        return cls(_thumbprint_kid(private), alg, private)

    def public_jwk(self) -> dict[str, Any]:
        public = self.private_key.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(public))
        else:
            jwk = json.loads(ECAlgorithm.to_jwk(public))
        jwk.update({"kid": self.kid, "alg": self.alg, "use": "sig"})
        return jwk

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def private_pem(self) -> str:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    @classmethod
    def from_pem(cls, kid: str, alg: str, pem: str) -> SigningKey:
        private = serialization.load_pem_private_key(pem.encode(), password=None)
        if not isinstance(private, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError("unsupported key type in key file")
        return cls(kid, alg, private)


def _thumbprint_kid(private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    # RFC 7638-style: the kid is derived from the public key, so it changes with the key.
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return _b64url(hashlib.sha256(der).digest())[:22]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def client_credentials_token(issuer: str, client_id: str = ORCHESTRATOR_CLIENT_ID,
                             secret: str = ORCHESTRATOR_CLIENT_SECRET,
                             timeout: float = 10.0) -> str:
    """A client-credentials token from a running issuer (the dev issuer or Keycloak), for
    development tools that read the worker views as the orchestrator does."""
    request = urllib.request.Request(
        f"{issuer.rstrip('/')}/protocol/openid-connect/token",
        data=b"grant_type=client_credentials",
        headers={"Authorization": "Basic " + base64.b64encode(
            f"{client_id}:{secret}".encode()).decode(),
                 "Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        return str(json.loads(resp.read())["access_token"])


def service_headers(issuer: str) -> dict[str, str]:
    """Authorization headers for the worker views, with the dev orchestrator client."""
    return {"Authorization": f"Bearer {client_credentials_token(issuer)}"}
