"""deploy/ecs/task-definition.json is a valid RegisterTaskDefinition request.

Checked offline against the ECS API model that botocore ships (the model
every AWS SDK and the CLI validate with), through botocore's public
loader and parameter validator; then against what the Dockerfile builds.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import validate_parameters

REPO_ROOT = Path(__file__).resolve().parents[2]
TASK_DEFINITION = REPO_ROOT / "deploy" / "ecs" / "task-definition.json"
DOCKERFILE = REPO_ROOT / "Dockerfile"


@pytest.fixture(scope="module")
def task_definition() -> dict[str, Any]:
    return dict(json.loads(TASK_DEFINITION.read_text()))


def register_input_shape() -> Any:
    """The input shape of ECS's RegisterTaskDefinition, from botocore's bundled model."""
    session = botocore.session.get_session()
    model = session.get_service_model("ecs")
    return model.operation_model("RegisterTaskDefinition").input_shape


def test_the_task_definition_is_a_valid_register_request(
    task_definition: dict[str, Any],
) -> None:
    # Given the ECS API's own description of RegisterTaskDefinition
    shape = register_input_shape()

    # When the file is validated against it (raises ParamValidationError if not)
    validate_parameters(task_definition, shape)

    # Then it is valid, and the validator does catch a wrong field
    broken = {**task_definition, "cpu": 512, "containerDefinitions": [{"nme": "x"}]}
    with pytest.raises(Exception, match="Unknown parameter in containerDefinitions"):
        validate_parameters(broken, shape)


def test_the_task_runs_the_dockerfiles_image_on_fargate_with_health_and_logs(
    task_definition: dict[str, Any],
) -> None:
    # Given the task definition and the Dockerfile the image is built from
    dockerfile = DOCKERFILE.read_text()
    (container,) = task_definition["containerDefinitions"]

    # When their ports, user and health checks are compared
    exposed_line = re.search(r"^EXPOSE (\d+)$", dockerfile, re.M)
    user_line = re.search(r"useradd .*--uid (\d+)", dockerfile)
    assert exposed_line is not None
    assert user_line is not None
    exposed, user = int(exposed_line.group(1)), user_line.group(1)
    environment = {item["name"]: item["value"] for item in container["environment"]}

    # Then Fargate runs that image as its user, on its port, checked like Docker checks it
    assert task_definition["requiresCompatibilities"] == ["FARGATE"]
    assert task_definition["networkMode"] == "awsvpc"
    assert container["portMappings"][0]["containerPort"] == exposed
    assert environment["PORT"] == str(exposed)
    assert container["user"] == user
    assert "/api/v1/health" in " ".join(container["healthCheck"]["command"])
    assert container["healthCheck"]["command"][0] == "CMD"
    assert container["logConfiguration"]["logDriver"] == "awslogs"
    assert {"awslogs-group", "awslogs-region", "awslogs-stream-prefix"} <= set(
        container["logConfiguration"]["options"]
    )
