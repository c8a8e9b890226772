"""Simulated Seldon Core operator (1.17.1): what its SeldonDeployment reconciler does that clients
can observe, for ``SeldonDeployment`` resources (``machinelearning.seldon.io/v1``; the CRD's
``v1alpha2`` and ``v1alpha3`` are the same resource).

Names, labels, ports and status follow SeldonIO/seldon-core at tag v1.17.1 (commit 822053e),
``operator/controllers`` and ``operator/apis/machinelearning.seldon.io/v1``:

- The operator acts only while it runs: a Deployment ``seldon-controller-manager`` (any
  namespace: the chart installs it in the release's) with at least one available replica. Its
  configuration is what the chart gives it: the manager container's environment (``ISTIO_ENABLED``,
  ``ISTIO_GATEWAY``, ``EXECUTOR_CONTAINER_IMAGE_AND_VERSION``, ``EXECUTOR_DEFAULT_*`` resources,
  ``EXECUTOR_CONTAINER_USER``, ``DEFAULT_USER_ID``, ``CONTROLLER_ID``, ...) and the ConfigMap
  ``seldon-config`` in its namespace (``storageInitializer``, ``predictor_servers``).
  ``operator_config(deployment, config_map)`` reads both (also from ``helm template`` output, for
  the footprint benchmark). Like the real one it skips a SeldonDeployment whose
  ``seldon.io/controller-id`` label differs from its ``CONTROLLER_ID``, or in a namespace labelled
  ``seldon.io/controller-id``.
- Defaulting (``defaults.go`` ``DefaultSeldonDeployment``): predictor label ``version: <predictor>``;
  a prepackaged unit (``implementation`` such as ``MLFLOW_SERVER``) without a container gets one in
  the first componentSpec; per container name the next HTTP port from 9000, gRPC from 9500
  (``PREDICTIVE_UNIT_HTTP/GRPC_SERVICE_PORT``) and a ``metrics`` port from 6000; the container's
  image, when empty, is the prepackaged server's for the protocol (``PrepackImageName``:
  ``<image>:<defaultImageVersion>`` of ``predictor_servers``).
- Per predictor and componentSpec a Deployment (``createDeploymentWithoutEngine``):
  ``<sdep>-<predictor>-<index>-<containers joined by ->`` (or the componentSpec's
  ``metadata.name``); labels ``seldon-deployment-id``, ``app``, ``fluentd``, the predictor's and the
  componentSpec's labels, ``seldon-app-svc-<container>`` for each graph container and, on the pod
  that carries the executor (the first componentSpec), ``seldon-app: <sdep>-<predictor>``; pod
  annotations ``prometheus.io/path: /prometheus``, ``prometheus.io/scrape``; the pod securityContext
  ``{runAsUser: DEFAULT_USER_ID}`` unless the componentSpec sets one; the downward-API volume
  ``seldon-podinfo``; ``RollingUpdate`` with ``maxUnavailable`` 0 (upstream writes
  ``IntOrString{StrVal: "10%"}`` without its type, which serialises as 0); replicas from the
  componentSpec, else the predictor, else the spec, else 1.
- Each graph container (``createContainerService``): ports ``http``/``grpc`` and the environment of
  its unit (``PREDICTIVE_UNIT_*``, ``MLSERVER_*``, ``SELDON_DEPLOYMENT_ID``, ...), TCP probes and the
  ``preStop`` sleep. A prepackaged unit with protocol ``v2`` becomes MLServer (``mlserver.go``
  ``getMLServerContainer`` merged into it): the ``MLSERVER_MODEL_IMPLEMENTATION`` of the server
  (``mlserver_mlflow.MLflowRuntime`` for ``MLFLOW_SERVER``), ``MLSERVER_MODEL_URI=/mnt/models``,
  HTTP probes ``/v2/health/ready`` and ``/v2/health/live``, its ports overwritten with ``grpc`` and
  ``http`` only. With a ``modelUri`` the rclone storage initializer (``model_initializer_injector.go``):
  init container ``<container>-model-initializer`` (the ``storageInitializer`` image and
  requests/limits of ``seldon-config``, args ``[<modelUri>, /mnt/models]``, ``envFrom`` the
  unit's ``envSecretRefName``, else ``PREDICTIVE_UNIT_DEFAULT_ENV_SECRET_REF_NAME``), the emptyDir
  ``<container>-provision-location`` mounted read-only at ``/mnt/models`` in the model's container.
- The executor (``seldondeployment_engine.go``): container ``seldon-container-engine`` in the first
  componentSpec's Deployment (``EXECUTOR_CONTAINER_IMAGE_AND_VERSION``; ports ``http`` and
  ``metrics`` 8000, ``grpc`` 5001; HTTP probes ``/ready``, ``/live``; the predictor's
  ``svcOrchSpec.resources``, else the four ``EXECUTOR_DEFAULT_*``; securityContext ``runAsUser``
  ``EXECUTOR_CONTAINER_USER`` with ``allowPrivilegeEscalation: false``; ``ENGINE_PREDICTOR`` the
  predictor as base64 JSON).
- Services: ``<sdep>-<predictor>-<container>`` per graph container (ports ``http``/``grpc`` of its
  unit, selector ``seldon-app-svc-<container>``) and ``<sdep>-<predictor>`` (``GetPredictorKey``;
  ports ``http`` 8000 and ``grpc`` 5001 of the executor, selector ``seldon-app``, label
  ``app.kubernetes.io/managed-by: seldon-core``).
- With ``ISTIO_ENABLED`` (``createIstioResources``): a ``VirtualService``
  (``networking.istio.io/v1alpha3``) named after the SeldonDeployment, ``hosts`` the annotation
  ``seldon.io/istio-host`` or ``*``, ``gateways`` the annotation ``seldon.io/istio-gateway`` or
  ``ISTIO_GATEWAY``; an HTTP route on the prefix ``/seldon/<namespace>/<sdep>/`` rewritten to ``/``
  and a gRPC route (regex ``.*tensorflow.*|.*seldon.protos.*|.*inference.*`` with headers
  ``seldon`` and ``namespace``), each to the predictor Service's port with the predictor's
  ``traffic`` as weight and subset; one ``DestinationRule`` ``<sdep>-<predictor>`` per predictor
  (subset ``<predictor>`` by label ``version``, HTTP idle timeout 60 s). Everything made is owned
  by the SeldonDeployment (deleted with it).
- ``status`` (``seldondeployment_controller.go`` ``Reconcile``, ``seldon_deployment_status.go``):
  ``state`` ``Creating``, then ``Available`` once every Deployment has a ready replica and none
  unavailable; ``Failed`` with ``description`` "Deployment is no longer progressing and not
  available." when a Deployment's ``Progressing`` is False, or the error (e.g. ``failed to get server
  config for <implementation>``) when the spec cannot be built; ``deploymentStatus`` (replicas,
  availableReplicas per Deployment), ``serviceStatus`` (per Service its ``svcName``,
  ``httpEndpoint``, ``grpcEndpoint`` as ``<svc>.<namespace>:<port>``), ``replicas``, ``address.url``
  ``http://<sdep>-<predictor>.<namespace>.svc.cluster.local:8000/v2/models/<graph>/infer`` (protocol
  v2; ``/api/v1.0/predictions`` for seldon), and the knative conditions ``DeploymentsReady``
  (the Deployment's ``Available``), ``ServicesReady``, ``istioVirtualServicesReady``, ``HpasReady``,
  ``PdbsReady``, ``KedaReady``, ``AmbassadorMappingsReady`` and ``Ready`` (all of them True).

Not simulated: the validating webhook (the emulator calls none), a separate engine pod, HPAs, PDBs,
KEDA, Ambassador, explainers, TensorFlow/Triton servers, shadows, names longer than 63 characters
(hashed upstream), the removal of children a changed spec no longer names. A changed spec is
applied to the Deployments and Services it names (the annotation ``seldon.io/last-applied``
holds a hash of what was applied here; upstream holds the applied JSON).
"""
from __future__ import annotations

