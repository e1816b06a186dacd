"""The Argo CD and Flux objects that sync hydrated trees into a cluster (`runwayc bootstrap`).

Where each environment's tree lives is a `Source`: a repository URL, a branch and a path, the
branch and path being templates in `{env}`. Each tree is synced as its sync units, one per
namespace directory or shard of one (`units`), never as one build. Two layouts cover what
runwayc writes:

- `rendered/{env}` on one branch (compile's output committed beside the sources, or
  `publish --path rendered/<env>`): Argo CD gets an ApplicationSet whose git *directory*
  generator walks `rendered/*/*`, so a new environment or namespace appears without
  re-running bootstrap;
- `environments/{env}` branches at their root (what `publish` writes by default): a git
  directory generator per environment, since a git generator reads one revision.

Flux has no generator: it gets a Kustomization per unit that existed when bootstrap compiled
the environment, and so does `--applications`; a new namespace needs bootstrap re-run.

Choices that matter in a cluster running GPU inference, and why:
- `prune` is on: a ModelDeployment removed from Git must stop holding GPUs. Applications carry
  no resources finalizer (the ApplicationSet sets `preserveResourcesOnDeletion`, without
  which its controller adds one), so deleting the ApplicationSet, an Application, or a unit's
  whole directory (its namespace's last model) leaves the running models in place (no
  cascade); pruning is per object, from a successful sync of a tree `compile` produced
  all-or-nothing. A generator that answers nothing for a moment (Argo CD has had that bug)
  must not take a fleet down with it.
- `FailOnSharedResource=true`: two environments (or a hand-written Application) claiming the
  same object fail loudly instead of fighting over it. `PruneLast=true`: a rename starts the
  new Deployment before the old one goes.
- Flux waits for health (`wait: true`) with a timeout sized for multi-minute model loads.
- The ModelDeployment CRD comes from `bootstrap --cluster`, applied first; Argo CD skips the
  dry run of kinds it does not know yet rather than failing the sync on them.

Pure: the CLI reads `git remote get-url`, the environments and their units and passes them in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from compiler.core.diagnostics import shown
from compiler.core.errors import ConfigError
from compiler.core.gitops.units import MANAGED_BY, SHARD_SEPARATOR, unit_namespace
from compiler.core.kube import KubeObject

ENV = "{env}"
RENDERED_PATH = "rendered/{env}"
PUBLISHED_BRANCH = "environments/{env}"
DEFAULT_BRANCH = "main"
IN_CLUSTER = "https://kubernetes.default.svc"
ARGOCD_NAMESPACE = "argocd"
FLUX_NAMESPACE = "flux-system"
NAME_PREFIX = "runwayc"
ENVIRONMENT_LABEL = "runwayc.dev/environment"
NAMESPACE_LABEL = "runwayc.dev/namespace"
MAX_LABEL_VALUE = 63

# SkipDryRunOnMissingResource: a ModelDeployment (or a provider's CR) whose CRD is installed
# in the same minute must not fail the whole sync at the dry run; the apply still needs it.
ARGOCD_SYNC_OPTIONS = (
    "FailOnSharedResource=true",
    "PruneLast=true",
    "SkipDryRunOnMissingResource=true",
)
# Argo CD's automated sync tries a revision once unless told to retry: a shard's first sync
# can run before its namespace's unit has created the Namespace, and a CR before its CRD is
# established. Five tries over about five minutes, then the Application shows the error.
ARGOCD_RETRY: KubeObject = {
    "limit": 5,
    "backoff": {"duration": "10s", "factor": 2, "maxDuration": "3m"},
}
# With a Git webhook, Argo CD refreshes only the Applications whose own directory changed:
# a commit that changes one model regenerates one unit, not every unit of the environment.
ARGOCD_APP_ANNOTATIONS = {"argocd.argoproj.io/manifest-generate-paths": "."}
# Flux: how often to look at the source, re-apply, and how long to wait for health. A 70B
# model can take well over ten minutes to load; a shorter timeout marks healthy rollouts failed.
FLUX_SOURCE_INTERVAL = "1m"
FLUX_APPLY_INTERVAL = "10m"
FLUX_RETRY_INTERVAL = "2m"
FLUX_TIMEOUT = "30m"

MAX_URL_LENGTH = 2048
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# scp-like syntax git and Argo CD accept: [user@]host:path, the path not starting with "/".
_SCP_LIKE = re.compile(
    r"^(?:(?P<user>[A-Za-z0-9._~-]+)@)?(?P<host>[A-Za-z0-9.-]+):(?P<path>[^/].*)$"
)
_TEMPLATE_PART = re.compile(r"^[A-Za-z0-9._{}-]+$")


@dataclass(frozen=True, slots=True)
class RepoURL:
    """A clone URL safe to write into a manifest: any credential removed."""

    url: str
    had_credentials: bool

    def for_flux(self) -> str:
        """Flux's GitRepository takes only http(s):// and ssh://; scp-like becomes ssh://."""
        scp = _SCP_LIKE.fullmatch(self.url)
        if scp is None:
            return self.url
        user = f"{scp['user']}@" if scp["user"] else ""
        return f"ssh://{user}{scp['host']}/{scp['path']}"


