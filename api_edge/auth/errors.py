"""Authentication and authorization failures, shaped for RFC 6750 responses."""

from __future__ import annotations

import re
from typing import Literal

REALM = "paystream"

# RFC 6750 section 3: error_description and scope values may not contain '"' or '\'
# (nor control characters); anything else would break the header grammar.
_UNSAFE_HEADER_CHARS = re.compile(r'[^\x20-\x21\x23-\x5b\x5d-\x7e]')


def _header_safe(value: str) -> str:
    return _UNSAFE_HEADER_CHARS.sub("", value)[:300]


def bearer_challenge(
    *,
    error: str | None = None,
    description: str | None = None,
    scope: str | None = None,
    realm: str = REALM,
) -> str:
    """Build a `WWW-Authenticate: Bearer ...` value."""
    parts = [f'realm="{_header_safe(realm)}"']
    if error:
        parts.append(f'error="{_header_safe(error)}"')
    if description:
        parts.append(f'error_description="{_header_safe(description)}"')
    if scope:
        parts.append(f'scope="{_header_safe(scope)}"')
    return "Bearer " + ", ".join(parts)


class AuthError(Exception):
    """A request is not authenticated (401) or not allowed (403).

    `reason` is the RFC 6750 error code (`invalid_token`, `insufficient_scope`) or None
    when the request simply carried no credentials, or for a plain ownership denial.
    """

    def __init__(
        self,
        status: Literal[401, 403],
        title: str,
        detail: str,
        *,
        reason: str | None = None,
        www_authenticate: str | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.reason = reason
        self.www_authenticate = www_authenticate

    @classmethod
    def missing_token(cls, realm: str = REALM) -> AuthError:
        # RFC 6750 3.1: no error code when the client sent no credentials at all.
        return cls(
            401,
            "Unauthorized",
            "This endpoint requires an OAuth 2.0 bearer token in the Authorization header "
            "(Authorization: Bearer <access token>).",
            reason=None,
            www_authenticate=bearer_challenge(realm=realm),
        )

    @classmethod
    def invalid_token(cls, description: str, realm: str = REALM) -> AuthError:
        return cls(
            401,
            "Invalid token",
            description,
            reason="invalid_token",
            www_authenticate=bearer_challenge(
                error="invalid_token", description=description, realm=realm
            ),
        )

    @classmethod
    def insufficient_scope(
        cls, missing: frozenset[str] | set[str], realm: str = REALM
    ) -> AuthError:
        needed = " ".join(sorted(missing))
        description = f"The access token lacks the required scope(s): {needed}."
        return cls(
            403,
            "Insufficient scope",
            description,
            reason="insufficient_scope",
            www_authenticate=bearer_challenge(
                error="insufficient_scope", description=description, scope=needed, realm=realm
            ),
        )

    @classmethod
    def forbidden(cls, detail: str = "You are not allowed to access this resource.") -> AuthError:
        # No WWW-Authenticate: a different token would not help, so no challenge is issued.
        return cls(403, "Forbidden", detail, reason=None, www_authenticate=None)


class IssuerUnavailableError(Exception):
    """The token issuer (its discovery document or JWKS) cannot be reached or is malformed.

    The application should answer 503: the client's token may be perfectly valid.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
