"""The tamper-evident transition log: hash chain, verification, the structlog stream."""
