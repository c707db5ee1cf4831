"""The deployment files agree with each other and with what the tests run."""

from __future__ import annotations

import configparser
import os
import re
from pathlib import Path

import yaml
from servers import API_DIR, REPO_ROOT

REQUIREMENT_FILES = [
    REPO_ROOT / "requirements.txt",
    API_DIR / "requirements.txt",
    API_DIR / "requirements-publish.txt",
    API_DIR / "requirements-test.txt",
    API_DIR / "requirements-model.txt",
]


def _without_comments(path: Path) -> str:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return "\n".join(line for line in lines if line)


def _tox_envs() -> set[str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(REPO_ROOT / "tox.ini")
    return {
        s.removeprefix("testenv:") for s in parser.sections() if s.startswith("testenv:")
    }


def test_every_tox_env_that_ci_calls_exists() -> None:
    config = yaml.safe_load((REPO_ROOT / ".circleci" / "config.yml").read_text())
    commands = [
        step["run"]["command"] if isinstance(step["run"], dict) else step["run"]
        for job in config["jobs"].values()
        for step in job.get("steps", [])
        if isinstance(step, dict) and "run" in step
    ]
    called = {env for command in commands for env in re.findall(r"tox -e (\w+)", command)}

    assert called >= {"test_package", "checks", "test_app", "publish_model"}
    assert called <= _tox_envs()


def test_ci_publishes_and_deploys_only_from_version_tags() -> None:
    config = yaml.safe_load((REPO_ROOT / ".circleci" / "config.yml").read_text())
    workflow = next(iter(config["workflows"].values()))
    jobs = {name: spec for entry in workflow["jobs"] for name, spec in entry.items()}

    for name in ("publish_model", "deploy"):
        filters = jobs[name]["filters"]
        assert filters["branches"] == {"ignore": "/.*/"}
        assert filters["tags"]["only"].startswith("/^v")
    assert "test_app" in jobs["publish_model"]["requires"]
    assert jobs["deploy"]["requires"] == ["publish_model"]


def test_the_procfile_and_dockerfile_use_the_one_start_script() -> None:
    procfile = (REPO_ROOT / "Procfile").read_text().strip()
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()

    assert procfile == "web: house_prices_api/bin/start"
    assert 'CMD ["house_prices_api/bin/start"]' in dockerfile
    for script in (
        "house_prices_api/bin/start",
        "house_prices_api/bin/install-model",
        "bin/post_compile",
    ):
        assert os.access(REPO_ROOT / script, os.X_OK), f"{script} is not executable"


def test_the_dockerfile_is_pinned_unprivileged_and_checks_health_with_python() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()

    assert re.search(
        r"^FROM python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?$", dockerfile, re.M
    )
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.M)
    healthcheck = next(
        line
        for line in dockerfile.splitlines()
        if line.strip().startswith('CMD ["python"')
    )
    assert "/api/v1/health" in healthcheck
    assert "curl" not in dockerfile
    assert "ARG MODEL_INDEX_URL" in dockerfile
    assert "bin/install-model" in dockerfile


def test_the_model_is_installed_from_its_index_only() -> None:
    model_pin = (API_DIR / "requirements-model.txt").read_text()
    install = (API_DIR / "bin" / "install-model").read_text()
    post_compile = (REPO_ROOT / "bin" / "post_compile").read_text()

    assert "--index-url ${MODEL_INDEX_URL}" in model_pin
    assert "--no-deps" in install
    assert "--require-hashes" in install
    assert "-u PIP_REQUIRE_HASHES" in install
    assert "PIP_CONFIG_FILE=/dev/null" in install
    assert "-u PIP_EXTRA_INDEX_URL" in install
    assert "-u PIP_FIND_LINKS" in install
    assert "install-model" in post_compile
    for path in REQUIREMENT_FILES:
        assert "--extra-index-url" not in _without_comments(path), path


def test_the_model_pin_is_the_version_in_the_checkout() -> None:
    version = (REPO_ROOT / "regression_model" / "VERSION").read_text().strip()
    model_pin = (API_DIR / "requirements-model.txt").read_text()

    assert re.search(
        rf"^ames-house-price-model=={re.escape(version)} --hash=sha256:[0-9a-f]{{64}}$",
        model_pin,
        re.M,
    )


def test_every_third_party_requirement_is_pinned() -> None:
    for path in REQUIREMENT_FILES:
        for line in _without_comments(path).splitlines():
            if line and not line.startswith(("-r", "--index-url")):
                assert re.fullmatch(
                    r"[A-Za-z0-9._-]+==[\w.]+( --hash=sha256:[0-9a-f]{64})?", line
                ), f"{path.name}: {line}"


def test_heroku_finds_python_and_the_service_requirements() -> None:
    assert (REPO_ROOT / ".python-version").read_text().strip() == "3.11"
    assert (
        "-r house_prices_api/requirements.txt"
        in (REPO_ROOT / "requirements.txt").read_text()
    )


def test_heroku_slug_leaves_out_the_model_source() -> None:
    # Heroku runs the app with PYTHONPATH=/app: a regression_model/ folder in the
    # slug would shadow the installed wheel.
    ignored = (REPO_ROOT / ".slugignore").read_text().splitlines()

    assert "/regression_model" in ignored
    assert "/house_prices_api" not in ignored
    assert "/requirements" not in ignored


def test_only_test_app_puts_the_checkout_on_pythonpath() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(REPO_ROOT / "tox.ini")

    assert "PYTHONPATH" in parser["testenv:test_app"]["set_env"]
    assert "PYTHONPATH" not in parser["testenv:serve"]["set_env"]
