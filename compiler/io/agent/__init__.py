"""The status agent, the edge: list/watch, leases, health, the Prometheus client."""
