"""One readable line from a pydantic ValidationError, for dead letters and logs."""

from __future__ import annotations

from pydantic import ValidationError


def describe_validation_error(exc: ValidationError, whole: str = "(message)") -> str:
    """`field.path: message; ...` without the offending input (it may hold a nonce).

    `whole` names an error located on the message itself rather than on a field.
    """
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or whole}: {err['msg']}"
        for err in exc.errors(include_input=False, include_url=False)
    )
