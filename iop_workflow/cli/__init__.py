"""The ``iop`` command-line interface: parse arguments, call the API, render.

Start-up stays light: modules here import click and the pure domain at most;
the database layers (sqlalchemy, sqlmodel, alembic, structlog) are imported
inside the commands that need them, so ``iop --help``, ``iop workflow diagram``
and shell completion never load them.
"""
