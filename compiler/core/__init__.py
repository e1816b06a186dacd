"""The pure core: specs in, objects and diagnostics out. No disk, network,
subprocess, clock or environment (import-linter enforces it for every module here)."""
