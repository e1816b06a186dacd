"""The status agent's mapping never raises, whatever the cluster holds: arbitrary (often
nonsensical) ModelDeployments, Deployments and Services give a status of the CRD's shape."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.core.agent.readers import Observed
from compiler.core.agent.status import desired_status, merge_patch
from compiler.core.model import ModelDeploymentStatus
from compiler.io.workspace import load_policy

POLICY = load_policy(None)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12))
ANY_JSON = st.recursive(
    SCALARS,
    lambda c: st.one_of(
        st.lists(c, max_size=3), st.dictionaries(st.text(max_size=10), c, max_size=4)
    ),
    max_leaves=12,
)
KEYS = st.sampled_from(
    [
        "metadata",
        "spec",
        "status",
        "annotations",
        "labels",
        "conditions",
        "type",
        "name",
        "runwayc.dev/spec-hash",
        "runwayc.dev/provider",
        "runwayc.dev/policy",
        "generation",
        "ownerReferences",
        "replicas",
        "readyReplicas",
        "Available",
        "Progressing",
        "uid",
    ]
)
SHAPED = st.recursive(
    SCALARS,
    lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(KEYS, c, max_size=5)),
    max_leaves=20,
)
OBJECTS = st.one_of(
    st.none(),
    st.dictionaries(KEYS, SHAPED, max_size=5),
    st.dictionaries(st.text(max_size=6), ANY_JSON, max_size=3),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(md=st.dictionaries(KEYS, SHAPED, max_size=5), deployment=OBJECTS, service=OBJECTS)
def test_any_observation_maps_to_a_valid_status(
    md: dict[str, Any], deployment: Any, service: Any
) -> None:
    status = desired_status(Observed(md, deployment, service), POLICY, "2026-11-23T00:00:00Z")
    ModelDeploymentStatus.model_validate(status)
    assert status["phase"] in ("Pending", "Deploying", "Running", "Failed", "Terminating")
    again = desired_status(
        Observed({**md, "status": status}, deployment, service), POLICY, "2027-01-01T00:00:00Z"
    )
    assert again == status  # nothing changed: nothing to write, whatever the clock says
    assert merge_patch(status, again) == {}