def public_url(url: str) -> RepoURL:
    """`url` without credentials: all userinfo of http(s) (a token there is a secret; a user
    name alone only ever travels with one), the password of ssh:// (the user stays: `git@`
    is how GitHub routes ssh)."""
    text = url.strip()
    if (
        not text
        or len(text) > MAX_URL_LENGTH
        or not all(c.isprintable() and c != " " for c in text)
    ):
        raise ConfigError(f'"{_shown(text)}" is not a repository URL')
    if _SCP_LIKE.fullmatch(text) and "://" not in text:
        return RepoURL(text, False)
    refused = ConfigError(
        f'"{_shown(text)}" is not a URL Argo CD and Flux can clone '
        "(https://, ssh:// or user@host:path); pass --repo-url"
    )
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:  # a bracketed host that is no IPv6 address, a port that is no number
        raise refused from None
    # A clone URL has no query or fragment, and "@" only ends the userinfo: anything else is
    # a credential with unencoded "/", "?" or "#" in it, and would leak into the path.
    if (
        parts.scheme not in ("https", "http", "ssh")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or "@" in parts.path
    ):
        raise refused
    host = parts.hostname + (f":{port}" if port else "")
    user = f"{parts.username}@" if parts.scheme == "ssh" and parts.username else ""
    had = parts.password is not None or (parts.scheme != "ssh" and parts.username is not None)
    return RepoURL(urlunsplit((parts.scheme, user + host, parts.path, "", "")), had)


def _shown(text: str) -> str:
    """A refused URL as it may be printed: everything up to its last "@" cut (it may hold a
    credential), control characters escaped, bounded."""
    scheme, separator, rest = text.partition("://")
    if not separator:
        scheme, rest = "", text
    if "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    return shown(scheme + separator + rest)


@dataclass(frozen=True, slots=True)
class Source:
    """Where each environment's hydrated tree is: branch and path templates in `{env}`."""

    repo: RepoURL
    branch: str = DEFAULT_BRANCH
    path: str = RENDERED_PATH

    def branch_for(self, env: str) -> str:
        return self.branch.replace(ENV, env)

    def path_for(self, env: str) -> str:
        return self.path.replace(ENV, env) or "."

    @property
    def directory_pattern(self) -> str | None:
        """`<prefix>/*` when each environment is a directory `<prefix>/<env>` on one branch:
        then a git directory generator finds the environments itself."""
        head, _, last = self.path.rpartition("/")
        if ENV in self.branch or last != ENV or ENV in head:
            return None
        # A bare `{env}` would make `*` match every top-level directory (.github, docs...).
        return f"{head}/*" if head else None


def check_source(source: Source, envs: Sequence[str]) -> None:
    """Refuse what would sync the wrong tree: env names unfit for object names, two
    environments reading the same place, paths that climb out of the repository."""
    for env in envs:
        if not _DNS_LABEL.fullmatch(env) or len(env) > 63 - len(NAME_PREFIX) - 1:
            raise ConfigError(
                f'environment "{env[:100]}" cannot name Argo CD or Flux objects '
                f"(a DNS label of at most {63 - len(NAME_PREFIX) - 1} characters)"
            )
    for what, template in (("branch", source.branch), ("path", source.path)):
        parts = template.split("/")
        if template != "." and any(p in ("", ".", "..") for p in parts):
            raise ConfigError(f'{what} "{template[:200]}" is not a relative path in the repository')
        braces = template.count("{") + template.count("}")
        if not all(_TEMPLATE_PART.fullmatch(p) for p in parts) or braces != 2 * template.count(ENV):
            raise ConfigError(
                f'{what} "{template[:200]}" may only use letters, digits, "._-/" and {{env}}'
            )
    if len(envs) > 1 and ENV not in source.branch and ENV not in source.path:
        raise ConfigError(
            f"every environment would sync the same tree ({source.branch}:{source.path}); "
            "put {env} in --branch or --path"
        )