import base64
import copy
import hashlib
import json
from typing import Optional

API = "machinelearning.seldon.io/v1"
ISTIO = "networking.istio.io/v1alpha3"
WATCHES = [(API, "SeldonDeployment"), ("apps/v1", "Deployment"), ("v1", "ConfigMap")]

OPERATOR_DEPLOYMENT = "seldon-controller-manager"
CONFIG_MAP = "seldon-config"
ENGINE = "seldon-container-engine"
LAST_APPLIED = "seldon.io/last-applied"
MODEL_PATH = "/mnt/models"
PODINFO = {"name": "seldon-podinfo", "mountPath": "/etc/podinfo"}
GRPC_REGEX = ".*tensorflow.*|.*seldon.protos.*|.*inference.*"
PREPACK_TYPES = {"MLFLOW_SERVER": "mlserver_mlflow.MLflowRuntime", "SKLEARN_SERVER": "mlserver_sklearn.SKLearnModel",
                 "XGBOOST_SERVER": "mlserver_xgboost.XGBoostModel", "TEMPO_SERVER": "tempo.mlserver.InferenceRuntime",
                 "HUGGINGFACE_SERVER": "mlserver_huggingface.HuggingFaceRuntime"}
NOT_PREPACK = ("", "UNKNOWN_IMPLEMENTATION", "SIMPLE_MODEL", "SIMPLE_ROUTER", "RANDOM_ABTEST", "AVERAGE_COMBINER")
CONDITION_TYPES = ("AmbassadorMappingsReady", "DeploymentsReady", "HpasReady", "KedaReady", "PdbsReady", "Ready",
                   "ServicesReady", "istioVirtualServicesReady")
_SINCE = "2026-01-01T00:00:00Z"

