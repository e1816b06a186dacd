"""The in-cluster status agent: a pure status mapping and a thin watch loop."""
