"""Who may import bank files and produce payout files: the operator.

Until the service has roles, the operator proves itself with a bearer secret
(``GTX_THB_OPERATOR_TOKEN``, sent as ``Authorization: Bearer <secret>``). This is the one
place that decides; a role system replaces this function and nothing else.

| reason | HTTP | refused when |
|---|---|---|
| `operator_not_configured` | 403 | no operator secret is configured: the operator endpoints are off |
| `operator_auth_required` | 401 | no bearer secret, or not the configured one |
"""

from __future__ import annotations

import secrets

from aggregator.config import ThbSettings
from aggregator.errors import AuthError, Forbidden


def require_operator(authorization: str | None, settings: ThbSettings) -> None:
    if not settings.operator_token:
        raise Forbidden("operator_not_configured", "set GTX_THB_OPERATOR_TOKEN to use the operator endpoints")
    scheme, _, secret = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(secret.strip().encode(),
                                                                 settings.operator_token.encode()):
        raise AuthError("operator_auth_required", "send the operator's secret as Authorization: Bearer <secret>")
