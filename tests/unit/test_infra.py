"""Fleet wiring: docker-compose.yml, infra/k8s and the Dockerfiles checked against the code.

No Docker engine or cluster is needed: the files are parsed and cross-checked against the settings
model (env names, queue names, time limits) and the CLI (verbs and their options).
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from smallcut.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
K8S_DIR = ROOT / "infra" / "k8s"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERIGNORE = ROOT / ".dockerignore"

ENV_NAME = re.compile(r"\bSMALLCUT_[A-Z0-9_]+\b")
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])[^}]*)?\}")
REQUIRED_SERVICES = {"redis", "minio", "minio-init", "models-init", "events", "worker-gpu", "worker-cpu", "flower"}
DEPENDS_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


# --- loading -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def k8s_docs() -> list[tuple[str, dict]]:
    docs = []
    for path in sorted(K8S_DIR.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path.name, doc))
    return docs


def kind(docs, name: str) -> list[dict]:
    return [doc for _, doc in docs if doc.get("kind") == name]


def settings_env_names() -> set[str]:
    return {"SMALLCUT_" + name.upper() for name in Settings.model_fields}


def secret_env_names() -> set[str]:
    return {
        "SMALLCUT_" + name.upper()
        for name, field in Settings.model_fields.items()
        if "SecretStr" in repr(field.annotation)
    }


def default(field: str):
    return Settings.model_fields[field].get_default(call_default_factory=True)


def env_example() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            pairs[key.strip()] = value.strip()
    return pairs


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?message} with values from .env.example."""

    def repl(m: re.Match) -> str:
        name, op = m.group(1), m.group(2)
        if name in env:
            return env[name]
        if op in (":-", "-"):
            return m.group(0).split(op, 1)[1][:-1]
        raise AssertionError(f"${{{name}}} has no value in .env.example and no default")

    return INTERPOLATION.sub(repl, value)


def service_env(svc: dict) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def dockerfile_of(svc: dict) -> Path | None:
    build = svc.get("build")
    if build is None:
        return None
    if isinstance(build, str):
        return ROOT / build / "Dockerfile"
    return ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines, current = [], ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        word, _, rest = current.partition(" ")
        lines.append((word.upper(), rest.strip()))
        current = ""
    return lines


def exec_form(text: str) -> list[str]:
    text = text.strip()
    return json.loads(text) if text.startswith("[") else shlex.split(text)


def as_argv(value) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else shlex.split(str(value))


def compose_argv(svc: dict) -> list[str]:
    """The process a compose service runs: entrypoint (its own or the Dockerfile's) + command."""
    entrypoint = as_argv(svc.get("entrypoint"))
    if not entrypoint and (dockerfile := dockerfile_of(svc)) is not None:
        for word, rest in dockerfile_instructions(dockerfile):
            if word == "ENTRYPOINT":
                entrypoint = exec_form(rest)
    return entrypoint + as_argv(svc.get("command"))


def containers(doc: dict) -> list[dict]:
    return doc["spec"]["template"]["spec"]["containers"]


def k8s_argv(container: dict) -> list[str]:
    return as_argv(container.get("command")) + as_argv(container.get("args"))


