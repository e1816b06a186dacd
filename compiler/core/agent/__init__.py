"""The status agent, the pure half: desired status, provider readers, saturation."""
