"""The HTTP server: ``iop serve`` (FastAPI over the same services as the CLI)."""