def option(argv: list[str], flag: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def duration_seconds(text: str) -> float:
    total, units = 0.0, {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(text))
    assert parts and "".join(n + u for n, u in parts) == str(text), f"bad duration {text!r}"
    for number, unit in parts:
        total += float(number) * units[unit]
    return total


def smallcut_invocations(services, k8s_docs) -> list[tuple[str, list[str]]]:
    """Every `smallcut ...` command line in compose, k8s and the Dockerfiles' RUN steps."""
    found = []
    for name, svc in services.items():
        argv = compose_argv(svc)
        if argv[:1] == ["smallcut"]:
            found.append((f"compose:{name}", argv[1:]))
    for fname, doc in k8s_docs:
        if doc.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            for c in containers(doc):
                argv = k8s_argv(c)
                if argv[:1] == ["smallcut"]:
                    found.append((f"{fname}:{c['name']}", argv[1:]))
    for dockerfile in sorted((ROOT / "infra" / "docker").glob("Dockerfile*")):
        for word, rest in dockerfile_instructions(dockerfile):
            if word == "RUN":
                for m in re.finditer(r"(?:^|&&|\|\||;)\s*smallcut\s+([^&|;]*)", rest):
                    found.append((dockerfile.name, shlex.split(m.group(1))))
    return found


# --- compose -------------------------------------------------------------------------------------


def test_compose_has_the_fleet_services(services):
    missing = REQUIRED_SERVICES - set(services)
    assert not missing, f"docker-compose.yml lacks services: {sorted(missing)}"


def test_every_smallcut_env_name_is_a_settings_field():
    known = settings_env_names()
    files = [COMPOSE_FILE, ENV_EXAMPLE, *sorted(K8S_DIR.glob("*.yaml")), *sorted((ROOT / "infra").rglob("Dockerfile*"))]
    used = {(str(path.relative_to(ROOT)), name) for path in files for name in ENV_NAME.findall(path.read_text())}
    assert {where for where, _ in used} >= {"docker-compose.yml", "infra/k8s/configmap.yaml"}, "no settings found"
    unknown = {f"{where}: {name}" for where, name in used if name not in known}
    assert not unknown, f"env names that smallcut.settings.Settings does not read: {sorted(unknown)}"


def test_compose_secrets_come_from_the_environment(services):
    secret_names = secret_env_names()
    checked = 0
    for name, svc in services.items():
        for key, value in service_env(svc).items():
            if key in secret_names:
                checked += 1
                assert "${" in value, f"{name}: {key} is a secret and must come from .env, not a literal"
    assert checked, "no secret SMALLCUT_* variable found in compose"


def test_env_example_defines_every_required_variable():
    text = COMPOSE_FILE.read_text()
    example = env_example()
    required = {m.group(1) for m in INTERPOLATION.finditer(text) if m.group(2) in (":?", "?")}
    used = {m.group(1) for m in INTERPOLATION.finditer(text)}
    assert required, "compose requires no variable: secrets would be empty"
    assert not required - set(example), f".env.example lacks {sorted(required - set(example))}"
    undocumented = sorted(used - set(example))
    assert not undocumented, f"compose uses variables .env.example does not document: {undocumented}"
    assert not ENV_NAME.findall("\n".join(f"{k}={v}" for k, v in example.items())), (
        ".env.example must not set SMALLCUT_* values (smallcut reads ./.env on the host too)"
    )


def test_smallcut_commands_are_real_verbs_with_valid_options(services, k8s_docs):
    from smallcut.cli import VERBS, build_parser

    invocations = smallcut_invocations(services, k8s_docs)
    verbs = {argv[0] for _, argv in invocations if argv}
    assert {"worker", "events", "models"} <= verbs, f"fleet commands not found, saw {sorted(verbs)}"
    unknown = sorted({f"{where}: {argv[0]}" for where, argv in invocations if argv[0] not in VERBS})
    assert not unknown, f"not verbs of smallcut.cli.VERBS ({sorted(VERBS)}): {unknown}"
    for where, argv in invocations:
        parser = build_parser(argv[0])  # the CLI adds a verb's options only for the verb given
        try:
            parser.parse_args([interpolate(a, env_example()) for a in argv])  # compose fills ${VAR} first
        except SystemExit as exc:  # argparse reports bad options by exiting
            pytest.fail(f"{where}: `smallcut {' '.join(argv)}` is rejected by the CLI (exit {exc.code})")


def test_healthchecks_on_stateful_services_and_events(services):
    for name in ("redis", "minio", "events"):
        check = services[name].get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), f"{name}: healthcheck test must be CMD/CMD-SHELL"


def test_events_healthcheck_and_webhook_use_the_served_port(services):
    port = option(compose_argv(services["events"]), "--port")
    assert port, "events serve has no --port"
    probe = interpolate(" ".join(services["events"]["healthcheck"]["test"][1:]), env_example())
    assert f":{port}/" in probe, f"events healthcheck does not probe port {port}: {probe}"


