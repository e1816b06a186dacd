"""Input models: AI Runway's ModelDeployment spec and runwayc's own files.

Frozen pydantic v2 models validate plain data produced by `compiler.core.load`. Field names are
snake_case in Python and camelCase on the wire (the CRD's spelling); unknown fields are errors
with their path. Validation is strict: `replicas: "2"` is refused as the API server would
refuse it. Defaults follow the CRD (`source: huggingface`, `enablePrefixCaching: true`, ...);
defaults that depend on several fields (AI Runway's admission defaulter) live in
`effective_gpu_count`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StringConstraints
from pydantic.alias_generators import to_camel

from compiler.core.kube import ApiVersionLiteral, KindLiteral

Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
NonNegInt32 = Annotated[int, Field(ge=0, le=2**31 - 1)]
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
QuantityText = Annotated[
    str,
    StringConstraints(
        pattern=r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
    ),
]

EngineType = Literal["vllm", "sglang", "trtllm", "llamacpp"]
ServingMode = Literal["aggregated", "disaggregated"]
ModelSource = Literal["huggingface", "custom"]


class Frozen(BaseModel):
    """Base of every input model: camelCase on the wire, unknown keys refused, immutable."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        alias_generator=to_camel,
        populate_by_name=True,
        validate_default=False,
        defer_build=True,
    )


# --- ModelDeployment -------------------------------------------------------------------------


class StorageVolume(Frozen):
    name: Annotated[
        str, StringConstraints(max_length=63, pattern=r"^[a-z0-9]([a-z0-9\-]*[a-z0-9])?$")
    ]
    claim_name: str | None = None
    mount_path: str | None = None
    purpose: Literal["modelCache", "compilationCache", "custom"] = "custom"
    read_only: bool = False
    size: int | QuantityText | None = None
    storage_class_name: str | None = None
    access_mode: (
        Literal["ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany", "ReadWriteOncePod"] | None
    ) = None


class Storage(Frozen):
    volumes: Annotated[list[StorageVolume], Field(max_length=8)] | None = None


class ModelSpec(Frozen):
    id: str | None = None
    served_name: str | None = None
    source: ModelSource = "huggingface"
    storage: Storage | None = None


class ProviderSpec(Frozen):
    name: Annotated[str, StringConstraints(max_length=63)] | None = None
    # Free-form by design (x-kubernetes-preserve-unknown-fields); policy clears it before use.
    overrides: dict[str, Any] | None = None


# Bounds on the launch flags. The cluster checks them with CEL (reserved flags, duplicates),
# and the API server refuses a CRD whose rules could cost more than its budget; bounded lists
# and strings keep that estimate small. Real vLLM launches use a few dozen flags.
MAX_ENGINE_ARGS = 64
MAX_ARG_KEY_LENGTH = 128
MAX_ARG_VALUE_LENGTH = 4096
ImageText = Annotated[str, StringConstraints(max_length=512)]
ArgKey = Annotated[str, StringConstraints(max_length=MAX_ARG_KEY_LENGTH)]
ArgValue = Annotated[str, StringConstraints(max_length=MAX_ARG_VALUE_LENGTH)]


class EngineSpec(Frozen):
    type: EngineType | None = None
    image: ImageText | None = None
    context_length: Int32 | None = None
    trust_remote_code: bool = False
    enable_prefix_caching: bool = True
    enforce_eager: bool = False
    args: Annotated[dict[ArgKey, ArgValue], Field(max_length=MAX_ENGINE_ARGS)] | None = None
    extra_args: Annotated[list[ArgValue], Field(max_length=MAX_ENGINE_ARGS)] | None = None


class ServingSpec(Frozen):
    mode: ServingMode = "aggregated"


# The CRD's default GPU resource name (`resources.gpu.type`, a component's `gpu.type`).
DEFAULT_GPU_RESOURCE = "nvidia.com/gpu"


class GPUSpec(Frozen):
    count: NonNegInt32 = 0
    type: str = DEFAULT_GPU_RESOURCE


class ComponentScaling(Frozen):
    replicas: NonNegInt32 = 1
    gpu: GPUSpec | None = None
    memory: str | None = None


