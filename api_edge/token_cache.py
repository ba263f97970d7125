"""A TokenVerifier that remembers tokens it has already verified.

Every request of a shopper (and every A->B call) carries the same bearer token until it
expires; checking its signature once per minute instead of once per request keeps the
edge's CPU for real work. Entries never outlive the token's `exp`, are keyed by the full
token and audience, and only successful verifications are cached (a rejected token is
checked afresh, so a key rotation or a fixed clock is seen at once).
"""

from __future__ import annotations

import time
from collections import OrderedDict

from api_edge.auth import AuthSettings, JwksCache, Principal, TokenVerifier


class CachingTokenVerifier(TokenVerifier):
    def __init__(self, settings: AuthSettings, jwks: JwksCache | None = None, *,
                 cache_seconds: float = 60.0, max_entries: int = 10_000) -> None:
        super().__init__(settings, jwks)
        self.cache_seconds = cache_seconds
        self.max_entries = max_entries
        self._cache: OrderedDict[tuple[str, str | None], tuple[float, Principal]] = OrderedDict()

    async def verify(self, token: str, *, audience: str | None = None) -> Principal:
        key = (token, audience)
        now = time.time()
        hit = self._cache.get(key)
        if hit is not None:
            if now < hit[0]:
                return hit[1]
            del self._cache[key]
        principal = await super().verify(token, audience=audience)
        if self.cache_seconds > 0:
            # Not past exp (minus the leeway the verifier grants): a cached answer must
            # never accept a token the verifier itself would now refuse.
            until = min(now + self.cache_seconds, float(principal.expires_at))
            if until > now:
                self._cache[key] = (until, principal)
                while len(self._cache) > self.max_entries:
                    self._cache.popitem(last=False)
        return principal
