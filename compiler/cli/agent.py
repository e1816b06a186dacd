"""`runwayc agent`: the status agent's process."""

from __future__ import annotations

import gc
from pathlib import Path

import click

from compiler.cli._common import only_with, runway_errors
from compiler.core.agent.deployment import (
    DEFAULT_NAMESPACE,
    DEFAULT_WORKERS,
    METRICS_PORT,
    PROMETHEUS_MOUNT,
)


@click.command("agent")
@click.option("--namespace", help="Watch one namespace.")
@click.option("--all-namespaces", "-A", is_flag=True, help="Watch every namespace.")
@click.option(
    "--kubeconfig", type=click.Path(dir_okay=False, path_type=Path), help="Out of cluster."
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=METRICS_PORT,
    show_default=True,
    help="Port of /healthz, /readyz and /metrics (0: none).",
)
@click.option(
    "--leader-elect/--no-leader-elect",
    default=False,
    help="Write status only while holding the Lease (run two replicas).",
)
@click.option("--lease-namespace", default=DEFAULT_NAMESPACE, show_default=True)
@click.option(
    "--policies",
    "policies",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory of extra policy files (the ConfigMap `bootstrap --cluster` renders).",
)
@click.option(
    "--resync",
    type=click.FloatRange(min=1),
    default=300,
    show_default=True,
    help="Seconds between re-checks of every ModelDeployment from the cache (no API calls).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=DEFAULT_WORKERS,
    show_default=True,
    help="Status writes in flight at once (never two for one ModelDeployment).",
)
@click.option(
    "--saturation",
    is_flag=True,
    help="Run WVA's saturation analyzer on ModelDeployments in autoscaling mode wva: publish "
    "wva_desired_replicas and write Saturated/ScalingBlocked (Prometheus from PROMETHEUS_* "
    "variables, else --prometheus-config).",
)
@click.option(
    "--saturation-interval",
    type=click.FloatRange(min=1),
    default=30,
    show_default=True,
    help="Seconds between saturation analyses.",
)
@click.option(
    "--saturation-config",
    type=click.Path(file_okay=False, path_type=Path),
    help="Mounted saturation-scaling-config ConfigMap (key `default`); WVA's thresholds if unset.",
)
@click.option(
    "--prometheus-config",
    type=click.Path(file_okay=False, path_type=Path),
    default=PROMETHEUS_MOUNT,
    show_default=True,
    help="Mounted ConfigMap with PROMETHEUS_* keys, read when the environment sets none.",
)
@runway_errors
def agent_command(
    namespace: str | None,
    all_namespaces: bool,
    kubeconfig: Path | None,
    metrics_port: int,
    leader_elect: bool,
    lease_namespace: str,
    policies: Path | None,
    resync: float,
    workers: int,
    saturation: bool,
    saturation_interval: float,
    saturation_config: Path | None,
    prometheus_config: Path,
) -> None:
    """Watch ModelDeployments and write their status (what the agent Deployment runs)."""
    from compiler.io.agent.serve import agent_options, run_agent

    gc.enable()  # a long-lived process: `run` turned the collector off for one-shot commands

    if bool(namespace) == all_namespaces:
        raise click.UsageError("say where to watch: --namespace NS or --all-namespaces")
    only_with("--leader-elect", leader_elect, "lease_namespace")
    only_with(
        "--saturation", saturation, "saturation_interval", "saturation_config", "prometheus_config"
    )
    options = agent_options(
        namespace=namespace,
        kubeconfig=kubeconfig,
        metrics_port=metrics_port,
        leader_elect=leader_elect,
        lease_namespace=lease_namespace,
        policies=policies,
        resync_seconds=resync,
        workers=workers,
        saturation=saturation,
        saturation_interval=saturation_interval,
        saturation_config=saturation_config,
        prometheus_config=prometheus_config,
    )
    run_agent(options)