AutoscalingMode = Literal["queue", "kvcache", "wva", "keda"]
# WVA's variantCost: a decimal cost per replica (the VariantAutoscaling CRD's pattern).
CostText = Annotated[str, StringConstraints(max_length=32, pattern=r"^\d+(\.\d+)?$")]


class AutoscalingSpec(Frozen):
    """runwayc's extension: the autoscaler rendered next to the Deployment.

    mode queue and kvcache render an HPA, wva a VariantAutoscaling and an HPA on
    wva_desired_replicas, keda a ScaledObject. `target` means, per mode: `queue` the average
    waiting requests per pod, `kvcache` the average KV-cache usage per pod (a fraction), `keda`
    the waiting requests per replica of the model; `wva` takes none (the agent's saturation
    thresholds decide).
    """

    mode: AutoscalingMode
    min_replicas: NonNegInt32 = 1
    max_replicas: NonNegInt32
    target: QuantityText | None = None
    # wva: the cost per replica WVA's analyzer compares variants of one model by, and the
    # accelerator the `wva_desired_replicas` gauge is labelled with.
    variant_cost: CostText | None = None
    accelerator: Annotated[str, StringConstraints(min_length=2, max_length=63)] | None = None


class ScalingSpec(Frozen):
    replicas: NonNegInt32 = 1
    prefill: ComponentScaling | None = None
    decode: ComponentScaling | None = None
    autoscaling: AutoscalingSpec | None = None


class ResourcesSpec(Frozen):
    gpu: GPUSpec | None = None
    memory: str | None = None
    cpu: str | None = None


class KeySelector(Frozen):
    key: str
    name: str = ""
    optional: bool | None = None


class ObjectFieldSelector(Frozen):
    api_version: str | None = None
    field_path: str


class FileKeySelector(Frozen):
    key: str
    optional: bool = False
    path: str
    volume_name: str


class ResourceFieldSelector(Frozen):
    container_name: str | None = None
    divisor: int | QuantityText | None = None
    resource: str


class EnvVarSource(Frozen):
    config_map_key_ref: KeySelector | None = None
    field_ref: ObjectFieldSelector | None = None
    file_key_ref: FileKeySelector | None = None
    resource_field_ref: ResourceFieldSelector | None = None
    secret_key_ref: KeySelector | None = None


class EnvVar(Frozen):
    name: str
    value: str | None = None
    value_from: EnvVarSource | None = None


class PodTemplateMetadata(Frozen):
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class PodTemplateSpec(Frozen):
    metadata: PodTemplateMetadata | None = None


class SecretsSpec(Frozen):
    hugging_face_token: str | None = None


class GatewaySpec(Frozen):
    enabled: bool | None = None
    model_name: str | None = None
    http_route_ref: str | None = None


class Toleration(Frozen):
    key: str | None = None
    operator: str | None = None
    value: str | None = None
    effect: str | None = None
    toleration_seconds: Int64 | None = None


class ModelDeploymentSpec(Frozen):
    model: ModelSpec
    provider: ProviderSpec | None = None
    engine: EngineSpec | None = None
    serving: ServingSpec | None = None
    scaling: ScalingSpec | None = None
    resources: ResourcesSpec | None = None
    image: ImageText | None = None
    env: list[EnvVar] | None = None
    pod_template: PodTemplateSpec | None = None
    secrets: SecretsSpec | None = None
    gateway: GatewaySpec | None = None
    node_selector: dict[str, str] | None = None
    tolerations: list[Toleration] | None = None


# --- ModelDeployment status (written by the agent; the CRD's status schema) -------------------


