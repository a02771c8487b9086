"""Reliability harnesses that run the real ``iop`` in subprocesses (``python -m tests.reliability.crash``)."""
