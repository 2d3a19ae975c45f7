"""The deployment examples in `deploy/` stay valid: the ConfigMap's configuration loads, the HA
Deployment has two replicas probing /healthz on the health port, and the CronJobs forbid overlap."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from custodian.config import parse_config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def documents(name: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for document in yaml.safe_load_all((DEPLOY / "kubernetes" / name).read_text()):
        out.setdefault(document["kind"], []).append(document)
    return out


def test_the_ha_deployment_and_its_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    kinds = documents("scheduler-deployment.yaml")
    monkeypatch.setenv("POD_NAME", "release-custodian-scheduler-abc")
    monkeypatch.setenv("LEDGER_URL", "postgresql+psycopg://custodian@postgres:5432/custodian")
    config = parse_config(kinds["ConfigMap"][0]["data"]["release-custodian.yaml"], "configmap")
    assert config.ledger.url.startswith("postgresql")  # several replicas need the PostgreSQL ledger
    assert config.service.health.port == 9108 and config.service.health.bind == "0.0.0.0"
    deployment = kinds["Deployment"][0]["spec"]
    assert deployment["replicas"] == 2
    (container,) = deployment["template"]["spec"]["containers"]
    assert container["args"][:2] == ["release-custodian", "schedule"]
    assert container["ports"][0]["containerPort"] == config.service.health.port
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/healthz"


def test_the_cronjob_form_forbids_concurrent_runs() -> None:
    cronjobs = documents("cronjobs.yaml")["CronJob"]
    assert len(cronjobs) == 2
    for cronjob in cronjobs:
        spec = cronjob["spec"]
        assert spec["concurrencyPolicy"] == "Forbid" and spec["jobTemplate"]["spec"]["backoffLimit"] == 0


def test_the_systemd_unit_runs_the_schedule_command() -> None:
    unit = (DEPLOY / "systemd" / "release-custodian-scheduler.service").read_text()
    assert "release-custodian schedule" in unit and "KillSignal=SIGTERM" in unit
    assert "RestartPreventExitStatus=2" in unit


def pod_specs() -> list[dict[str, Any]]:
    """Every pod template of the Kubernetes examples: the Deployment's and each CronJob's."""
    deployment = documents("scheduler-deployment.yaml")["Deployment"][0]["spec"]["template"]
    cronjobs = [c["spec"]["jobTemplate"]["spec"]["template"] for c in documents("cronjobs.yaml")["CronJob"]]
    return [deployment, *cronjobs]


def test_every_pod_authenticates_with_workload_identity_and_the_app_key(monkeypatch: pytest.MonkeyPatch) -> None:
    kinds = documents("scheduler-deployment.yaml")
    monkeypatch.setenv("POD_NAME", "pod")
    monkeypatch.setenv("LEDGER_URL", "postgresql+psycopg://custodian@postgres:5432/custodian")
    config = parse_config(kinds["ConfigMap"][0]["data"]["release-custodian.yaml"], "configmap")
    assert config.azure.credential is not None and config.azure.credential.kind.value == "workload-identity"
    assert config.github.app is not None and config.github.token is None
    key_file = Path(str(config.github.app.private_key.file))
    (service_account,) = kinds["ServiceAccount"]
    assert service_account["metadata"]["annotations"]["azure.workload.identity/client-id"]
    for template in pod_specs():
        assert template["metadata"]["labels"]["azure.workload.identity/use"] == "true"
        spec = template["spec"]
        assert spec["serviceAccountName"] == service_account["metadata"]["name"]
        (container,) = spec["containers"]
        names = {variable["name"] for variable in container.get("env", [])}
        assert not {name for name in names if "TOKEN" in name or "SECRET" in name}, names
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert key_file.parent == Path(mounts["github-app"])
        (volume,) = [v for v in spec["volumes"] if v["name"] == "github-app"]
        assert {item["path"] for item in volume["secret"]["items"]} == {key_file.name}
