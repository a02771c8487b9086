"""``iop serve``: the HTTP API under uvicorn (FastAPI, sync handlers over the CLI's services)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from iop_workflow.cli.context import State, pass_state
from iop_workflow.errors import UsageError


@click.command()
@click.option("--host", metavar="ADDR", help="Address to listen on (default: [server].host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default: [server].port, 8080; 0: any free one).")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Worker processes (PostgreSQL only: SQLite has one writer).",
)
@click.option("--ssl-certfile", metavar="FILE", help="Serve HTTPS with this certificate (without a TLS proxy).")
@click.option("--ssl-keyfile", metavar="FILE", help="The certificate's private key.")
@pass_state
def serve(
    state: State,
    /,
    *,
    host: str | None,
    port: int | None,
    workers: int,
    ssl_certfile: str | None,
    ssl_keyfile: str | None,
) -> None:
    """Serve the HTTP API (see docs/service.md). The scheduler runs apart: `iop scheduler run`."""
    import os  # noqa: PLC0415

    import uvicorn  # noqa: PLC0415

    iop = state.iop  # connects (and fails with exit 8 on an unreachable database) before listening
    if workers > 1 and iop.app.db.dialect == "sqlite":
        raise UsageError(
            problem=(
                "--workers > 1 needs PostgreSQL: SQLite lets one process write at a time, so more workers would only "
                "wait on its lock; one worker already serves many requests at once in its thread pool"
            )
        )
    if bool(ssl_certfile) != bool(ssl_keyfile):
        raise UsageError(problem="--ssl-certfile and --ssl-keyfile go together")
    from iop_workflow.resources import require_regular  # noqa: PLC0415

    for name, value in (("--ssl-certfile", ssl_certfile), ("--ssl-keyfile", ssl_keyfile)):
        if value:
            require_regular(Path(value), field=name)
    server = iop.app.settings.server
    options: dict[str, Any] = {
        "host": host or server.host,
        "port": server.port if port is None else port,
        "ssl_certfile": ssl_certfile,
        "ssl_keyfile": ssl_keyfile,
        "log_level": "warning",
        "access_log": False,
        "server_header": False,
        "proxy_headers": False,
    }
    if workers > 1:
        # Each worker process connects for itself, as the settings and these variables say.
        os.environ["IOP_DATABASE_URL"] = iop.app.db.url
        if state.config:
            os.environ["IOP_CONFIG"] = state.config
        uvicorn.run("iop_workflow.server.app:create_app", factory=True, workers=workers, **options)
        return
    from iop_workflow.server.app import create_app  # noqa: PLC0415

    uvicorn.run(create_app(iop), **options)
