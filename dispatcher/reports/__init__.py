"""Delivery reports: intake (webhook, poller), applying them (ingest), expiry sweep, export."""
