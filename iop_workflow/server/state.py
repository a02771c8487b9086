"""What every request shares: the API object, settings, the limiter, the OIDC verifier, the metrics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import Request

from iop_workflow.api import Iop
from iop_workflow.server.metrics import Metrics
from iop_workflow.server.oidc import OidcVerifier
from iop_workflow.server.ratelimit import FailureLimiter
from iop_workflow.settings import Settings


@dataclass(slots=True, kw_only=True)
class Server:
    iop: Iop
    settings: Settings
    limiter: FailureLimiter
    oidc: OidcVerifier | None
    metrics: Metrics
    purged_at: datetime | None = None  # when this process last forgot expired idempotency keys


def server_of(request: Request) -> Server:
    """The :class:`Server` the request's application serves."""
    server: Server = request.app.state.server
    return server