def test_depends_on_points_at_real_services_with_valid_conditions(services):
    graph = {}
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        if isinstance(deps, list):
            deps = {d: {"condition": "service_started"} for d in deps}
        graph[name] = set(deps)
        for dep, spec in deps.items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            condition = (spec or {}).get("condition", "service_started")
            assert condition in DEPENDS_CONDITIONS, f"{name} -> {dep}: unknown condition {condition}"
            if condition == "service_healthy":
                assert services[dep].get("healthcheck"), f"{name} waits for {dep} to be healthy; it has no healthcheck"
            if condition == "service_completed_successfully":
                assert str(services[dep].get("restart", "no")) == "no", f"{dep} is a one-shot and must not restart"
    seen, stack = set(), set()

    def visit(node: str) -> None:
        assert node not in stack, f"depends_on cycle through {node}"
        if node in seen:
            return
        stack.add(node)
        for dep in graph[node]:
            visit(dep)
        stack.discard(node)
        seen.add(node)

    for node in graph:
        visit(node)


def test_workers_wait_for_storage_setup_and_weights(services):
    for name in ("worker-gpu", "worker-cpu"):
        deps = services[name].get("depends_on") or {}
        assert deps.get("redis", {}).get("condition") == "service_healthy", f"{name} must wait for a healthy redis"
        for one_shot in ("minio-init", "models-init"):
            assert deps.get(one_shot, {}).get("condition") == "service_completed_successfully", (
                f"{name} must wait for {one_shot}"
            )


def test_gpu_worker_reserves_an_nvidia_gpu_and_runs_several_processes_on_it(services):
    svc = services["worker-gpu"]
    devices = svc["deploy"]["resources"]["reservations"]["devices"]
    assert any(d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) for d in devices), devices
    assert dockerfile_of(svc).name == "Dockerfile.gpu"
    argv = compose_argv(svc)
    assert option(argv, "--queues") == default("gpu_queue")
    # one process leaves the GPU mostly idle (its CPU-side steps set the pace): several share it
    assert int(interpolate(option(argv, "--concurrency"), env_example())) == 4
    assert int(interpolate(option(argv, "--concurrency"), {})) == 4


def test_cpu_worker_is_an_opt_in_profile_on_the_cpu_queue(services):
    svc = services["worker-cpu"]
    assert "cpu" in (svc.get("profiles") or []), "worker-cpu must sit behind the `cpu` profile"
    assert option(compose_argv(svc), "--queues") == default("cpu_queue")
    assert service_env(svc).get("SMALLCUT_PROVIDERS") == "CPUExecutionProvider"


def test_worker_stop_grace_outlasts_the_task_time_limit(services):
    limit = max(default("soft_time_limit"), default("time_limit"))
    for name in ("worker-gpu", "worker-cpu"):
        grace = duration_seconds(services[name].get("stop_grace_period", "10s"))
        assert grace > limit, f"{name}: stop_grace_period {grace}s <= task time limit {limit}s"


def test_redis_never_evicts_and_persists(services):
    svc = services["redis"]
    argv = as_argv(svc.get("command"))
    config: dict[str, str] = {}
    mounts = {}
    for volume in svc.get("volumes", []):
        host, container = str(volume).split(":")[:2]
        mounts[container] = host
    for arg in argv[1:]:
        if arg in mounts and mounts[arg].startswith("."):
            for line in (ROOT / mounts[arg]).read_text().splitlines():
                parts = line.split()
                if parts and not parts[0].startswith("#") and len(parts) >= 2:
                    config[parts[0].lower()] = parts[1]
    for i, arg in enumerate(argv):  # command-line flags override the file
        if arg.startswith("--") and i + 1 < len(argv):
            config[arg[2:].lower()] = argv[i + 1]
    assert config.get("maxmemory-policy") == "noeviction", f"redis maxmemory-policy is {config.get('maxmemory-policy')}"
    assert config.get("appendonly") == "yes", "redis must persist queued messages (appendonly yes)"
    assert "requirepass" in config, "redis must require a password"


