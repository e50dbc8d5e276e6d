"""Every cluster config parses, pins Ray 2.60.0 and names an import path that imports."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

CLUSTER = Path(__file__).resolve().parents[2] / "cluster"
RAY_VERSION = "2.60.0"
IMPORT_PATH = "serve.deployment:build_app"


def _load(name: str) -> dict:
    return yaml.safe_load((CLUSTER / name).read_text())


def _images(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["image"]] if isinstance(node.get("image"), str) else []
        return found + [i for v in node.values() for i in _images(v)]
    if isinstance(node, list):
        return [i for v in node for i in _images(v)]
    return []


@pytest.mark.parametrize("path", sorted(CLUSTER.glob("*.yaml")), ids=lambda p: p.name)
def test_every_yaml_parses_and_pins_ray(path: Path) -> None:
    config = yaml.safe_load(path.read_text())
    assert isinstance(config, dict)
    for image in _images(config):
        assert RAY_VERSION in image, f"{path.name}: image {image} is not Ray {RAY_VERSION}"


def _serve_configs() -> list[tuple[str, dict]]:
    configs = [("serve-local.yaml", _load("serve-local.yaml"))]
    service = _load("kuberay-rayservice.yaml")
    configs.append(("kuberay-rayservice.yaml", yaml.safe_load(service["spec"]["serveConfigV2"])))
    return configs


@pytest.mark.parametrize(
    ("name", "config"), _serve_configs(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_serve_configs_name_the_app_and_it_imports(name: str, config: dict) -> None:
    (app,) = config["applications"]
    assert app["import_path"] == IMPORT_PATH, name
    module, attribute = app["import_path"].split(":")
    assert callable(getattr(importlib.import_module(module), attribute))
    assert {d["name"] for d in app["deployments"]} == {"ClipzzAPI"}


def test_local_serve_config_binds_loopback_only() -> None:
    assert _load("serve-local.yaml")["http_options"]["host"] == "127.0.0.1"


def test_kuberay_manifests_pin_the_version_and_keep_work_off_the_head() -> None:
    service = _load("kuberay-rayservice.yaml")["spec"]["rayClusterConfig"]
    cluster = _load("kuberay-raycluster.yaml")["spec"]
    job = _load("kuberay-rayjob.yaml")["spec"]
    for spec in (service, cluster, job["rayClusterSpec"]):
        assert spec["rayVersion"] == RAY_VERSION
        assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
        (gpu,) = spec["workerGroupSpecs"]
        assert gpu["minReplicas"] == 0
        container = gpu["template"]["spec"]["containers"][0]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert job["entrypoint"].startswith("python -m pipeline.batch ")
    assert service is not None and _load("kuberay-rayservice.yaml")["kind"] == "RayService"


def test_launcher_config_has_a_gpu_worker_type_and_matching_ports() -> None:
    config = _load("aws-gpu.yaml")
    assert config["docker"]["image"] == f"rayproject/ray:{RAY_VERSION}-py311-gpu"
    worker = config["available_node_types"]["gpu_worker"]
    assert worker["min_workers"] == 0 and worker["node_config"]["InstanceType"].startswith("g")
    head_port = config["head_start_ray_commands"][-1].split("--port=")[1].split()[0]
    assert f"$RAY_HEAD_IP:{head_port}" in config["worker_start_ray_commands"][-1]