# The chart's defaults (values.yaml of 1.17.1), for pods() without a running operator.
DEFAULT_CONFIG = {
    "namespace": "seldon-system",
    "env": {"ISTIO_ENABLED": "false", "ISTIO_GATEWAY": "istio-system/seldon-gateway", "CONTROLLER_ID": "",
            "EXECUTOR_CONTAINER_IMAGE_AND_VERSION": "docker.io/seldonio/seldon-core-executor:1.17.1",
            "EXECUTOR_CONTAINER_USER": "8888", "DEFAULT_USER_ID": "8888", "EXECUTOR_SERVER_PORT": "8000",
            "EXECUTOR_SERVER_METRICS_PORT_NAME": "metrics", "EXECUTOR_PROMETHEUS_PATH": "/prometheus",
            "EXECUTOR_DEFAULT_CPU_REQUEST": "500m", "EXECUTOR_DEFAULT_MEMORY_REQUEST": "512Mi",
            "EXECUTOR_DEFAULT_CPU_LIMIT": "500m", "EXECUTOR_DEFAULT_MEMORY_LIMIT": "512Mi",
            "PREDICTIVE_UNIT_HTTP_SERVICE_PORT": "9000", "PREDICTIVE_UNIT_GRPC_SERVICE_PORT": "9500",
            "PREDICTIVE_UNIT_METRICS_PORT_NAME": "metrics", "PREDICTIVE_UNIT_DEFAULT_ENV_SECRET_REF_NAME": ""},
    "storage_initializer": {"image": "seldonio/rclone-storage-initializer:1.17.1", "cpuRequest": "100m", "cpuLimit": "1",
                            "memoryRequest": "100Mi", "memoryLimit": "1Gi"},
    "predictor_servers": {"MLFLOW_SERVER": {"protocols": {"seldon": {"image": "seldonio/mlflowserver", "defaultImageVersion": "1.17.1"},
                                                          "v2": {"image": "seldonio/mlserver", "defaultImageVersion": "1.3.5-mlflow"}}},
                          "SKLEARN_SERVER": {"protocols": {"seldon": {"image": "seldonio/sklearnserver", "defaultImageVersion": "1.17.1"},
                                                           "v2": {"image": "seldonio/mlserver", "defaultImageVersion": "1.3.5-sklearn"}}}},
}


class SpecError(Exception):
    """The operator cannot build what the spec asks for (upstream: updateStatusForError)."""