def test_minio_notifications_reach_the_event_receiver(services):
    env = service_env(services["minio"])
    targets = {k.rsplit("_", 1)[1] for k in env if k.startswith("MINIO_NOTIFY_WEBHOOK_ENABLE_")}
    assert targets, "minio has no webhook notification target"
    target = targets.pop()
    assert env[f"MINIO_NOTIFY_WEBHOOK_ENABLE_{target}"] == "on"
    endpoint = urlsplit(interpolate(env[f"MINIO_NOTIFY_WEBHOOK_ENDPOINT_{target}"], env_example()))
    events_argv = compose_argv(services["events"])
    assert endpoint.hostname == "events", f"webhook goes to {endpoint.hostname}, not the events service"
    assert str(endpoint.port) == option(events_argv, "--port"), "webhook port differs from `events serve --port`"
    token = env[f"MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_{target}"]
    assert token == service_env(services["events"])["SMALLCUT_EVENTS_TOKEN"], "webhook and receiver tokens differ"

    init = services["minio-init"]
    init_env = service_env(init)
    arn = f"arn:minio:sqs::{target}:webhook"
    assert init_env.get("NOTIFY_TARGET_ARN") == arn, f"minio-init wires {init_env.get('NOTIFY_TARGET_ARN')}, not {arn}"
    script_mounts = [str(v).split(":")[0] for v in init.get("volumes", [])]
    script = next(ROOT / p for p in script_mounts if p.endswith(".sh"))
    text = script.read_text()
    assert re.search(r'mc event add .*"\$TARGET_ARN" --event put', text), "init script does not add the put event"
    assert "mc mb" in text
    buckets = {init_env["INPUT_BUCKET"], init_env["OUTPUT_BUCKET"]}
    allowed = set(service_env(services["events"])["SMALLCUT_ALLOWED_BUCKETS"].split(","))
    assert buckets <= allowed, f"buckets {buckets} are not all in SMALLCUT_ALLOWED_BUCKETS {allowed}"
    assert init_env["INPUT_BUCKET"] != service_env(services["events"])["SMALLCUT_OUTPUT_BUCKET"], (
        "outputs in the notified bucket would loop"
    )


def test_flower_sits_behind_basic_auth(services):
    svc = services["flower"]
    auth = service_env(svc).get("FLOWER_BASIC_AUTH") or option(as_argv(svc.get("command")), "--basic-auth")
    assert auth and "${" in auth, "flower must take --basic-auth credentials from the environment"
    for port in svc.get("ports", []):
        assert str(port).startswith("127.0.0.1:"), f"flower port {port} is published beyond localhost"


def test_model_weights_are_shared_through_a_named_volume(compose, services):
    model_dir = "/opt/smallcut/models"
    init_mounts = [str(v) for v in services["models-init"].get("volumes", [])]
    volume = next(v.split(":")[0] for v in init_mounts if v.split(":")[1] == model_dir)
    assert volume in (compose.get("volumes") or {}), f"{volume} is not a named volume"
    assert as_argv(services["models-init"]["command"])[:2] == ["models", "fetch"]
    # workers mount the volume read-only: the int8 copy CPU workers run is built here, not by them
    assert "--int8" in as_argv(services["models-init"]["command"])
    for name in ("worker-gpu", "worker-cpu"):
        mounts = [str(v).split(":") for v in services[name].get("volumes", [])]
        assert [volume, model_dir] in [m[:2] for m in mounts], f"{name} does not mount {volume} at {model_dir}"
        assert service_env(services[name]).get("SMALLCUT_MODEL_DIR") == model_dir


def test_compose_files_and_build_contexts_exist(services):
    for name, svc in services.items():
        if (dockerfile := dockerfile_of(svc)) is not None:
            assert dockerfile.is_file(), f"{name}: {dockerfile} missing"
        for volume in svc.get("volumes", []):
            host = str(volume).split(":")[0]
            if host.startswith("."):
                assert (ROOT / host).exists(), f"{name}: bind mount source {host} missing"


