"""The edges: files, the cache store, worker processes, registries, the recipes API,
git, and the agent's cluster and Prometheus clients. Each calls into the core."""