def operator_config(deployment: dict, config_map: Optional[dict]) -> dict:
    """The operator's configuration: its manager container's environment and ``seldon-config``."""
    containers = (((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    manager = next((c for c in containers if c.get("name") == "manager"), containers[0] if containers else {})
    env = dict(DEFAULT_CONFIG["env"])
    env.update({e["name"]: str(e.get("value", "")) for e in manager.get("env") or [] if "value" in e})
    data = (config_map or {}).get("data") or {}
    return {"namespace": (deployment.get("metadata") or {}).get("namespace", ""), "env": env,
            "storage_initializer": json.loads(data["storageInitializer"]) if "storageInitializer" in data
            else dict(DEFAULT_CONFIG["storage_initializer"]),
            "predictor_servers": json.loads(data["predictor_servers"]) if "predictor_servers" in data
            else copy.deepcopy(DEFAULT_CONFIG["predictor_servers"])}


def _units(graph: dict) -> list:
    out = [graph]
    for child in graph.get("children") or []:
        out += _units(child)
    return out


def _unit(graph: dict, name: str) -> Optional[dict]:
    return next((u for u in _units(graph) if u.get("name") == name), None)


def _prepack(unit: Optional[dict]) -> bool:
    return bool(unit) and (unit.get("implementation") or "") not in NOT_PREPACK


def _image(config: dict, implementation: str, protocol: str) -> str:
    """PrepackImageName: <image>:<defaultImageVersion> of the protocol (v2 and kfserving stand in for each other)."""
    protocols = ((config["predictor_servers"].get(implementation) or {}).get("protocols")) or {}
    wanted = protocol or "seldon"
    found = protocols.get(wanted) or (protocols.get("kfserving") if wanted == "v2" else None) or \
        (protocols.get("v2") if wanted == "kfserving" else None)
    if not found:
        return ""
    return f"{found['image']}:{found['defaultImageVersion']}" if found.get("defaultImageVersion") else found["image"]


def _defaulted(sdep: dict, config: dict) -> dict:
    """The spec after DefaultSeldonDeployment: ports per container, prepackaged containers added."""
    spec = copy.deepcopy(sdep.get("spec") or {})
    env = config["env"]
    http, grpc, metrics = int(env["PREDICTIVE_UNIT_HTTP_SERVICE_PORT"]), int(env["PREDICTIVE_UNIT_GRPC_SERVICE_PORT"]), 6000
    ports: dict = {}
    for predictor in spec.get("predictors") or []:
        predictor.setdefault("labels", {}).setdefault("version", predictor["name"])
        graph = predictor.setdefault("graph", {})
        specs = predictor.setdefault("componentSpecs", [])
        for unit in _units(graph):
            if _prepack(unit) and not any(c.get("name") == unit["name"] for cs in specs for c in (cs.get("spec") or {}).get("containers") or []):
                if not specs:
                    specs.append({"spec": {"containers": []}})
                specs[0].setdefault("spec", {}).setdefault("containers", []).append({"name": unit["name"]})
        for component in specs:
            for con in (component.get("spec") or {}).get("containers") or []:
                unit = _unit(graph, con["name"])
                if con["name"] not in ports:
                    ports[con["name"]] = (http + len(ports), grpc + len(ports))
                if unit is None:
                    continue
                named = {p.get("name"): p for p in con.get("ports") or []}
                unit["endpoint"] = {**(unit.get("endpoint") or {}),
                                    "httpPort": named.get("http", {}).get("containerPort", ports[con["name"]][0]),
                                    "grpcPort": named.get("grpc", {}).get("containerPort", ports[con["name"]][1])}
                if env["PREDICTIVE_UNIT_METRICS_PORT_NAME"] not in named:
                    con.setdefault("ports", []).append({"name": env["PREDICTIVE_UNIT_METRICS_PORT_NAME"], "containerPort": metrics,
                                                        "protocol": "TCP"})
                    metrics += 1
                con.setdefault("imagePullPolicy", "IfNotPresent")
                if _prepack(unit) and not con.get("image"):
                    con["image"] = _image(config, unit["implementation"], spec.get("protocol") or "")
    return spec


def _env(container: dict, name: str, value: str, override: bool = True) -> None:
    env = container.setdefault("env", [])
    for item in env:
        if item.get("name") == name:
            if override:
                item.clear()
                item.update({"name": name, "value": value})
            return
    env.append({"name": name, "value": value})


def _http_probe(path: str, port, delay: int = 20, timeout: int = 60) -> dict:
    return {"httpGet": {"path": path, "port": port, "scheme": "HTTP"}, "initialDelaySeconds": delay, "periodSeconds": 5,
            "failureThreshold": 3, "successThreshold": 1, "timeoutSeconds": timeout}


def _model_container(con: dict, unit: dict, sdep: dict, predictor: dict, config: dict) -> None:
    """createContainerService's additions to a graph container, then MLServer's (protocol v2)."""
    md, spec = sdep["metadata"], sdep.get("spec") or {}
    endpoint = unit["endpoint"]
    named = {p.get("name") for p in con.get("ports") or []}
    for name, number in (("http", endpoint["httpPort"]), ("grpc", endpoint["grpcPort"])):
        if name not in named:
            con.setdefault("ports", []).append({"name": name, "containerPort": number, "protocol": "TCP"})
    con.setdefault("livenessProbe", {"tcpSocket": {"port": endpoint["httpPort"]}, "initialDelaySeconds": 60, "periodSeconds": 5,
                                     "successThreshold": 1, "failureThreshold": 3, "timeoutSeconds": 1})
    con.setdefault("readinessProbe", {"tcpSocket": {"port": endpoint["httpPort"]}, "initialDelaySeconds": 20, "periodSeconds": 5,
                                      "successThreshold": 1, "failureThreshold": 3, "timeoutSeconds": 1})
    con.setdefault("lifecycle", {"preStop": {"exec": {"command": ["/bin/sh", "-c", "/bin/sleep 10"]}}})
    _env(con, "PREDICTIVE_UNIT_SERVICE_PORT", str(endpoint["httpPort"]), override=False)
    for name in ("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", "MLSERVER_HTTP_PORT"):
        _env(con, name, str(endpoint["httpPort"]), override=False)
    for name in ("PREDICTIVE_UNIT_GRPC_SERVICE_PORT", "MLSERVER_GRPC_PORT"):
        _env(con, name, str(endpoint["grpcPort"]), override=False)
    if unit.get("modelUri"):
        _env(con, "MLSERVER_MODEL_URI", MODEL_PATH, override=False)
    for name, value in (("PREDICTIVE_UNIT_ID", con["name"]), ("MLSERVER_MODEL_NAME", con["name"]),
                        ("PREDICTIVE_UNIT_IMAGE", con.get("image", "")), ("PREDICTOR_ID", predictor["name"]),
                        ("PREDICTOR_LABELS", json.dumps(predictor.get("labels") or {}, separators=(",", ":"))),
                        ("SELDON_DEPLOYMENT_ID", md["name"]), ("SELDON_EXECUTOR_ENABLED", "true")):
        con.setdefault("env", []).append({"name": name, "value": value})
    metrics = next((p for p in con.get("ports") or [] if p.get("name") == config["env"]["PREDICTIVE_UNIT_METRICS_PORT_NAME"]), None)
    if metrics is not None:
        for name, value in (("PREDICTIVE_UNIT_METRICS_SERVICE_PORT", str(metrics["containerPort"])),
                            ("PREDICTIVE_UNIT_METRICS_ENDPOINT", config["env"]["EXECUTOR_PROMETHEUS_PATH"]),
                            ("MLSERVER_METRICS_PORT", str(metrics["containerPort"])),
                            ("MLSERVER_METRICS_ENDPOINT", config["env"]["EXECUTOR_PROMETHEUS_PATH"])):
            con["env"].append({"name": name, "value": value})
    if not (_prepack(unit) and (spec.get("protocol") or "") in ("v2", "kfserving")):
        return
    implementation = unit["implementation"]
    if implementation not in config["predictor_servers"] or not _image(config, implementation, spec.get("protocol") or ""):
        raise SpecError(f"failed to get server config for {implementation}")
    mlserver = [{"name": "MLSERVER_HTTP_PORT", "value": str(endpoint["httpPort"])},
                {"name": "MLSERVER_GRPC_PORT", "value": str(endpoint["grpcPort"])},
                {"name": "MLSERVER_MODEL_IMPLEMENTATION", "value": PREPACK_TYPES.get(implementation, "")},
                {"name": "MLSERVER_MODEL_NAME", "value": unit["name"]},
                {"name": "MLSERVER_MODEL_VERSION", "value": "v1"},
                {"name": "MLSERVER_MODEL_URI", "value": MODEL_PATH},
                {"name": "TEMPO_RUNTIME_OPTIONS", "value": json.dumps(
                    {"k8s_options": {"defaultRuntime": "tempo.seldon.SeldonKubernetesRuntime", "namespace": md.get("namespace")}})}]
    for item in con.get("env") or []:
        mlserver = [e for e in mlserver if e["name"] != item["name"]] + [item]
    con["env"] = mlserver
    # An existing probe keeps its timing and gets MLServer's handler (mergeMLServerContainer).
    for probe, path in (("readinessProbe", "/v2/health/ready"), ("livenessProbe", "/v2/health/live")):
        con[probe] = {**{k: v for k, v in con[probe].items() if k not in ("tcpSocket", "httpGet", "exec")},
                      "httpGet": _http_probe(path, "http")["httpGet"]}
    con["ports"] = [{"name": "grpc", "containerPort": endpoint["grpcPort"], "protocol": "TCP"},
                    {"name": "http", "containerPort": endpoint["httpPort"], "protocol": "TCP"}]


def _storage_initializer(pod: dict, con: dict, unit: dict, config: dict) -> None:
    """InjectModelInitializer: the rclone init container and the shared emptyDir."""
    volume = f"{con['name']}-provision-location"[:63].rstrip("-")
    init_name = f"{con['name']}-model-initializer"[:63].rstrip("-")
    si = config["storage_initializer"]
    init = {"name": init_name, "image": unit.get("storageInitializerImage") or si.get("image")
            or "docker.io/seldonio/rclone-storage-initializer:latest",
            "imagePullPolicy": "IfNotPresent", "args": [unit["modelUri"], MODEL_PATH],
            "volumeMounts": [{"name": volume, "mountPath": MODEL_PATH}],
            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
            "resources": {"limits": {"cpu": si["cpuLimit"], "memory": si["memoryLimit"]},
                          "requests": {"cpu": si["cpuRequest"], "memory": si["memoryRequest"]}}}
    secret = unit.get("envSecretRefName") or config["env"].get("PREDICTIVE_UNIT_DEFAULT_ENV_SECRET_REF_NAME", "")
    if secret:
        init["envFrom"] = [{"secretRef": {"name": secret}}]
    if not any(m.get("name") == volume for m in con.get("volumeMounts") or []):
        con.setdefault("volumeMounts", []).append({"name": volume, "mountPath": MODEL_PATH, "readOnly": True})
    pod.setdefault("volumes", []).append({"name": volume, "emptyDir": {}})
    pod.setdefault("initContainers", []).append(init)


def _executor(sdep: dict, predictor: dict, config: dict) -> dict:
    env = config["env"]
    md, spec = sdep["metadata"], sdep.get("spec") or {}
    port = int(env.get("EXECUTOR_SERVER_PORT") or 8000)
    engine_predictor = {**copy.deepcopy(predictor), "traffic": 0, "replicas": 0}
    resources = (predictor.get("svcOrchSpec") or {}).get("resources") or {
        "requests": {"cpu": env["EXECUTOR_DEFAULT_CPU_REQUEST"], "memory": env["EXECUTOR_DEFAULT_MEMORY_REQUEST"]},
        "limits": {"cpu": env["EXECUTOR_DEFAULT_CPU_LIMIT"], "memory": env["EXECUTOR_DEFAULT_MEMORY_LIMIT"]}}
    container = {
        "name": ENGINE, "image": env["EXECUTOR_CONTAINER_IMAGE_AND_VERSION"],
        "args": ["--sdep", md["name"], "--namespace", md.get("namespace", ""), "--predictor", predictor["name"],
                 "--http_port", str(port), "--grpc_port", "5001", "--protocol", spec.get("protocol") or "seldon",
                 "--transport", spec.get("transport") or "rest", "--prometheus_path", env["EXECUTOR_PROMETHEUS_PATH"],
                 "--server_type", spec.get("serverType") or "rpc", "--log_work_buffer_size", "10000",
                 "--log_write_timeout_ms", "2000", "--full_health_checks=false"],
        "imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
        "volumeMounts": [dict(PODINFO)],
        "env": [{"name": "ENGINE_PREDICTOR", "value": base64.b64encode(json.dumps(engine_predictor, sort_keys=True).encode()).decode()},
                {"name": "REQUEST_LOGGER_DEFAULT_ENDPOINT", "value": "http://default-broker"}]
        + [copy.deepcopy(e) for e in (predictor.get("svcOrchSpec") or {}).get("env") or []],
        "ports": [{"containerPort": port, "protocol": "TCP", "name": "http"},
                  {"containerPort": port, "protocol": "TCP", "name": env["EXECUTOR_SERVER_METRICS_PORT_NAME"]},
                  {"containerPort": 5001, "protocol": "TCP", "name": "grpc"}],
        "readinessProbe": _http_probe("/ready", port), "livenessProbe": _http_probe("/live", port),
        "resources": copy.deepcopy(resources)}
    if env.get("EXECUTOR_CONTAINER_USER"):
        container["securityContext"] = {"runAsUser": int(env["EXECUTOR_CONTAINER_USER"]), "allowPrivilegeEscalation": False}
    return container


def predictor_service_name(sdep: dict, predictor: dict) -> str:
    """GetPredictorKey (annotation seldon.io/svc-name, else <sdep>-<predictor>)."""
    return (predictor.get("annotations") or {}).get("seldon.io/svc-name") or f"{sdep['metadata']['name']}-{predictor['name']}"


def deployments(sdep: dict, config: Optional[dict] = None) -> list:
    """The Deployments the operator makes for ``sdep`` (raises SpecError when it cannot)."""
    config = config or DEFAULT_CONFIG
    md = sdep["metadata"]
    spec = _defaulted(sdep, config)
    out = []
    for predictor in spec.get("predictors") or []:
        psvc = predictor_service_name(sdep, predictor)
        graph = predictor.get("graph") or {}
        for index, component in enumerate(predictor.get("componentSpecs") or []):
            pod = copy.deepcopy(component.get("spec") or {})
            containers = pod.get("containers") or []
            if not containers:
                continue
            meta = component.get("metadata") or {}
            name = f"{md['name']}-{predictor['name']}-{index}-" + (meta.get("name") or "-".join(c["name"] for c in containers))
            labels = {"seldon-deployment-id": md["name"], "app": name, "fluentd": "true", **(predictor.get("labels") or {}),
                      **(meta.get("labels") or {})}
            selector = {"seldon-deployment-id": md["name"]}
            for con in containers:
                unit = _unit(graph, con["name"])
                con.setdefault("volumeMounts", [])
                if not any(m.get("name") == PODINFO["name"] for m in con["volumeMounts"]):
                    con["volumeMounts"].append(dict(PODINFO))
                con.setdefault("terminationMessagePath", "/dev/termination-log")
                con.setdefault("terminationMessagePolicy", "File")
                if unit is None:
                    continue
                svc = f"{md['name']}-{predictor['name']}-{con['name']}"
                labels[f"seldon-app-svc-{con['name']}"] = selector[f"seldon-app-svc-{con['name']}"] = svc
                _model_container(con, unit, sdep, predictor, config)
                if unit.get("modelUri"):
                    _storage_initializer(pod, con, unit, config)
            if index == 0:
                pod["containers"].append(_executor(sdep, predictor, config))
                labels["seldon-app"] = selector["seldon-app"] = psvc
            pod.setdefault("securityContext", {"runAsUser": int(config["env"]["DEFAULT_USER_ID"])}
                           if config["env"].get("DEFAULT_USER_ID") else {})
            pod.setdefault("restartPolicy", "Always")
            pod.setdefault("dnsPolicy", "ClusterFirst")
            pod.setdefault("schedulerName", "default-scheduler")
            pod["terminationGracePeriodSeconds"] = pod.get("terminationGracePeriodSeconds") or 20
            if not any(v.get("name") == PODINFO["name"] for v in pod.get("volumes") or []):
                pod.setdefault("volumes", []).append({"name": PODINFO["name"], "downwardAPI": {
                    "items": [{"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations", "apiVersion": "v1"}}],
                    "defaultMode": 420}})
            annotations = {"prometheus.io/path": config["env"]["EXECUTOR_PROMETHEUS_PATH"], "prometheus.io/scrape": "true",
                           **(spec.get("annotations") or {}), **(predictor.get("annotations") or {}), **(meta.get("annotations") or {})}
            replicas = component.get("replicas", predictor.get("replicas", spec.get("replicas", 1)))
            out.append({"apiVersion": "apps/v1", "kind": "Deployment",
                        "metadata": {"name": name, "namespace": md.get("namespace"),
                                     "labels": {**labels, **({"seldon-deployment-contains-svcorch": "true"} if index == 0 else {})}},
                        "spec": {"replicas": int(1 if replicas is None else replicas), "selector": {"matchLabels": selector},
                                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0}},
                                 "template": {"metadata": {"labels": labels, "annotations": annotations}, "spec": pod}}})
    return out


