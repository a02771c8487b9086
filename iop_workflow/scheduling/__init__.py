"""Adapters that drive the sweep services on a clock (APScheduler)."""