def _flux_path(path: str) -> str:
    """Flux's spelling of a path in the source: `./` for the root, else `./<path>`."""
    return "./" if path == "." else f"./{path}"


def unit_path(env_path: str, unit: str) -> str:
    """The repository path of one sync unit (`<namespace>` or `<namespace>.shard-<k>`) under
    the environment's tree."""
    return unit if env_path == "." else f"{env_path}/{unit}"


def unit_name(env: str, unit: str) -> str:
    """An Argo CD Application or Flux Kustomization name per unit. The dot cannot occur in
    either DNS label, so no two (environment, unit) pairs share a name: with a dash, `a-b` +
    `c` and `a` + `b-c` would."""
    return f"{NAME_PREFIX}-{env}.{unit}"


def _labels(env: str | None = None, namespace: str | None = None) -> dict[str, str]:
    return {
        **MANAGED_BY,
        **({ENVIRONMENT_LABEL: env} if env else {}),
        **({NAMESPACE_LABEL: namespace} if namespace else {}),
    }


def _app_spec(
    repo_url: str, revision: str, path: str, destination: str, namespace: str
) -> KubeObject:
    return {
        "project": "default",
        "source": {"repoURL": repo_url, "targetRevision": revision, "path": path},
        "destination": {"server": destination, "namespace": namespace},
        "syncPolicy": {
            "automated": {"prune": True, "selfHeal": True},
            "syncOptions": list(ARGOCD_SYNC_OPTIONS),
            "retry": dict(ARGOCD_RETRY),
        },
    }


def _unit_glob(env_path: str) -> str:
    """The git directory generator's pattern for an environment's units (path.Match: `*`
    stops at `/`, so each model's own directory one level down is never a unit)."""
    return "*" if env_path == "." else f"{env_path}/*"


def argocd_applicationset(
    source: Source,
    envs: Sequence[str],
    *,
    all_environments: bool,
    namespace: str = ARGOCD_NAMESPACE,
    destination: str = IN_CLUSTER,
) -> KubeObject:
    """One ApplicationSet, one Application per sync unit (environment and namespace).

    Git directory generators find the units, so a new namespace (and, with
    `all_environments` and a `<prefix>/{env}` layout, a new environment) gets its
    Application without re-running bootstrap. Otherwise each environment has a generator of
    its own, carrying the environment's name and branch as values."""
    pattern = source.directory_pattern
    generators: list[KubeObject]
    if pattern is not None and all_environments:
        generators = [
            {
                "git": {
                    "repoURL": source.repo.url,
                    "revision": source.branch,
                    "directories": [{"path": f"{pattern}/*"}],
                }
            }
        ]
        depth = pattern.count("/")  # the environment's segment: the pattern's `*`
        env_value, revision = f"{{{{index .path.segments {depth}}}}}", source.branch
    else:
        generators = [
            {
                "git": {
                    "repoURL": source.repo.url,
                    "revision": source.branch_for(env),
                    "directories": [{"path": _unit_glob(source.path_for(env))}],
                    "values": {"env": env, "revision": source.branch_for(env)},
                }
            }
            for env in sorted(envs)
        ]
        env_value, revision = "{{.values.env}}", "{{.values.revision}}"
    unit = "{{.path.basename}}"
    # A shard's directory is `<namespace>.shard-<k>`; sprig's splitList is in Argo CD's go
    # templates, and the dot never occurs in a namespace.
    target = '{{index (splitList "." .path.basename) 0}}'
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {"name": NAME_PREFIX, "namespace": namespace, "labels": _labels()},
        "spec": {
            "goTemplate": True,
            "goTemplateOptions": ["missingkey=error"],
            "generators": generators,
            "syncPolicy": {"preserveResourcesOnDeletion": True},
            "template": {
                "metadata": {
                    "name": f"{NAME_PREFIX}-{env_value}.{unit}",
                    "labels": {
                        **MANAGED_BY,
                        ENVIRONMENT_LABEL: env_value,
                        NAMESPACE_LABEL: target,
                    },
                    "annotations": dict(ARGOCD_APP_ANNOTATIONS),
                },
                "spec": _app_spec(source.repo.url, revision, "{{.path.path}}", destination, target),
            },
        },
    }