def pods(sdep: dict, config: Optional[dict] = None) -> list:
    """The Pods the operator's Deployments run for ``sdep``, one per replica (also read by the
    footprint benchmark; ``config`` from ``operator_config``, else the chart's defaults)."""
    out = []
    for deployment in deployments(sdep, config):
        for index in range(deployment["spec"]["replicas"]):
            template = deployment["spec"]["template"]
            out.append({"apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": f"{deployment['metadata']['name']}-{index}", "namespace": deployment["metadata"]["namespace"],
                                     "labels": dict(template["metadata"]["labels"])},
                        "spec": copy.deepcopy(template["spec"])})
    return out


def services(sdep: dict, config: Optional[dict] = None) -> list:
    """The container Services and the predictor Service of every predictor."""
    config = config or DEFAULT_CONFIG
    md = sdep["metadata"]
    spec = _defaulted(sdep, config)
    port = int(config["env"].get("EXECUTOR_SERVER_PORT") or 8000)
    out = []
    for predictor in spec.get("predictors") or []:
        psvc = predictor_service_name(sdep, predictor)
        graph = predictor.get("graph") or {}
        for component in predictor.get("componentSpecs") or []:
            for con in (component.get("spec") or {}).get("containers") or []:
                unit = _unit(graph, con["name"])
                if unit is None:
                    continue
                svc = f"{md['name']}-{predictor['name']}-{con['name']}"
                out.append({"apiVersion": "v1", "kind": "Service",
                            "metadata": {"name": svc, "namespace": md.get("namespace"),
                                         "labels": {f"seldon-app-svc-{con['name']}": svc, "seldon-deployment-id": md["name"], "seldon-app": psvc}},
                            "spec": {"type": "ClusterIP", "sessionAffinity": "None", "selector": {f"seldon-app-svc-{con['name']}": svc},
                                     "ports": [{"protocol": "TCP", "port": unit["endpoint"]["httpPort"], "targetPort": unit["endpoint"]["httpPort"],
                                                "name": "http"},
                                               {"protocol": "TCP", "port": unit["endpoint"]["grpcPort"], "targetPort": unit["endpoint"]["grpcPort"],
                                                "name": "grpc"}]}})
        out.append({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": psvc, "namespace": md.get("namespace"),
                                 "labels": {"seldon-app": psvc, "seldon-deployment-id": md["name"],
                                            "app.kubernetes.io/managed-by": "seldon-core"},
                                 **({"annotations": dict(predictor["annotations"])} if predictor.get("annotations") else {})},
                    "spec": {"type": "ClusterIP", "sessionAffinity": "None", "selector": {"seldon-app": psvc},
                             "ports": [{"protocol": "TCP", "port": port, "targetPort": port, "name": "http"},
                                       {"protocol": "TCP", "port": 5001, "targetPort": 5001, "name": "grpc"}]}})
    return out