# --- Dockerfiles ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Dockerfile.cpu", "Dockerfile.gpu"])
def test_dockerfile_copies_existing_files_and_runs_as_non_root(name):
    path = ROOT / "infra" / "docker" / name
    steps = dockerfile_instructions(path)
    copies = [exec_form(rest)[:-1] for word, rest in steps if word == "COPY" and "--from" not in rest]
    assert copies, f"{name} copies nothing"
    ignore_lines = DOCKERIGNORE.read_text().splitlines()
    reincluded = {line.strip().lstrip("!").rstrip("/") for line in ignore_lines if line.startswith("!")}
    for sources in copies:
        for src in sources:
            assert (ROOT / src).exists(), f"{name}: COPY source {src} does not exist"
            assert src.rstrip("/") in reincluded, f"{name}: COPY source {src} is excluded by .dockerignore"
    users = [rest for word, rest in steps if word == "USER"]
    assert users and users[-1] not in ("root", "0"), f"{name} must end as a non-root user"
    entrypoint = [exec_form(rest) for word, rest in steps if word == "ENTRYPOINT"]
    assert entrypoint and entrypoint[-1] == ["smallcut"], f"{name}: ENTRYPOINT must be smallcut"
    fetches = [rest for word, rest in steps if word == "RUN" and "smallcut models fetch" in rest]
    assert fetches, f"{name}: weights are not fetched at build time"


def test_cpu_image_builds_the_int8_model_as_the_runtime_user():
    """CPU workers run int8 (SMALLCUT_PRECISION=auto) but cannot build it on a read-only root
    filesystem or model volume: the image carries the prebuilt copy in its model dir."""
    steps = dockerfile_instructions(ROOT / "infra" / "docker" / "Dockerfile.cpu")
    builds = [i for i, (word, rest) in enumerate(steps) if word == "RUN"
              and ("smallcut models fetch --int8" in rest or "smallcut models quantize" in rest)]
    assert builds, "Dockerfile.cpu does not build the int8 model"
    users = [i for i, (word, rest) in enumerate(steps) if word == "USER" and rest not in ("root", "0")]
    assert users and users[0] < builds[0], "the int8 build must run as the user the workers run as"
    env = " ".join(rest for word, rest in steps if word == "ENV")
    assert "SMALLCUT_MODEL_DIR=/opt/smallcut/models" in env  # the folder compose and k8s read


def _dockerignore_keeps(path: str) -> bool:
    """Docker's rule: the last matching pattern decides ('!' re-includes); '**' matches any depth."""
    import fnmatch

    keep = True
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate, pattern = line.startswith("!"), line.lstrip("!").rstrip("/")
        pattern = pattern.replace("**/", "*").replace("**", "*")
        if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, pattern + "/*"):
            keep = negate
    return keep


def test_retrained_models_ship_in_the_package_and_the_images():
    weights = sorted((ROOT / "workers" / "engine" / "weights").iterdir())
    assert {p.suffix for p in weights} >= {".onnx", ".json", ".yaml"}
    for path in weights:
        rel = path.relative_to(ROOT).as_posix()
        assert _dockerignore_keeps(rel), f".dockerignore drops {rel}"
    assert not _dockerignore_keeps(".env") and not _dockerignore_keeps("tests/conftest.py")  # the matcher works
    import tomllib

    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["workers"]
    import fnmatch

    for path in weights:
        rel = path.relative_to(ROOT / "workers").as_posix()
        assert any(fnmatch.fnmatch(rel, pattern) for pattern in package_data), f"{rel} is not package data"


