"""The HTTP API (`smsdispatch api`): campaigns, messages, OTPs, operator control, the live
operations page at `/`, and Prometheus metrics at `/metrics`."""