def istio_objects(sdep: dict, config: Optional[dict] = None) -> list:
    """The VirtualService and the DestinationRules (createIstioResources)."""
    config = config or DEFAULT_CONFIG
    md = sdep["metadata"]
    ns, name = md.get("namespace"), md["name"]
    spec = _defaulted(sdep, config)
    annotations = {**(md.get("annotations") or {}), **(spec.get("annotations") or {})}
    port = int(config["env"].get("EXECUTOR_SERVER_PORT") or 8000)
    http_routes, grpc_routes, rules = [], [], []
    predictors = spec.get("predictors") or []
    for predictor in predictors:
        fqdn = f"{predictor_service_name(sdep, predictor)}.{ns}.svc.cluster.local"
        rules.append({"apiVersion": ISTIO, "kind": "DestinationRule",
                      "metadata": {"name": predictor_service_name(sdep, predictor), "namespace": ns},
                      "spec": {"host": fqdn, "subsets": [{"name": predictor["name"],
                                                          "labels": {"version": (predictor.get("labels") or {}).get("version", "")}}],
                               "trafficPolicy": {"connectionPool": {"http": {"idleTimeout": "60s"}}}}})
        if predictor.get("shadow"):
            continue
        weight = int(predictor.get("traffic") or (100 if len(predictors) == 1 else 0))
        http_routes.append({"destination": {"host": fqdn, "subset": predictor["name"], "port": {"number": port}}, "weight": weight})
        grpc_routes.append({"destination": {"host": fqdn, "subset": predictor["name"], "port": {"number": 5001}}, "weight": weight})
    virtual_service = {"apiVersion": ISTIO, "kind": "VirtualService", "metadata": {"name": name, "namespace": ns},
                       "spec": {"hosts": [annotations.get("seldon.io/istio-host", "*")],
                                "gateways": [annotations.get("seldon.io/istio-gateway", config["env"]["ISTIO_GATEWAY"])],
                                "http": [{"match": [{"uri": {"prefix": f"/seldon/{ns}/{name}/"}}], "rewrite": {"uri": "/"},
                                          "route": http_routes},
                                         {"match": [{"uri": {"regex": GRPC_REGEX},
                                                     "headers": {"seldon": {"exact": name}, "namespace": {"exact": ns}}}],
                                          "route": grpc_routes}]}}
    return [virtual_service] + rules


