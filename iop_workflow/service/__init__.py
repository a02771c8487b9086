"""Application services: one database transaction per command."""
