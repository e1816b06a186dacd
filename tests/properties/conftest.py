"""Build the CEL environment once, before any property test runs: building it raises the
recursion limit (a celpy side effect), which Hypothesis reports as an error when it happens
inside a test. Auto-selection builds it on first use."""

from compiler.core.providers.selection import _environment

_environment()