class StatusModel(BaseModel):
    """Base of the status models: camelCase on the wire, unknown keys refused."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        defer_build=True,
    )


class StatusCondition(StatusModel):
    """metav1.Condition."""

    type: Annotated[str, StringConstraints(max_length=316)]
    status: Literal["True", "False", "Unknown"]
    reason: Annotated[
        str,
        StringConstraints(
            min_length=1, max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
        ),
    ]
    message: Annotated[str, StringConstraints(max_length=32768)]
    last_transition_time: Annotated[str, Field(json_schema_extra={"format": "date-time"})]
    observed_generation: Annotated[int, Field(ge=0)] | None = None


class ProviderStatus(StatusModel):
    name: str | None = None
    selected_reason: str | None = None
    resource_kind: str | None = None
    resource_name: str | None = None


class EngineStatus(StatusModel):
    type: EngineType | None = None
    selected_reason: str | None = None


class ImageStatus(StatusModel):
    requested: str | None = None
    resolved: str | None = None
    digest: str | None = None
    repository: str | None = None
    tag: str | None = None
    source: str | None = None
    in_nightly: bool | None = None
    message: str | None = None


class ReplicaStatus(StatusModel):
    desired: NonNegInt32 | None = None
    ready: NonNegInt32 | None = None
    available: NonNegInt32 | None = None
    # runwayc's addition: pods that exist but are not ready yet (a model still loading).
    pending: NonNegInt32 | None = None


class AutoscalingStatus(StatusModel):
    """runwayc's addition: the saturation analyzer's last decision for this variant."""

    desired_replicas: NonNegInt32 | None = None
    saturated_replicas: NonNegInt32 | None = None
    pending_replicas: NonNegInt32 | None = None
    action: Literal["ScaleUp", "ScaleDown", "Hold"] | None = None


class EndpointStatus(StatusModel):
    service: str | None = None
    port: Int32 | None = None


class GatewayStatus(StatusModel):
    """Where the inference gateway serves the model (AI Runway's status.gateway)."""

    endpoint: str | None = None
    model_name: str | None = None
    gateway_namespace: str | None = None


class ModelDeploymentStatus(StatusModel):
    phase: Literal["Pending", "Deploying", "Running", "Failed", "Terminating"] | None = None
    message: str | None = None
    provider: ProviderStatus | None = None
    engine: EngineStatus | None = None
    image: ImageStatus | None = None
    replicas: ReplicaStatus | None = None
    endpoint: EndpointStatus | None = None
    gateway: GatewayStatus | None = None
    autoscaling: AutoscalingStatus | None = None
    observed_generation: Int64 | None = None
    conditions: (
        Annotated[
            list[StatusCondition],
            Field(
                json_schema_extra={
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["type"],
                }
            ),
        ]
        | None
    ) = None


class ObjectMeta(Frozen):
    """The metadata a GitOps source may carry; server-populated fields have no place in Git."""

    name: str
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class ModelDeployment(Frozen):
    api_version: ApiVersionLiteral
    kind: KindLiteral
    metadata: ObjectMeta
    spec: ModelDeploymentSpec
    # Accepted so that `kubectl get -o yaml` exports load; never rendered (the agent owns it).
    status: dict[str, Any] | None = None
    # The engine chosen for a spec without `spec.engine.type` (AI Runway's status.engine);
    # private so that no source file can set it and the applied spec never carries it.
    _selected_engine: EngineType | None = PrivateAttr(default=None)

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def engine_type(self) -> EngineType | None:
        """`spec.engine.type` as written (None when unset); `engine` is the one that runs."""
        return self.spec.engine.type if self.spec.engine else None

    @property
    def engine(self) -> EngineType:
        """The engine that runs: `spec.engine.type`, else the selected one (see
        `with_selected_engine`), else vLLM."""
        return self.engine_type or self._selected_engine or "vllm"

    def with_selected_engine(self, engine: EngineType) -> ModelDeployment:
        """This MD running `engine`, its spec unchanged (engine selection's result)."""
        copy = self.model_copy()
        copy._selected_engine = engine
        return copy

    @property
    def serving_mode(self) -> ServingMode:
        return self.spec.serving.mode if self.spec.serving else "aggregated"

    @property
    def replicas(self) -> int:
        return self.spec.scaling.replicas if self.spec.scaling else 1

    def engine_image(self) -> str | None:
        """The image the user asked for; `spec.engine.image` wins over the legacy `spec.image`."""
        if self.spec.engine and self.spec.engine.image:
            return self.spec.engine.image
        return self.spec.image or None


def effective_gpu_count(md: ModelDeployment) -> int:
    """GPU count after AI Runway's admission defaulter.

    In aggregated mode, when `resources` is absent, an engine type is set that is not llamacpp,
    and the legacy `spec.image` is empty, the defaulter sets gpu.count to 1 (a GPU engine with
    no sizing asks for one GPU, not zero).
    """
    resources = md.spec.resources
    if resources is not None and resources.gpu is not None:
        return resources.gpu.count
    engine_type = md.engine_type
    aggregated = md.serving_mode == "aggregated"
    if resources is None and aggregated and engine_type not in (None, "llamacpp"):
        return 0 if md.spec.image else 1
    return 0


def gpu_resource_name(md: ModelDeployment) -> str:
    resources = md.spec.resources
    if resources is not None and resources.gpu is not None:
        return resources.gpu.type
    return DEFAULT_GPU_RESOURCE


# --- runway.yaml -----------------------------------------------------------------------------


# A DNS-1123 label: what a namespace must be, and what every name that becomes a directory of
# the rendered tree (an environment, a namespace) is held to, so none can climb out of it.
DnsLabel = Annotated[
    str, StringConstraints(max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
]


class GatewayRef(Frozen):
    """The shared Gateway an environment routes models through: what AI Runway's
    `--gateway-name` / `--gateway-namespace` flags name (both, as there), since the cluster
    is not listed at compile time."""

    name: DnsLabel
    namespace: DnsLabel
    # The cluster runs Istio (its DestinationRule API is registered): AI Runway then adds a
    # DestinationRule telling the mesh to speak TLS to each endpoint picker. The cluster is
    # not listed at compile time, so the environment says so.
    istio: bool = False


class EnvironmentConfig(Frozen):
    """One environment; its overlay is `overlays/<name>.yaml` (the repo's, else built-in)."""

    namespace: DnsLabel | None = None
    # The Gateway HTTPRoutes attach to; without it, spec.gateway renders nothing (and a spec
    # that asks for the gateway is refused).
    gateway: GatewayRef | None = None


class RecipeSourceConfig(Frozen):
    base_url: str | None = None


# How many sync units one namespace may be split into (see compiler/core/gitops/units.py).
ShardCount = Annotated[int, Field(ge=1, le=256)]


class SyncUnitsConfig(Frozen):
    """How the rendered tree is cut into what Argo CD or Flux build one at a time: a
    namespace named here (as rendered, in any environment) is split into that many shards,
    by a hash of each model's name."""

    shards: dict[DnsLabel, ShardCount] = Field(default_factory=dict)


class ProjectConfig(Frozen):
    """runway.yaml: the project's environments, defaults, sources and output."""

    api_version: Literal["runwayc.dev/v1alpha1"]
    kind: Literal["Project"]
    default_environment: DnsLabel | None = None
    environments: dict[DnsLabel, EnvironmentConfig]
    namespace: DnsLabel | None = None
    recipes: RecipeSourceConfig | None = None
    sync_units: SyncUnitsConfig | None = None

    def shards(self) -> dict[str, int]:
        """Namespace -> shard count, for the namespaces runway.yaml splits."""
        return dict(self.sync_units.shards) if self.sync_units else {}


# --- overlays --------------------------------------------------------------------------------


class Ceilings(Frozen):
    """Sizing ceilings; an overlay or a policy file may only tighten the built-in ones."""

    gpu_count: NonNegInt32 | None = None
    replicas: NonNegInt32 | None = None
    cpu: QuantityText | None = None
    memory: QuantityText | None = None


# Kubernetes' qualified name, with an optional DNS-subdomain prefix (`example.com/team`).
LabelKey = Annotated[
    str,
    StringConstraints(
        max_length=317,
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
        r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$",
    ),
]
LABEL_VALUE_PATTERN = r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$"
LabelValue = Annotated[str, StringConstraints(max_length=63, pattern=LABEL_VALUE_PATTERN)]


class ReplicaBounds(Frozen):
    """The replica range an environment runs; `spec.scaling.replicas` is clamped into it."""

    min: NonNegInt32 | None = None
    max: NonNegInt32 | None = None


class ImageMirror(Frozen):
    """Images under `from` (a registry, or a registry and repository path) are pulled from
    `to` instead; the digest stays, since a mirror serves the same content."""

    source: str = Field(alias="from")
    mirror: str = Field(alias="to")


class Overlay(Frozen):
    """overlays/<env>.yaml: per-environment defaults and limits."""

    api_version: Literal["runwayc.dev/v1alpha1"]
    kind: Literal["Overlay"]
    namespace: DnsLabel | None = None
    namespaces: dict[DnsLabel, DnsLabel] | None = None
    labels: dict[LabelKey, LabelValue] | None = None
    annotations: dict[LabelKey, str] | None = None
    ceilings: Ceilings | None = None
    replicas: ReplicaBounds | None = None
    image_mirrors: Annotated[list[ImageMirror], Field(max_length=64)] | None = None


# --- policy files ----------------------------------------------------------------------------


class OverrideRules(Frozen):
    """Keys refused in `spec.provider.overrides`, grouped by the message each group carries."""

    security: list[str] = Field(default_factory=list)
    sizing: list[str] = Field(default_factory=list)
    protected_top_level: list[str] = Field(default_factory=list)
    guarantees: list[str] = Field(default_factory=list)
    # Annotation prefixes that configure pod security (AppArmor, seccomp) the way
    # securityContext does: refused as keys under overrides and in spec.podTemplate.
    security_annotations: list[str] = Field(default_factory=list)


class VllmFlagRules(Frozen):
    # vLLM option names (the long spelling without dashes) that only runwayc may set.
    reserved_networking: list[str] = Field(default_factory=list)
    # Container environment variables vLLM reads that only runwayc may set.
    reserved_env: list[str] = Field(default_factory=list)
    # Extra spellings runwayc reads as an option (a plugin's flag, say): spelling -> name.
    aliases: dict[str, str] = Field(default_factory=dict)


class NameRules(Frozen):
    max_length: NonNegInt32 | None = None


# How strictly a rule is applied, loosest first: a repository policy may only move right.
UNPINNED_IMAGE_RULES = ("warn", "refuse")


class ImageRules(Frozen):
    """policies/images.yaml: what compile does with a user's image that `lock` could not
    resolve to a digest (recorded as unresolved): `warn` renders the tag as written, with a
    warning and the stamp saying so (AI Runway's behaviour); `refuse` is an error."""

    unpinned_user_images: Literal["warn", "refuse"] | None = None


class SyncUnitRules(Frozen):
    """policies/sync-units.yaml: how many ModelDeployments one sync unit (a namespace, or one
    shard of it) may hold before check warns that Argo CD or Flux will be slow to build it.
    Advisory: a repository policy may set it either way (its Argo CD may allow more than
    90 s)."""

    max_models_per_unit: Annotated[int, Field(ge=1)] | None = None


class LoadLimitRules(Frozen):
    max_document_bytes: NonNegInt32 | None = None
    max_file_bytes: NonNegInt32 | None = None
    max_nodes: NonNegInt32 | None = None
    max_depth: NonNegInt32 | None = None


class Waiver(Frozen):
    """An explicit, named loosening of a built-in rule; the only way to loosen one."""

    name: str
    rule: Literal[
        "overrides.security",
        "overrides.sizing",
        "overrides.protectedTopLevel",
        "overrides.guarantees",
        "overrides.securityAnnotations",
        "vllmFlags.reservedNetworking",
        "vllmFlags.reservedEnv",
        "vllmFlags.aliases",
        "ceilings.gpuCount",
        "ceilings.replicas",
        "ceilings.cpu",
        "ceilings.memory",
    ]
    key: str | None = None
    value: str | int | None = None
    reason: Annotated[str, StringConstraints(min_length=1)]


class PolicyMetadata(Frozen):
    name: str


class KedaRules(Frozen):
    """The ScaledObject's settings. Every value is policies/autoscaling.yaml's; a user policy
    sets the fields it changes, and the rest keep the built-in values (merged field by field)."""

    server_address: Annotated[str, StringConstraints(max_length=512)] | None = None
    polling_interval: NonNegInt32 | None = None
    cooldown_period: NonNegInt32 | None = None
    activation_threshold: QuantityText | None = None


class AutoscalingRules(Frozen):
    """How autoscalers are rendered (policies/autoscaling.yaml); a user policy may replace
    any of these fields (`keda`, `metrics` and `defaultTargets` merge key by key)."""

    # Which providers render the Deployment an autoscaler can target.
    providers: list[str] | None = None
    # Modes whose autoscaler can scale a Deployment to zero replicas.
    scale_to_zero: list[AutoscalingMode] | None = None
    # The vLLM metric each HPA mode reads through the Prometheus adapter.
    metrics: dict[AutoscalingMode, str] | None = None
    default_targets: dict[AutoscalingMode, QuantityText] | None = None
    default_variant_cost: CostText | None = None
    # autoscaling/v2 HorizontalPodAutoscalerBehavior, rendered verbatim into every HPA (and
    # KEDA's): kubernetes-validate checks it in the tests.
    behavior: dict[str, Any] | None = None
    keda: KedaRules | None = None


class Policy(Frozen):
    """policies/*.yaml: built-in policy data, and users' extensions merged over it."""

    api_version: Literal["runwayc.dev/v1alpha1"]
    kind: Literal["Policy"]
    metadata: PolicyMetadata
    overrides: OverrideRules | None = None
    ceilings: Ceilings | None = None
    vllm_flags: VllmFlagRules | None = None
    names: NameRules | None = None
    limits: LoadLimitRules | None = None
    autoscaling: AutoscalingRules | None = None
    images: ImageRules | None = None
    sync_units: SyncUnitRules | None = None
    waivers: list[Waiver] = Field(default_factory=list)


# --- provider catalog (modelled on AI Runway's InferenceProviderConfig) ----------------------


class EndpointPickerCapability(Frozen):
    """A provider's own endpoint picker: its image and EndpointPickerConfig."""

    image: str | None = None
    config_data: str | None = None


class GatewayCapability(Frozen):
    """AI Runway's `capabilities.engines[].gateway`."""

    # The provider creates the InferencePool (and its picker) itself: no pool, no EPP here.
    manages_inference_pool: bool = False
    inference_pool_name_pattern: str | None = None
    inference_pool_namespace: str | None = None
    # The served name is not what the engine answers to (KAITO's llama.cpp).
    ignores_served_name: bool = False
    endpoint_picker: EndpointPickerCapability | None = None


class EngineCapability(Frozen):
    name: EngineType
    serving_modes: list[ServingMode] = Field(default_factory=list)
    gpu_support: bool = False
    cpu_support: bool = False
    api_formats: list[Literal["openai-chat", "openai-responses", "anthropic-messages"]] = Field(
        default_factory=list
    )
    # The image this engine runs when the spec names none; overrides the provider's default.
    default_image: str | None = None
    gateway: GatewayCapability | None = None


class SelectionRule(Frozen):
    condition: str
    priority: NonNegInt32 = 0


class IgnoredField(Frozen):
    """A spec field AI Runway's transformer for this provider never reads."""

    field: Annotated[str, StringConstraints(pattern=r"^spec(\.[A-Za-z]+)+$")]
    engines: list[EngineType] | None = None
    serving_modes: list[ServingMode] | None = None
    note: str | None = None


class ProviderEntry(Frozen):
    name: str
    engines: list[EngineCapability]
    selection_rules: list[SelectionRule] = Field(default_factory=list)
    # vllm is explicit-only: it is never auto-selected, even as the only candidate.
    explicit_only: bool = False
    default_image: str | None = None
    # Images of the provider's own components (routers, sidecars), pinned like the engine's.
    component_images: dict[str, str] = Field(default_factory=dict)
    ignored_fields: list[IgnoredField] = Field(default_factory=list)

    def engine_default_image(self, engine: str) -> str | None:
        capability = next((e for e in self.engines if e.name == engine), None)
        if capability is not None and capability.default_image:
            return capability.default_image
        return self.default_image


class CatalogGateway(Frozen):
    """The endpoint picker every provider without its own gets (AI Runway's `--epp-image`)."""

    endpoint_picker_image: str


class ProviderCatalog(Frozen):
    api_version: Literal["runwayc.dev/v1alpha1"]
    kind: Literal["ProviderCatalog"]
    # Engine auto-selection takes the first of these that a provider offers for the spec.
    engine_preference: list[EngineType]
    providers: list[ProviderEntry]
    gateway: CatalogGateway | None = None
