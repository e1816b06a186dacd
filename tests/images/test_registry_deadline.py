"""Per-read timeouts are not a deadline: a registry that sends one byte a second kept `lock`
waiting 40 s for 40 bytes (issue 23). Every image reference, and every `lock`, has an overall
deadline; a server dripping bytes well inside the read timeout is cut off at it."""

from __future__ import annotations

import pytest

from compiler.io.registry import RegistryClient, RegistryLimits, ResolutionError
from tests.helpers import dripping_server

ANSWER = (
    b"HTTP/1.1 200 OK\r\n"
    b"Docker-Content-Digest: sha256:" + b"0" * 64 + b"\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def test_a_dripping_registry_is_cut_off_at_the_deadline():
    limits = RegistryLimits(timeout_seconds=5.0, deadline_seconds=1.0, max_attempts=1)
    with dripping_server(ANSWER) as drip:
        with pytest.raises(
            ResolutionError, match=f"registry {drip.address} did not answer within the deadline"
        ):
            RegistryClient(limits=limits).resolve(f"{drip.address}/acme/vllm:v1")
        assert not drip.finished.is_set()  # it gave up before the answer was complete


def test_lock_has_a_deadline_of_its_own():
    # Each reference would be allowed 60 s; the whole lock only 1 s.
    limits = RegistryLimits(
        timeout_seconds=5.0, deadline_seconds=60.0, lock_deadline_seconds=1.0, max_attempts=1
    )
    with dripping_server(ANSWER) as drip:
        references = [f"{drip.address}/acme/vllm:v{i}" for i in range(3)]
        answers = RegistryClient(limits=limits).resolve_many(references)
        assert not drip.finished.is_set()
    for reference in references:
        answer = answers[reference]
        assert isinstance(answer, ResolutionError)
        assert f"registry {drip.address} did not answer within the deadline" in answer.message