def _condition(type_: str, status: bool, reason: str = "", message: str = "") -> dict:
    cond = {"type": type_, "status": "True" if status else "False", "lastTransitionTime": _SINCE}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def _running_operator(ctx) -> Optional[dict]:
    for deployment in ctx.list("apps/v1", "Deployment"):
        md = deployment["metadata"]
        status = deployment.get("status") or {}
        if md["name"] == OPERATOR_DEPLOYMENT and not md.get("deletionTimestamp") and int(status.get("availableReplicas") or 0) >= 1:
            return operator_config(deployment, ctx.get("v1", "ConfigMap", CONFIG_MAP, md.get("namespace")))
    return None


def _last_applied(obj: dict) -> str:
    return hashlib.sha256(json.dumps(obj.get("spec"), sort_keys=True).encode()).hexdigest()[:16]


def _apply(ctx, obj: dict, owner: dict) -> dict:
    """Create, or update what a changed spec changes (the last applied hash differs)."""
    obj = copy.deepcopy(obj)
    obj["metadata"].setdefault("annotations", {})[LAST_APPLIED] = _last_applied(obj)
    current = ctx.get(obj["apiVersion"], obj["kind"], obj["metadata"]["name"], obj["metadata"].get("namespace"))
    if current is None:
        return ctx.ensure(obj, owner=owner)
    if ((current["metadata"].get("annotations") or {}).get(LAST_APPLIED)) == obj["metadata"]["annotations"][LAST_APPLIED]:
        return current
    spec = obj["spec"]
    if obj["kind"] == "Service":
        spec = {**spec, **{k: v for k, v in (current.get("spec") or {}).items() if k in ("clusterIP", "clusterIPs")}}
    updated = {**current, "spec": spec,
               "metadata": {**current["metadata"], "labels": obj["metadata"].get("labels") or {},
                            "annotations": {**(current["metadata"].get("annotations") or {}), **obj["metadata"]["annotations"]}}}
    server = ctx._srv  # pylint: disable=protected-access
    return server.internal_update(ctx._gr(obj["apiVersion"], obj["kind"]), updated) or current  # pylint: disable=protected-access


