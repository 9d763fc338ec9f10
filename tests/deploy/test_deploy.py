"""The deployment files: Kubernetes manifests validated offline against the API schemas, the nginx example
checked by nginx itself, and the container image definition's promises.

The manifests are validated with kubernetes-validate, which ships the schemas of every Kubernetes
release it knows: no cluster and no network (one test proves it by running it in a network namespace
with no interface up). The image itself cannot be built here (no registry for its base image).
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from eval.bench.balancer import NGINX_EXAMPLE, BalancerError, check_config, main_config
from settings import Settings
from tests.conftest import ROOT
from tests.mounts import cannot_run_root_only
from tests.service.test_replicas import require_nginx

DEPLOY = ROOT / "deploy"
MANIFESTS = DEPLOY / "kubernetes"
# The oldest Kubernetes release the manifests promise to work on, and the newest the validator knows.
KUBERNETES_VERSIONS = ("1.30", latest_version())


def manifest_files() -> list[Path]:
    return sorted(p for p in MANIFESTS.glob("*.yaml") if p.name != "kustomization.yaml")


def resources() -> dict[str, dict[str, Any]]:
    """Every resource of the manifests by kind."""
    found = {}
    for path in manifest_files():
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document:
                found[document["kind"]] = document
    return found


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_validates_strictly_against_the_kubernetes_schemas(version: str) -> None:
    kinds = []
    for path in manifest_files():
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            # strict: unknown fields are errors; a kind without a schema raises SchemaNotFoundError.
            kubernetes_validate.validate(document, version, strict=True)
            kinds.append(document["kind"])
    assert sorted(kinds) == sorted(
        ["Deployment", "HorizontalPodAutoscaler", "Job", "PersistentVolumeClaim", "PodDisruptionBudget", "Service"]
    )


def test_a_broken_manifest_is_refused() -> None:
    """The validator is not a rubber stamp: a misspelt field and a wrong type are both caught."""
    deployment = resources()["Deployment"]
    misspelt = copy.deepcopy(deployment)
    misspelt["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = misspelt["spec"]["template"]["spec"][
        "containers"
    ][0].pop("readinessProbe")
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["replicas"] = "three"
    for broken in (misspelt, wrong_type):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


def test_the_validation_needs_no_network(tmp_path: Path) -> None:
    """Run the validator's command in a network namespace of its own: no interface is up, nothing can leak."""
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-n", "true"], capture_output=True, check=False).returncode != 0:
        cannot_run_root_only("cannot make a network namespace here (unshare -n needs root)")
    command = [unshare, "-n", sys.executable, "-m", "kubernetes_validate", "--strict", "--quiet"]
    checked = subprocess.run([*command, *map(str, manifest_files())], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "WARN" not in checked.stdout  # a missing schema is only a warning for the command: none allowed


def test_the_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text(encoding="utf-8"))
    assert sorted(kustomization["resources"]) == [p.name for p in manifest_files()]


def test_the_deployment_is_probed_sized_and_shares_the_index_with_the_ingest_job() -> None:
    found = resources()
    pod = found["Deployment"]["spec"]["template"]["spec"]
    (api,) = pod["containers"]
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["resources"]["requests"].keys() == {"cpu", "memory"}
    env = {item["name"]: item["value"] for item in api["env"] if "value" in item}
    secrets = {item["name"]: item["valueFrom"]["secretKeyRef"] for item in api["env"] if "valueFrom" in item}
    assert secrets["HEALTHQA_ANSWER_SECRET"]["name"]  # replicas share the secret that signs answer ids
    assert float(env["HEALTHQA_INDEX_WATCH_S"]) > 0
    assert set(env) <= {f"HEALTHQA_{name.upper()}" for name in Settings.model_fields}  # no misspelt setting
    assert pod["securityContext"]["runAsNonRoot"] is True
    claim = found["PersistentVolumeClaim"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    job = found["Job"]["spec"]["template"]["spec"]
    for spec in (pod, job):
        (volume,) = [v for v in spec["volumes"] if "persistentVolumeClaim" in v]
        assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    (ingest,) = job["containers"]
    assert ingest["args"][:2] == ["healthqa", "ingest"]
    assert ingest["args"][ingest["args"].index("--index") + 1] == env["HEALTHQA_INDEX_DIR"]
    hpa = found["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == found["Deployment"]["metadata"]["name"]
    selector = found["Service"]["spec"]["selector"]
    assert selector.items() <= found["Deployment"]["spec"]["template"]["metadata"]["labels"].items()


def test_the_image_runs_offline_as_a_non_root_user_with_the_onnx_export_and_the_bank_built_in() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    build, runtime = dockerfile.split("\nFROM ${PYTHON_IMAGE}\n")
    assert "embed_queries" in build and "HEALTHQA_MODEL_CACHE_DIR=/opt/healthqa/models" in build
    # The learned models loaded as the service loads them: the backstop's example bank is built into that folder.
    assert (
        "load_models(s.models_dir, embedder=open_embedder(s.embedder_settings()), cache_dir=s.model_cache_dir" in build
    )
    assert build.index("COPY eval eval") < build.index("load_models(")  # the tuning questions are in eval/data
    assert "COPY --from=build /opt/healthqa/models /opt/healthqa/models" in runtime
    assert "HF_HUB_OFFLINE=1" in runtime
    (user,) = [line.split()[1] for line in runtime.splitlines() if line.startswith("USER ")]
    assert not user.startswith(("0", "root"))
    assert runtime.rstrip().endswith('CMD ["healthqa", "serve"]')


def test_the_image_copies_every_package_and_the_learned_models() -> None:
    """A package left out of the image would fail only when it is first imported there."""
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    packages = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"][
        "packages"
    ]["find"]["include"]
    for package in [name.rstrip("*") for name in packages] + ["models", "corpus"]:
        assert f"COPY {package} {package}" in dockerfile, package


def test_the_nginx_example_passes_nginx_t(tmp_path: Path) -> None:
    require_nginx()
    config = tmp_path / "nginx.conf"
    config.write_text(main_config(NGINX_EXAMPLE, tmp_path), encoding="utf-8")
    check_config(config, tmp_path)
    broken = tmp_path / "broken.conf"
    broken.write_text(NGINX_EXAMPLE.read_text(encoding="utf-8").replace("proxy_pass", "proxy_pas"), encoding="utf-8")
    config.write_text(main_config(broken, tmp_path), encoding="utf-8")
    with pytest.raises(BalancerError, match="proxy_pas"):
        check_config(config, tmp_path)
