"""The deployment recipes (app.json, the KServe manifest, the Dockerfile) hold together.

Each file is parsed and checked against what the service really does: the
probes' paths are routes the app serves (and answer 200 once the model is
loaded), the variables are ones the service reads. The ECS task definition
is validated against botocore's ECS model in ``tox -e deploy``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from app.config import Settings
from fastapi.testclient import TestClient
from servers import REPO_ROOT

KSERVE_MANIFEST = REPO_ROOT / "deploy" / "kserve" / "inferenceservice.yaml"


def _container() -> dict[str, Any]:
    manifest = yaml.safe_load(KSERVE_MANIFEST.read_text())
    (container,) = manifest["spec"]["predictor"]["containers"]
    return dict(container)


def test_the_dockerfile_pins_its_base_image_by_digest() -> None:
    # Given the Dockerfile
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()

    # When its base image line is read
    base = re.search(r"^FROM (\S+)$", dockerfile, re.M)

    # Then it names an exact Python 3.11 tag and the image's digest
    assert base is not None
    assert re.fullmatch(
        r"python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", base.group(1)
    )


def test_the_kserve_manifest_is_a_custom_predictor_probed_on_the_v2_health_routes(
    client: TestClient,
) -> None:
    # Given the KServe manifest and the app in process
    manifest = yaml.safe_load(KSERVE_MANIFEST.read_text())
    container = _container()

    # When its probes and port are read
    readiness = container["readinessProbe"]["httpGet"]
    liveness = container["livenessProbe"]["httpGet"]
    environment = {item["name"]: item["value"] for item in container["env"]}

    # Then a v1beta1 InferenceService whose probes hit real routes on the served port
    assert manifest["apiVersion"] == "serving.kserve.io/v1beta1"
    assert manifest["kind"] == "InferenceService"
    assert container["name"] == "kserve-container"
    assert readiness["path"] == "/v2/health/ready"
    assert liveness["path"] == "/v2/health/live"
    assert client.get(readiness["path"]).json() == {"ready": True}
    assert client.get(liveness["path"]).json() == {"live": True}
    assert client.get("/v2/health/unknown").status_code == 404
    port = container["ports"][0]["containerPort"]
    assert readiness["port"] == liveness["port"] == port
    assert environment["PORT"] == str(port)
    assert container["securityContext"]["runAsNonRoot"] is True


def test_app_json_deploys_with_the_buildpack_the_model_index_and_postgres() -> None:
    # Given Heroku's app.json
    app = json.loads((REPO_ROOT / "app.json").read_text())

    # When its buildpack, variables and add-ons are read
    env = app["env"]
    addons = [addon["plan"].split(":")[0] for addon in app["addons"]]

    # Then "Deploy to Heroku" builds with Python, asks for the index, and logs to Postgres
    assert app["buildpacks"] == [{"url": "heroku/python"}]
    assert env["MODEL_INDEX_URL"]["required"] is True
    assert int(env["WEB_CONCURRENCY"]["value"]) >= 1
    assert addons == ["heroku-postgresql"]
    assert app["addons"][0]["as"] == "DATABASE"
    assert "database_url" in Settings.model_fields
    assert (REPO_ROOT / "Procfile").read_text().startswith("web: ")