def _deployment_ready(found: Optional[dict]) -> bool:
    status = (found or {}).get("status") or {}
    return int(status.get("readyReplicas") or 0) > 0 and int(status.get("unavailableReplicas") or 0) == 0


def _deployment_stalled(found: Optional[dict]) -> bool:
    conditions = {c.get("type"): c for c in ((found or {}).get("status") or {}).get("conditions") or []}
    return (conditions.get("Progressing") or {}).get("status") == "False" and (conditions.get("Available") or {}).get("status") == "False"


def _status(sdep: dict, config: dict, made: list, services_made: list, istio: bool, live: dict) -> dict:
    md, spec = sdep["metadata"], _defaulted(sdep, config)
    ns = md.get("namespace")
    ready = all(_deployment_ready(live.get(d["metadata"]["name"])) for d in made)
    stalled = any(_deployment_stalled(live.get(d["metadata"]["name"])) for d in made)
    state = "Available" if ready else ("Failed" if stalled else "Creating")
    first = (spec.get("predictors") or [{}])[0]
    protocol = spec.get("protocol") or "seldon"
    path = f"/v2/models/{(first.get('graph') or {}).get('name', '')}/infer" if protocol in ("v2", "kfserving") else "/api/v1.0/predictions"
    port = int(config["env"].get("EXECUTOR_SERVER_PORT") or 8000)
    status = {"state": state,
              "deploymentStatus": {d["metadata"]["name"]: {k: v for k, v in {
                  "replicas": int(((live.get(d["metadata"]["name"]) or {}).get("status") or {}).get("replicas") or 0),
                  "availableReplicas": int(((live.get(d["metadata"]["name"]) or {}).get("status") or {}).get("availableReplicas") or 0)}.items() if v}
                  for d in made},
              "serviceStatus": {s["metadata"]["name"]: {"svcName": s["metadata"]["name"],
                                                        "httpEndpoint": f"{s['metadata']['name']}.{ns}:{s['spec']['ports'][0]['port']}",
                                                        "grpcEndpoint": f"{s['metadata']['name']}.{ns}:{s['spec']['ports'][1]['port']}"}
                                for s in services_made},
              "address": {"url": f"http://{predictor_service_name(sdep, first)}.{ns}.svc.cluster.local:{port}{path}"}}
    if state == "Failed":
        status["description"] = "Deployment is no longer progressing and not available."
    replicas = int(((live.get(made[0]["metadata"]["name"]) or {}).get("status") or {}).get("replicas") or 0) if made else 0
    if replicas:
        status["replicas"] = replicas
    available = next((c for d in made for c in ((live.get(d["metadata"]["name"]) or {}).get("status") or {}).get("conditions") or []
                      if c.get("type") == "Available"), None) or {}
    conditions = {"AmbassadorMappingsReady": _condition("AmbassadorMappingsReady", True, "No Ambassador Mappaings defined"),
                  "DeploymentsReady": _condition("DeploymentsReady", ready, available.get("reason", ""), available.get("message", "")),
                  "HpasReady": _condition("HpasReady", True, "No HPAs defined"),
                  "KedaReady": _condition("KedaReady", True, "No KEDA resources defined"),
                  "PdbsReady": _condition("PdbsReady", True, "No PDBs defined"),
                  "ServicesReady": _condition("ServicesReady", True, "All services created"),
                  "istioVirtualServicesReady": _condition("istioVirtualServicesReady", True,
                                                          "All VirtualServices created" if istio else "No VirtualServices defined")}
    conditions["Ready"] = _condition("Ready", all(c["status"] == "True" for c in conditions.values()))
    status["conditions"] = [conditions[t] for t in CONDITION_TYPES]
    return status


def reconcile(ctx) -> None:
    config = _running_operator(ctx)
    if config is None:
        return
    controller = config["env"].get("CONTROLLER_ID", "")
    for sdep in ctx.list(API, "SeldonDeployment"):
        md = sdep["metadata"]
        ns = md.get("namespace")
        if md.get("deletionTimestamp") or (md.get("labels") or {}).get("seldon.io/controller-id", "") != controller:
            continue
        namespace = ctx.get("v1", "Namespace", ns) or {}
        if not controller and ((namespace.get("metadata") or {}).get("labels") or {}).get("seldon.io/controller-id"):
            continue
        try:
            made = deployments(sdep, config)
            services_made = services(sdep, config)
        except SpecError as error:
            ctx.set_status(sdep, {"state": "Failed", "description": str(error)})
            continue
        istio = config["env"].get("ISTIO_ENABLED") == "true"
        for obj in services_made + (istio_objects(sdep, config) if istio else []):
            _apply(ctx, obj, sdep)
        live = {}
        for deployment in made:
            live[deployment["metadata"]["name"]] = _apply(ctx, deployment, sdep)
        ctx.set_status(sdep, _status(sdep, config, made, services_made, istio, live))
