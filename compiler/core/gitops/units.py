"""The sync units of a hydrated tree: one directory per namespace, each synced on its own.

kustomize's cost grows much faster than linearly with the objects in one build (46 s for
1,000 models in one env-wide kustomization on a 2-core machine, past Argo CD's 90 s
repo-server timeout soon after), so no build ever spans an environment: each
`<namespace>/` holds a small `kustomization.yaml` over its own Namespace object and the
manifests of its models, and Argo CD (an ApplicationSet over those directories) or Flux (a
Kustomization per directory) syncs each one apart. A model's namespace is part of its
identity, so a model never moves between units: no unit prunes what another one creates.

A namespace too large for one build (kustomize's cost grows with the square of the objects in
it: 500 models take 6-48 s on 2 CPUs) is split into the number of shards runway.yaml gives it
(`syncUnits.shards.<namespace>`): each `<namespace>.shard-<k>/` lists the models whose name
hashes to k, each model's directory then carrying a kustomization of its own (kustomize loads
a directory from outside a unit, never a file), and `<namespace>/` keeps the Namespace object
alone. The hash is of the name only, so adding or removing a model never moves another; only
changing the count does, which moves objects between Argo CD Applications or Flux
Kustomizations, and is a migration (see the README). The dot cannot occur in a namespace, so
no shard's directory is ever a namespace's.

Namespaces are rendered objects rather than Argo CD's `CreateNamespace=true`: Flux has no
such option, a rendered Namespace is reviewed and diffed like the rest, and it arrives in the
same sync as the models it holds (both tools apply Namespaces before namespaced objects). It
is never pruned or deleted by either tool: deleting a Namespace deletes everything in it
(Secrets with tokens, caches on PVCs, objects other tools put there), and runwayc cannot know
whether it created the namespace or adopted one that existed. An emptied namespace stays
until someone removes it by hand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from compiler.core.kube import KubeObject

KUSTOMIZATION = "kustomization.yaml"
NAMESPACE_FILE = "namespace.yaml"
MANAGED_BY = {"app.kubernetes.io/managed-by": "runwayc"}

# Argo CD skips a resource with Prune=false when it leaves Git, and one with Delete=false when
# its Application is deleted with cascade; Flux's `prune: disabled` does both for Flux.
ARGOCD_SYNC_OPTIONS = "argocd.argoproj.io/sync-options"
NAMESPACE_ARGOCD_SYNC_OPTIONS = "Prune=false,Delete=false"
FLUX_PRUNE = "kustomize.toolkit.fluxcd.io/prune"
FLUX_PRUNE_DISABLED = "disabled"

# The namespaces every cluster has from the start: a unit there gets no Namespace object, so
# runwayc never claims (or labels) `default` or `kube-system` in a GitOps tool's inventory.
BUILT_IN_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})


def namespace_object(name: str) -> KubeObject:
    """The Namespace a unit creates when it is missing, marked so it is never pruned."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": dict(MANAGED_BY),
            "annotations": {
                ARGOCD_SYNC_OPTIONS: NAMESPACE_ARGOCD_SYNC_OPTIONS,
                FLUX_PRUNE: FLUX_PRUNE_DISABLED,
            },
        },
    }


def unit_resources(namespace: str, manifests: Iterable[str]) -> list[str]:
    """What a unit's kustomization lists, relative to the unit: its Namespace object (unless
    the namespace is built in) and each model's manifest."""
    own = [] if namespace in BUILT_IN_NAMESPACES else [NAMESPACE_FILE]
    return own + sorted(manifests)


SHARD_SEPARATOR = ".shard-"


def shard_of(name: str, shards: int) -> int:
    """The shard a model's directory is listed in: a hash of its name alone, the same in every
    run, on every machine and in every environment (never Python's salted `hash`)."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shards


def shard_unit(namespace: str, shard: int) -> str:
    """The directory of one shard of a namespace's models: `<namespace>.shard-<k>`."""
    return f"{namespace}{SHARD_SEPARATOR}{shard}"


def unit_of(namespace: str, name: str, shards: Mapping[str, int]) -> str:
    """The unit that lists model `name` of `namespace`: the namespace's own, or (a namespace
    `shards` splits) the shard its name hashes to."""
    count = shards.get(namespace, 1)
    return namespace if count == 1 else shard_unit(namespace, shard_of(name, count))


def unit_namespace(unit: str) -> str:
    """The namespace a unit's directory syncs into: the unit itself, or what precedes
    `.shard-`."""
    return unit.split(".", 1)[0]


def unit_directories(files: Iterable[str]) -> list[str]:
    """The units of a hydrated tree, given its file names: the top-level directories holding
    a kustomization."""
    return sorted(
        name.split("/", 1)[0]
        for name in files
        if name.count("/") == 1 and name.endswith("/" + KUSTOMIZATION)
    )