def test_gpu_image_pairs_onnxruntime_gpu_with_its_cuda_base():
    steps = dockerfile_instructions(ROOT / "infra" / "docker" / "Dockerfile.gpu")
    args = dict(rest.split("=", 1) for word, rest in steps if word == "ARG" and "=" in rest)
    base = args["CUDA_IMAGE"]
    m = re.match(r"nvidia/cuda:(\d+)\.\d+(?:\.\d+)?-cudnn-runtime-", base)
    assert m, f"GPU base {base} is not an nvidia/cuda cuDNN runtime image"
    spec = args["ORT_GPU"].strip('"')
    # PyPI onnxruntime-gpu: 1.19-1.26 target CUDA 12, 1.27+ CUDA 13 (both cuDNN 9)
    if m.group(1) == "12":
        assert ">=1.19" in spec and "<1.27" in spec, f"CUDA 12 base needs onnxruntime-gpu 1.19-1.26, got {spec}"
    else:
        assert m.group(1) == "13" and ">=1.27" in spec, f"no known onnxruntime-gpu line for {base}"
    run = " ".join(rest for word, rest in steps if word == "RUN")
    assert "pip uninstall -y onnxruntime" in run, "the CPU onnxruntime must be removed so the GPU build wins"
    assert ".[gpu]" in run


# --- Kubernetes ----------------------------------------------------------------------------------


def test_k8s_has_the_expected_objects(k8s_docs):
    names = {(doc["kind"], doc["metadata"]["name"]) for _, doc in k8s_docs if "metadata" in doc}
    for expected in [
        ("Namespace", "smallcut"),
        ("ConfigMap", "smallcut-config"),
        ("Secret", "smallcut-secrets"),
        ("Deployment", "smallcut-worker-gpu"),
        ("Deployment", "smallcut-worker-cpu"),
        ("Deployment", "smallcut-events"),
        ("Service", "smallcut-events"),
        ("TriggerAuthentication", "smallcut-redis"),
    ]:
        assert expected in names, f"infra/k8s lacks {expected}"
    assert len(kind(k8s_docs, "ScaledObject")) >= 2


def test_kustomization_lists_every_manifest_but_the_secret_example(k8s_docs):
    kustomization = next(doc for _, doc in k8s_docs if doc.get("kind") == "Kustomization")
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in K8S_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed <= on_disk, f"kustomization lists missing files {sorted(listed - on_disk)}"
    assert on_disk - listed == {"secret.example.yaml"}, f"unlisted manifests: {sorted(on_disk - listed)}"


def test_k8s_objects_share_the_namespace(k8s_docs):
    for fname, doc in k8s_docs:
        if doc.get("kind") not in ("Namespace", "Kustomization"):
            assert doc["metadata"].get("namespace") == "smallcut", f"{fname}: {doc['kind']} outside the namespace"


def test_k8s_config_and_secret_split(k8s_docs):
    config = kind(k8s_docs, "ConfigMap")[0]["data"]
    leaked = set(config) & secret_env_names()
    assert not leaked, f"secrets in the ConfigMap: {sorted(leaked)}"
    not_settings = set(config) - settings_env_names()
    assert not not_settings, f"ConfigMap keys that are not settings: {sorted(not_settings)}"
    secret = kind(k8s_docs, "Secret")[0]["stringData"]
    assert "SMALLCUT_REDIS_URL" in secret


def test_k8s_deployments_reference_existing_config(k8s_docs):
    configmaps = {d["metadata"]["name"] for d in kind(k8s_docs, "ConfigMap")}
    secrets = {d["metadata"]["name"] for d in kind(k8s_docs, "Secret")}
    for deployment in kind(k8s_docs, "Deployment"):
        for c in containers(deployment):
            refs = c.get("envFrom", [])
            assert refs, f"{deployment['metadata']['name']} takes no settings"
            for ref in refs:
                if "configMapRef" in ref:
                    assert ref["configMapRef"]["name"] in configmaps
                if "secretRef" in ref:
                    assert ref["secretRef"]["name"] in secrets


def worker_deployments(k8s_docs) -> dict[str, tuple[dict, list[str]]]:
    """queue -> (deployment, argv) for every `smallcut worker` deployment."""
    found = {}
    for deployment in kind(k8s_docs, "Deployment"):
        for c in containers(deployment):
            argv = k8s_argv(c)
            if argv[1:2] == ["worker"]:
                found[option(argv, "--queues")] = (deployment, argv)
    return found