def check_units(units: Mapping[str, Sequence[str]]) -> None:
    """Refuse a unit whose name cannot label what it applies: Flux (and Argo CD's label
    tracking) write the name into a label on every object, and a label value has at most
    63 characters."""
    for env, names in units.items():
        for unit in names:
            name = unit_name(env, unit)
            if len(name) > MAX_LABEL_VALUE:
                raise ConfigError(
                    f'the sync unit "{unit}" in {env} would be named '
                    f'"{name}" ({len(name)} characters); Argo CD and Flux label every object '
                    f"with it and a label value has at most {MAX_LABEL_VALUE}: shorten the "
                    "environment or the namespace"
                )


def argocd_applications(
    source: Source,
    units: Mapping[str, Sequence[str]],
    *,
    namespace: str = ARGOCD_NAMESPACE,
    destination: str = IN_CLUSTER,
) -> list[KubeObject]:
    """One Application per sync unit, for teams that keep Applications, not sets: the units
    are the namespaces compiled at bootstrap time (`units`: environment -> namespaces)."""
    check_units(units)
    return [
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {
                "name": unit_name(env, unit),
                "namespace": namespace,
                "labels": _labels(env, unit_namespace(unit)),
                "annotations": dict(ARGOCD_APP_ANNOTATIONS),
            },
            "spec": _app_spec(
                source.repo.url,
                source.branch_for(env),
                unit_path(source.path_for(env), unit),
                destination,
                unit_namespace(unit),
            ),
        }
        for env in sorted(units)
        for unit in sorted(units[env])
    ]


def flux_objects(
    source: Source,
    units: Mapping[str, Sequence[str]],
    *,
    namespace: str = FLUX_NAMESPACE,
    secret_ref: str | None = None,
) -> list[KubeObject]:
    """A GitRepository per branch (one shared when every environment is on the same branch)
    and a Kustomization per sync unit (`units`: environment -> namespaces, as compiled at
    bootstrap time), pruning and waiting for health."""
    check_units(units)
    shared = ENV not in source.branch
    repositories: dict[str, KubeObject] = {}
    kustomizations = []
    for env in sorted(units):
        repo_name = NAME_PREFIX if shared else f"{NAME_PREFIX}-{env}"
        spec: KubeObject = {
            "interval": FLUX_SOURCE_INTERVAL,
            "url": source.repo.for_flux(),
            "ref": {"branch": source.branch_for(env)},
        }
        if secret_ref:
            spec["secretRef"] = {"name": secret_ref}
        repositories[repo_name] = {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {
                "name": repo_name,
                "namespace": namespace,
                "labels": _labels(None if shared else env),
            },
            "spec": spec,
        }
        listed = set(units[env])
        for unit in sorted(listed):
            unit_spec: KubeObject = {
                "interval": FLUX_APPLY_INTERVAL,
                "retryInterval": FLUX_RETRY_INTERVAL,
                "timeout": FLUX_TIMEOUT,
                "sourceRef": {"kind": "GitRepository", "name": repo_name},
                "path": _flux_path(unit_path(source.path_for(env), unit)),
                "prune": True,
                "wait": True,
            }
            home = unit_namespace(unit)
            if SHARD_SEPARATOR in unit and home in listed:
                # A shard applies into a namespace its namespace's unit creates.
                unit_spec["dependsOn"] = [{"name": unit_name(env, home)}]
            kustomizations.append(
                {
                    "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                    "kind": "Kustomization",
                    "metadata": {
                        "name": unit_name(env, unit),
                        "namespace": namespace,
                        "labels": _labels(env, home),
                    },
                    "spec": unit_spec,
                }
            )
    return [*repositories.values(), *kustomizations]
