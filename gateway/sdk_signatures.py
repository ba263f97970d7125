"""The Braintree SDK's check of request parameters against its signatures, memoized.

Why: before every call the SDK flattens the operation's (static) signature and builds
and matches a regular expression for each of its wildcard keys, whether or not any
parameter is unknown: `Resource.verify_keys` took ~5 % of the worker's CPU under
`paystream bench executor`. The answer depends only on the signature and the flattened
parameter keys, so it is computed by the SDK once per distinct pair and remembered; an
invalid parameter still raises the SDK's own KeyError with the SDK's message.
"""

from __future__ import annotations

from typing import Any

from braintree.resource import Resource

# Bounded: parameter keys can embed list values, so the distinct pairs are not a fixed set.
MAX_ENTRIES = 512

_sdk_verify_keys = Resource.verify_keys
# Flattened keys -> [(signature, verdict)]. Signatures are compared by equality, not by
# their repr: the SDK builds an equal nested list of the same string constants on every
# call, which compares element by element on identity, while its repr cost more than the
# check it saved.
_verdicts: dict[tuple[str, ...], list[tuple[Any, str | None]]] = {}


_UNKNOWN = "<unknown>"


def _known_verdict(keys: tuple[str, ...], signature: Any) -> str | None:
    for seen, verdict in _verdicts.get(keys, ()):
        if seen == signature:
            return verdict
    return _UNKNOWN


def verify_keys(params: Any, signature: Any) -> None:
    keys = tuple(Resource._Resource__flattened_params_keys(params))
    verdict = _known_verdict(keys, signature)
    if verdict is _UNKNOWN:
        try:
            _sdk_verify_keys(params, signature)
            verdict = None
        except KeyError as exc:
            verdict = str(exc.args[0]) if exc.args else "Invalid keys"
        if len(_verdicts) >= MAX_ENTRIES:
            _verdicts.clear()
        _verdicts.setdefault(keys, []).append((signature, verdict))
    if verdict is not None:
        raise KeyError(verdict)


def install_signature_memo() -> None:
    """Route the SDK's parameter checks through `verify_keys` (idempotent)."""
    Resource.verify_keys = staticmethod(verify_keys)