def test_k8s_gpu_worker_runs_several_processes_on_one_gpu(k8s_docs):
    workers = worker_deployments(k8s_docs)
    deployment, argv = workers[default("gpu_queue")]
    processes = int(option(argv, "--concurrency"))
    assert processes == 4
    (container,) = containers(deployment)
    assert str(container["resources"]["limits"].get("nvidia.com/gpu")) == "1", "GPU worker must limit nvidia.com/gpu: 1"
    assert int(container["resources"]["requests"]["cpu"]) >= 2 * processes, "each process needs its own cores"
    cpu_deployment, _ = workers[default("cpu_queue")]
    for c in containers(cpu_deployment):
        assert "nvidia.com/gpu" not in c.get("resources", {}).get("limits", {})


def test_k8s_grace_period_outlasts_task_time_limits(k8s_docs):
    config = kind(k8s_docs, "ConfigMap")[0]["data"]
    soft = int(config.get("SMALLCUT_SOFT_TIME_LIMIT", default("soft_time_limit")))
    hard = int(config.get("SMALLCUT_TIME_LIMIT", default("time_limit")))
    assert soft < hard, "the soft limit must fire before the hard one"
    for queue, (deployment, _) in worker_deployments(k8s_docs).items():
        grace = deployment["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
        assert grace > hard, f"{queue} workers: grace {grace}s <= hard time limit {hard}s"


def test_keda_scales_each_worker_on_its_celery_queue(k8s_docs):
    workers = worker_deployments(k8s_docs)
    auths = {d["metadata"]["name"]: d for d in kind(k8s_docs, "TriggerAuthentication")}
    secret = kind(k8s_docs, "Secret")[0]
    redis_url = urlsplit(secret["stringData"]["SMALLCUT_REDIS_URL"])
    scaled_queues = set()
    for scaled in kind(k8s_docs, "ScaledObject"):
        target = scaled["spec"]["scaleTargetRef"]["name"]
        for trigger in scaled["spec"]["triggers"]:
            assert trigger["type"] == "redis"
            meta = trigger["metadata"]
            queue = meta["listName"]
            assert queue in {default("gpu_queue"), default("cpu_queue")}, f"KEDA watches unknown list {queue}"
            assert workers[queue][0]["metadata"]["name"] == target, f"{queue} backlog scales {target}, not its workers"
            assert int(meta["listLength"]) > 0
            assert meta["address"] == f"{redis_url.hostname}:{redis_url.port}", "KEDA watches another Redis"
            assert meta.get("databaseIndex", "0") == (redis_url.path.strip("/") or "0")
            auth = auths[trigger["authenticationRef"]["name"]]
            for ref in auth["spec"]["secretTargetRef"]:
                assert ref["name"] == secret["metadata"]["name"] and ref["key"] in secret["stringData"]
            assert "password" in {ref["parameter"] for ref in auth["spec"]["secretTargetRef"]}
            scaled_queues.add(queue)
    assert scaled_queues == {default("gpu_queue"), default("cpu_queue")}


def test_k8s_events_service_routes_to_the_receiver(k8s_docs):
    (deployment,) = [d for d in kind(k8s_docs, "Deployment") if k8s_argv(containers(d)[0])[1:2] == ["events"]]
    (service,) = [s for s in kind(k8s_docs, "Service") if s["metadata"]["name"] == deployment["metadata"]["name"]]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items(), "Service selects no events pod"
    container = containers(deployment)[0]
    port = int(option(k8s_argv(container), "--port"))
    named = {p["name"]: p["containerPort"] for p in container["ports"]}
    for p in service["spec"]["ports"]:
        target = p.get("targetPort", p["port"])
        assert named.get(target, target) == port, f"Service targets {target}, receiver listens on {port}"
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] in (port, *[n for n, v in named.items() if v == port])
