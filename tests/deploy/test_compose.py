"""The Dockerfile and compose.yaml, checked without a Docker daemon: parsed (the Dockerfile by BuildKit's own
parser), and held to what docs/operations.md promises (non-root, the production gunicorn settings, health checks,
migrations before the API and the worker, nginx in front, only real settings, the demo refused in production)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import dockerfile
import pytest
import yaml
from biller_server.config import MissingSettingError, Settings, load_settings
from dotenv import dotenv_values

from tests.deploy.conftest import ROOT

COMPOSE = ROOT / "compose.yaml"
DEMO_ENV = ROOT / "deploy" / "compose" / "demo.env"
NGINX_CONF = ROOT / "deploy" / "nginx" / "biller-server.conf"
# Variables compose.yaml itself reads (interpolation), not settings of the server.
COMPOSE_VARIABLES = {"BILLER_ENV_FILE", "BILLER_IMAGE_TAG", "BILLER_PUBLISH", "BILLER_BUILD_COMMIT"}


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def services() -> dict:
    return compose()["services"]


def instructions(stage: int | None = None) -> list[dockerfile.Command]:
    """The Dockerfile's instructions; ``stage`` -1 is the final image's."""
    commands = list(dockerfile.parse_file(str(ROOT / "Dockerfile")))
    if stage is None:
        return commands
    starts = [index for index, command in enumerate(commands) if command.cmd == "FROM"]
    return commands[starts[stage] :]


def final(cmd: str) -> list[dockerfile.Command]:
    return [command for command in instructions(-1) if command.cmd == cmd]


class TestDockerfile:
    def test_both_stages_use_a_slim_python_base(self):
        default_base = next(
            c.value[0] for c in instructions() if c.cmd == "ARG" and c.value[0].startswith("PYTHON_IMAGE=")
        )

        assert re.fullmatch(r"PYTHON_IMAGE=python:3\.1[1-9]-slim-\w+", default_base)
        assert [c.value[0] for c in instructions() if c.cmd == "FROM"] == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]

    def test_the_image_runs_as_an_unprivileged_user(self):
        (user,) = final("USER")

        assert user.value[0].split(":")[0] not in {"0", "root"}

    def test_the_default_command_is_an_api_host_with_the_production_gunicorn_settings(self):
        (entrypoint,) = final("ENTRYPOINT")
        (command,) = final("CMD")
        config_copy = next(c for c in final("COPY") if c.value[0] == "config/gunicorn.conf.py")

        assert entrypoint.value == ("biller-server",)
        assert command.value[:2] == ("serve", "--no-worker")
        arguments = dict(zip(command.value[2::2], command.value[3::2], strict=True))
        assert arguments["--gunicorn-config"] == config_copy.value[1]
        assert arguments["--host"] == "0.0.0.0"  # noqa: S104 (the container's own interface)
        assert arguments["--port"] in [expose.value[0] for expose in final("EXPOSE")]

    def test_the_health_check_asks_the_served_port_for_healthz(self):
        (healthcheck,) = final("HEALTHCHECK")
        (command,) = final("CMD")
        port = dict(zip(command.value[2::2], command.value[3::2], strict=True))["--port"]

        assert healthcheck.value[0] == "CMD"
        assert f"http://127.0.0.1:{port}/healthz" in " ".join(healthcheck.value)
        assert "--interval=15s" in healthcheck.flags

    def test_the_build_commit_reaches_the_setting(self):
        assert any(c.value == ("BILLER_BUILD_COMMIT=unknown",) for c in final("ARG"))
        env = final("ENV")
        pairs = dict(zip(env[0].value[::2], env[0].value[1::2], strict=True))
        assert pairs["BILLER_BUILD_COMMIT"] == "${BILLER_BUILD_COMMIT}"
        assert "build_commit" in Settings.model_fields

    def test_every_file_copied_from_the_context_exists_and_is_not_ignored(self):
        ignored = [
            line.strip()
            for line in (ROOT / ".dockerignore").read_text().splitlines()
            if line.strip() and not line.startswith("#")
        ]
        for command in instructions():
            if command.cmd != "COPY" or any(flag.startswith("--from=") for flag in command.flags):
                continue
            for source in command.value[:-1]:
                assert (ROOT / source).exists(), source
                assert not any(Path(source).match(pattern) or source.startswith(pattern + "/") for pattern in ignored)


class TestCompose:
    def test_the_stack_is_postgresql_migrations_api_worker_and_nginx(self):
        assert set(services()) == {"db", "migrate", "api", "worker", "nginx"}

    def test_migrations_run_once_the_database_is_healthy_and_before_the_api_and_the_worker(self):
        migrate = services()["migrate"]

        assert migrate["command"] == ["db", "upgrade"]
        assert migrate["restart"] == "no"
        assert migrate["depends_on"] == {"db": {"condition": "service_healthy"}}
        for name in ("api", "worker"):
            assert services()[name]["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}

    def test_the_database_has_a_health_check_and_keeps_its_data_in_a_volume(self):
        db = services()["db"]

        assert "pg_isready" in " ".join(db["healthcheck"]["test"])
        assert db["volumes"] == ["pgdata:/var/lib/postgresql/data"]
        assert "pgdata" in compose()["volumes"]

    def test_the_api_runs_the_images_command_and_gets_time_to_finish_its_requests(self):
        api = services()["api"]

        assert "command" not in api  # the image's: serve --no-worker with config/gunicorn.conf.py
        assert api["expose"] == ["8000"]
        assert "ports" not in api  # reached through nginx only
        assert seconds(api["stop_grace_period"]) > 30  # gunicorn's graceful_timeout

    def test_the_worker_is_separate_and_gets_a_minute_to_stop(self):
        worker = services()["worker"]

        assert worker["command"][0] == "worker"
        assert worker["healthcheck"] == {"disable": True}
        assert seconds(worker["stop_grace_period"]) >= 60

    def test_api_worker_and_migrations_share_one_image_and_one_settings_file(self):
        built = [services()[name] for name in ("migrate", "api", "worker")]

        assert all(service["build"]["context"] == "." for service in built)
        assert len({service["image"] for service in built}) == 1
        assert {service["env_file"] for service in built} == {"${BILLER_ENV_FILE:-deploy/compose/demo.env}"}

    def test_nginx_fronts_the_api_with_the_front_servers_configuration(self):
        nginx = services()["nginx"]

        assert nginx["volumes"] == ["./deploy/nginx/biller-server.conf:/etc/nginx/conf.d/default.conf:ro"]
        assert nginx["depends_on"] == {"api": {"condition": "service_healthy"}}
        (published,) = nginx["ports"]
        assert published == "${BILLER_PUBLISH:-127.0.0.1:8000}:8080"  # the quick start's address, this host only

    def test_the_front_servers_configuration_listens_where_compose_publishes_and_passes_to_the_api(self):
        if not NGINX_CONF.exists():
            pytest.skip("deploy/nginx/biller-server.conf comes with the front server's branch")
        conf = NGINX_CONF.read_text()

        assert re.search(r"^\s*listen 8080;", conf, re.MULTILINE)
        assert re.search(r"^\s*server api:8000;", conf, re.MULTILINE)

    def test_every_biller_variable_is_a_real_setting(self):
        settings = {f"BILLER_{name.upper()}" for name in Settings.variable_names()}
        used = set(dotenv_values(DEMO_ENV)) | set(re.findall(r"\$\{(BILLER_\w+)", COMPOSE.read_text()))
        for service in services().values():
            used |= {name for name in service.get("environment", {}) if name.startswith("BILLER_")}

        assert used - settings - COMPOSE_VARIABLES == set()

    def test_the_demo_settings_reach_the_stacks_database(self):
        db = services()["db"]["environment"]
        url = dotenv_values(DEMO_ENV)["BILLER_DATABASE_URL"]

        password = re.fullmatch(r"\$\{POSTGRES_PASSWORD:-(\w+)\}", db["POSTGRES_PASSWORD"]).group(1)
        assert url == f"postgresql://{db['POSTGRES_USER']}:{password}@db:5432/{db['POSTGRES_DB']}"

    def test_the_demo_is_accepted_in_development_and_refused_in_production(self):
        demo = {key.removeprefix("BILLER_").lower(): value for key, value in dotenv_values(DEMO_ENV).items()}

        settings = load_settings(**demo)
        settings.check_production()  # development: starts
        assert settings.kaleidofin.confirmed_by == "fake" and settings.secret("kaleidofin_api_key")
        with pytest.raises(MissingSettingError):
            load_settings(**{**demo, "env": "production"}).check_production()

    def test_docker_compose_accepts_the_file(self):
        docker = shutil.which("docker")
        if (
            docker is None
            or subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode
        ):
            pytest.skip("no Docker Compose v2 here (`docker compose`); compose.yaml is checked by the tests above")
        result = subprocess.run(
            [docker, "compose", "-f", str(COMPOSE), "config", "--quiet"], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr


def seconds(duration: str) -> int:
    match = re.fullmatch(r"(\d+)s", duration)
    assert match, duration
    return int(match.group(1))


def test_the_quick_starts_compose_commands_name_real_services():
    readme = (ROOT / "README.md").read_text()
    for line in re.findall(r"^docker compose .*$", readme, re.MULTILINE):
        words = shlex.split(line)
        if words[2] in {"exec", "run"}:
            service = next(word for word in words[3:] if not word.startswith("-"))
            assert service in services(), line
