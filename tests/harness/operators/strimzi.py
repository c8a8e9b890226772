"""Simulated Strimzi operator (1.2.0): what its Cluster Operator and Topic Operator do that clients
can observe, for ``Kafka`` (KRaft, node pools), ``KafkaNodePool`` and ``KafkaTopic`` resources
(``kafka.strimzi.io/v1``).

Names, labels and status follow strimzi/strimzi-kafka-operator at tag 1.2.0 (commit 6c7b43c4):

- Labels (``operator-common/.../model/Labels.java``): a resource's own labels are copied to what
  is made from it, except those matching ``STRIMZI_LABELS_EXCLUSION_PATTERN``
  (``^app.kubernetes.io/(?!part-of).*|^kustomize.toolkit.fluxcd.io.*``); then
  ``generateDefaultLabels`` / ``KafkaPool``'s constructor add ``strimzi.io/kind: Kafka``,
  ``strimzi.io/name`` (``<cluster>-kafka`` for every node pool, ``<cluster>-entity-operator``),
  ``strimzi.io/cluster``, ``strimzi.io/component-type`` (``kafka``, ``entity-operator``),
  ``strimzi.io/pool-name`` (node pools), ``app.kubernetes.io/name`` (the component type),
  ``app.kubernetes.io/instance: <cluster>``, ``app.kubernetes.io/part-of: strimzi-<cluster>``
  and ``app.kubernetes.io/managed-by: strimzi-cluster-operator``.
- Node IDs (``model/nodepools/NodeIdAssignor.java``): IDs in a pool's ``status.nodeIds`` are
  kept; new nodes take the lowest unused IDs, pools in the order the API lists them (by name).
- Per node pool (``KafkaCluster.generatePodSets``, ``WorkloadUtils.createStatefulPod``): a
  ``StrimziPodSet`` ``<cluster>-<pool>`` (``core.strimzi.io/v1``, owned by the Kafka, the Pods in
  ``spec.pods``) and, owned by it, one Pod ``<cluster>-<pool>-<id>`` per node (``KafkaResources
  .kafkaPodName``): the pool's labels plus ``strimzi.io/broker-role`` / ``controller-role``
  (``"true"``/``"false"``), ``strimzi.io/pod-name``, ``strimzi.io/controller: strimzipodset``,
  ``strimzi.io/controller-name``; hostname = name, subdomain ``<cluster>-kafka-brokers``,
  ServiceAccount ``<cluster>-kafka`` (made, owned by the Kafka) without an automounted token (the
  ``kube-api-access`` projected volume instead, 1.2.0); one container ``kafka`` (``spec.kafka.image``,
  else the operator's image for ``spec.kafka.version``; ``/opt/kafka/kafka_run.sh``; the pool's
  ``resources``, else ``spec.kafka.resources``; ports ``tcp-kafkaagent`` 8443, ``tcp-ctrlplane``
  9090 on controllers, ``tcp-replication`` 9091 and one per listener on brokers
  (``tcp-clients`` 9092 and ``tcp-clientstls`` 9093 for the internal ``plain``/``tls`` listeners,
  ``ListenersUtils.backwardsCompatiblePortName``, else ``tcp-<name>``), ``tcp-prometheus`` 9404 with
  ``metricsConfig``; env ``STRIMZI_DYNAMIC_HEAP_PERCENTAGE`` 50 when a memory request or limit is
  set); volumes ``data-<id>`` (JBOD, PVC ``data-<id>-<pod>`` or emptyDir) mounted at
  ``/var/lib/kafka/data-<id>``, ``kube-api-access``, ``strimzi-tmp`` (``/tmp``),
  ``kafka-metrics-and-logging`` (ConfigMap ``<pod>``, ``/opt/kafka/custom-config/``) and
  ``ready-files`` (``/var/opt/kafka``) (``getPodSetVolumes``, ``getVolumeMounts``). The Pod's
  securityContext is the pool's ``template.pod.securityContext`` (the pool's ``template.pod``
  replaces the Kafka's), else the Kafka's, else ``fsGroup: 0`` with persistent storage
  (``BaselinePodSecurityProvider``, the default provider); the container's from
  ``template.kafkaContainer``.
- PVCs (``PersistentVolumeClaimUtils``): ``data-<id>-<pod>`` (JBOD volumes), the pool's labels,
  annotation ``strimzi.io/delete-claim``, owned by the Kafka only with ``deleteClaim: true``.
- Services (``KafkaCluster.generateService`` / ``generateHeadlessService``): ``<cluster>-kafka-bootstrap``
  (ClusterIP; ports ``tcp-replication`` 9091 plus the internal listeners'; selecting the brokers)
  and ``<cluster>-kafka-brokers`` (headless, ``publishNotReadyAddresses``; ``tcp-ctrlplane`` 9090,
  ``tcp-replication`` 9091, ``tcp-kafkaagent`` 8443, the listeners'), owned by the Kafka.
- The cluster CA certificate Secret ``<cluster>-cluster-ca-cert`` (``ca.crt``; a stand-in PEM).
- Entity operator (``EntityOperator.generateDeployment``, ``EntityTopicOperator``): once every
  node Pod is Ready, the Deployment ``<cluster>-entity-operator`` (Recreate, 1 replica, owned by
  the Kafka, ServiceAccount ``<cluster>-entity-operator``) with the container ``topic-operator``
  (``spec.entityOperator.topicOperator.image`` / ``resources``, port ``healthcheck-to`` 8080, the
  ``template.topicOperatorContainer`` securityContext, the ``template.pod`` one on the Pod); the
  emulated Deployment controller makes its Pod.
- ``Kafka`` status (``KafkaAssemblyOperator.createOrUpdate``, ``initialStatus``,
  ``KafkaListenersReconciler.internalServicesReady``, ``ListenerStatus``): first ``NotReady``
  True, reason ``Creating``, "Kafka cluster is being deployed"; ``Ready`` True once every node
  Pod and the entity operator are ready, with ``listeners`` (name, ``addresses``
  ``<cluster>-kafka-bootstrap.<ns>.svc`` + port, ``bootstrapServers``, ``certificates`` for TLS
  listeners), ``kafkaNodePools`` (names, sorted), ``clusterId`` (22 characters, derived from the
  uid here), ``kafkaVersion``, ``kafkaMetadataVersion`` (``spec.kafka.metadataVersion``, else the
  version's, ``kafka-versions.yaml``), ``operatorLastSuccessfulVersion: 1.2.0``; ``NotReady`` True
  with reason ``InvalidResourceException`` without node pools, or without a broker or a
  controller role (``NodePoolUtils.validateNodePools``), ``UnsupportedKafkaVersionException`` for
  a version Strimzi 1.2.0 does not support. A Ready cluster whose Pods fail later keeps its
  status (the real operator notices at its next periodic reconciliation).
- ``KafkaNodePool`` status: ``nodeIds``, ``clusterId``, ``roles``, ``replicas``,
  ``labelSelector``, ``observedGeneration``.
- Topic Operator (``topic-operator/.../BatchingTopicController.java``, ``KubernetesHandler``): only
  while the entity operator's Pod is ready, for KafkaTopics labelled ``strimzi.io/cluster`` with
  a Ready Kafka: adds the finalizer ``strimzi.io/topic-operator`` and creates the topic in Kafka
  (``spec.topicName``, else ``metadata.name``), status ``Ready`` True with ``topicName`` and
  ``topicId``; ``Ready`` False with reason ``KafkaError`` (InvalidReplicationFactorException)
  when ``spec.replicas`` exceeds the brokers; annotation ``strimzi.io/managed: "false"``:
  ``Unmanaged`` True, no ``topicName`` / ``topicId``. A deleted managed KafkaTopic deletes its
  topic in Kafka, an unmanaged one leaves it; both lose the finalizer (only while the Topic
  Operator runs: otherwise the KafkaTopic stays, as on a real cluster). The topics "in Kafka" are
  kept per emulator and (namespace, cluster) across a re-created Kafka (its volumes stay):
  ``topics_in_kafka(server)``.

Not simulated: rolling updates (a changed spec does not replace running Pods), the per-node
ConfigMaps, certificates and their Secrets other than the CA certificate, the NetworkPolicies
and PodDisruptionBudgets Strimzi makes, probes, scale-down checks, rack awareness, external
listeners, Cruise Control, the User Operator, KafkaUser and the other kinds.
"""
from __future__ import annotations

import base64
import copy
import hashlib
import re
import threading
from typing import Optional

API = "kafka.strimzi.io/v1"
PODSET_API = "core.strimzi.io/v1"
WATCHES = [(API, "Kafka"), (API, "KafkaNodePool"), (API, "KafkaTopic"), (PODSET_API, "StrimziPodSet"),
           ("v1", "Pod"), ("apps/v1", "Deployment")]

OPERATOR_VERSION = "1.2.0"
# kafka-versions.yaml at 1.2.0: the supported versions and their KRaft metadata versions.
KAFKA_VERSIONS = {"4.2.0": "4.2-IV1", "4.2.1": "4.2-IV1", "4.3.0": "4.3-IV0", "4.3.1": "4.3-IV0"}
DEFAULT_KAFKA_VERSION = "4.3.1"
DEFAULT_OPERATOR_IMAGE = f"quay.io/strimzi/operator:{OPERATOR_VERSION}"
TOPIC_FINALIZER = "strimzi.io/topic-operator"
MANAGED = "strimzi.io/managed"
_EXCLUDED_LABELS = re.compile(r"^app\.kubernetes\.io/(?!part-of).*|^kustomize\.toolkit\.fluxcd\.io.*")
_SINCE = "2026-01-01T00:00:00Z"
_CA_PEM = "-----BEGIN CERTIFICATE-----\nc2ltdWxhdGVkIFN0cmltemkgY2x1c3RlciBDQQ==\n-----END CERTIFICATE-----\n"

# Per emulator (ApiServer object id): the topics in each Kafka cluster, (namespace, cluster) ->
# {topic name: topic id}. They outlive the Kafka resource, as its volumes do.
_TOPICS: dict = {}
_LOCK = threading.Lock()


def _uuid(*parts: str) -> str:
    """A Kafka Uuid (22 URL-safe base64 characters), derived from ``parts`` so reconciles agree."""
    return base64.urlsafe_b64encode(hashlib.sha256("/".join(parts).encode()).digest()[:16]).decode().rstrip("=")


def _labels(obj: dict) -> dict:
    return (obj.get("metadata") or {}).get("labels") or {}


def _from_resource(obj: dict) -> dict:
    """Labels.fromResource: the resource's labels without the excluded ones."""
    return {k: v for k, v in _labels(obj).items() if not _EXCLUDED_LABELS.match(k)}


def _cluster_labels(cluster: str, component: str, name: str) -> dict:
    return {"strimzi.io/kind": "Kafka", "strimzi.io/name": name, "strimzi.io/cluster": cluster,
            "strimzi.io/component-type": component, "app.kubernetes.io/name": component,
            "app.kubernetes.io/instance": cluster, "app.kubernetes.io/part-of": f"strimzi-{cluster}",
            "app.kubernetes.io/managed-by": "strimzi-cluster-operator"}


def kafka_labels(kafka: dict) -> dict:
    cluster = kafka["metadata"]["name"]
    return {**_from_resource(kafka), **_cluster_labels(cluster, "kafka", f"{cluster}-kafka")}


def pool_labels(pool: dict, cluster: str) -> dict:
    return {**_from_resource(pool), **_cluster_labels(cluster, "kafka", f"{cluster}-kafka"),
            "strimzi.io/pool-name": pool["metadata"]["name"]}


def _selector(cluster: str, name: str, pool: Optional[str] = None) -> dict:
    """Labels.strimziSelectorLabels."""
    out = {"strimzi.io/cluster": cluster, "strimzi.io/name": name, "strimzi.io/kind": "Kafka"}
    if pool:
        out["strimzi.io/pool-name"] = pool
    return out


def _kafka_spec(kafka: Optional[dict]) -> dict:
    return (((kafka or {}).get("spec") or {}).get("kafka")) or {}


def kafka_image(kafka: Optional[dict]) -> str:
    spec = _kafka_spec(kafka)
    return spec.get("image") or f"quay.io/strimzi/kafka:{OPERATOR_VERSION}-kafka-{spec.get('version') or DEFAULT_KAFKA_VERSION}"


def _listener_port_name(listener: dict) -> str:
    """ListenersUtils.backwardsCompatiblePortName."""
    name, port, internal = listener.get("name"), listener.get("port"), listener.get("type") == "internal"
    if port == 9092 and name == "plain" and internal:
        return "tcp-clients"
    if port == 9093 and name == "tls" and internal:
        return "tcp-clientstls"
    if port == 9094 and name == "external":
        return "tcp-external"
    return f"tcp-{name}"


def _listeners(kafka: Optional[dict]) -> list:
    return _kafka_spec(kafka).get("listeners") or []


def _template(pool: dict, kafka: Optional[dict], key: str) -> dict:
    """A template section: the pool's replaces the Kafka's (KafkaPool)."""
    own = ((pool.get("spec") or {}).get("template") or {}).get(key)
    if own is not None:
        return own
    return (_kafka_spec(kafka).get("template") or {}).get(key) or {}


def _storage_volumes(storage: dict) -> list:
    """(volume name, JBOD volume) pairs: VolumeUtils.createVolumePrefix."""
    if storage.get("type") == "jbod":
        return [(f"data-{v.get('id')}", v) for v in storage.get("volumes") or []]
    return [("data", storage)] if storage else []


def _persistent(storage: dict) -> bool:
    return any(v.get("type") == "persistent-claim" for _n, v in _storage_volumes(storage))


def node_ids(pool: dict) -> list:
    """The pool's node IDs as its status records them, else 0..replicas-1 (a pool on its own)."""
    ids = ((pool.get("status") or {}).get("nodeIds")) or []
    replicas = int((pool.get("spec") or {}).get("replicas") or 0)
    return sorted(ids)[:replicas] if len(ids) >= replicas else list(range(replicas))


def _kube_api_access() -> dict:
    """The projected service account token volume the pods mount (Strimzi mounts it itself)."""
    return {"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}]}}


def _node_pod(pool: dict, kafka: Optional[dict], cluster: str, node_id: int) -> dict:
    spec = pool.get("spec") or {}
    pool_name = pool["metadata"]["name"]
    roles = spec.get("roles") or []
    broker, controller = "broker" in roles, "controller" in roles
    name = f"{cluster}-{pool_name}-{node_id}"
    storage = spec.get("storage") or {}
    resources = spec.get("resources") or _kafka_spec(kafka).get("resources") or {}
    template_pod, template_container = _template(pool, kafka, "pod"), _template(pool, kafka, "kafkaContainer")
    ports = [{"name": "tcp-kafkaagent", "containerPort": 8443, "protocol": "TCP"}]
    if controller:
        ports.append({"name": "tcp-ctrlplane", "containerPort": 9090, "protocol": "TCP"})
    if broker:
        ports.append({"name": "tcp-replication", "containerPort": 9091, "protocol": "TCP"})
        ports += [{"name": _listener_port_name(lsn), "containerPort": lsn["port"], "protocol": "TCP"} for lsn in _listeners(kafka)]
    if _kafka_spec(kafka).get("metricsConfig"):
        ports.append({"name": "tcp-prometheus", "containerPort": 9404, "protocol": "TCP"})
    env = [{"name": "KAFKA_JMX_EXPORTER_ENABLED",
            "value": str((_kafka_spec(kafka).get("metricsConfig") or {}).get("type") == "jmxPrometheusExporter").lower()},
           {"name": "STRIMZI_KAFKA_GC_LOG_ENABLED", "value": "false"}, {"name": "KAFKA_CLUSTER_NAME", "value": cluster}]
    if (resources.get("limits") or {}).get("memory") or (resources.get("requests") or {}).get("memory"):
        env += [{"name": "STRIMZI_DYNAMIC_HEAP_PERCENTAGE", "value": "50"},
                {"name": "STRIMZI_DYNAMIC_HEAP_MAX", "value": str(5 * 1024 ** 3)}]
    volumes, mounts = [], []
    for volume_name, volume in _storage_volumes(storage):
        if volume.get("type") == "persistent-claim":
            volumes.append({"name": volume_name, "persistentVolumeClaim": {"claimName": f"{volume_name}-{name}"}})
        else:
            volumes.append({"name": volume_name, "emptyDir": {k: v for k, v in {"sizeLimit": volume.get("sizeLimit")}.items() if v}})
        mounts.append({"name": volume_name, "mountPath": f"/var/lib/kafka/{volume_name}"})
    volumes += [_kube_api_access(),
                {"name": "strimzi-tmp", "emptyDir": {"medium": "Memory", "sizeLimit": template_pod.get("tmpDirSizeLimit") or "5Mi"}},
                {"name": "kafka-metrics-and-logging", "configMap": {"name": name}},
                {"name": "ready-files", "emptyDir": {"medium": "Memory", "sizeLimit": "1Ki"}}]
    mounts += [{"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": True},
               {"name": "strimzi-tmp", "mountPath": "/tmp"},
               {"name": "kafka-metrics-and-logging", "mountPath": "/opt/kafka/custom-config/"},
               {"name": "ready-files", "mountPath": "/var/opt/kafka"}]
    container = {"name": "kafka", "image": kafka_image(kafka), "command": ["/opt/kafka/kafka_run.sh"], "ports": ports,
                 "env": env, "resources": copy.deepcopy(resources), "volumeMounts": mounts}
    if template_container.get("securityContext"):
        container["securityContext"] = copy.deepcopy(template_container["securityContext"])
    pod_security = copy.deepcopy(template_pod.get("securityContext")) or ({"fsGroup": 0} if _persistent(storage) else None)
    labels = {**pool_labels(pool, cluster),
              "strimzi.io/broker-role": str(broker).lower(), "strimzi.io/controller-role": str(controller).lower(),
              "strimzi.io/pod-name": name, "strimzi.io/controller": "strimzipodset",
              "strimzi.io/controller-name": f"{cluster}-{pool_name}",
              **((template_pod.get("metadata") or {}).get("labels") or {})}
    pod_spec = {"restartPolicy": "Always", "hostname": name, "subdomain": f"{cluster}-kafka-brokers",
                "serviceAccountName": f"{cluster}-kafka", "automountServiceAccountToken": False,
                "terminationGracePeriodSeconds": int(template_pod.get("terminationGracePeriodSeconds") or 30),
                "containers": [container], "volumes": volumes}
    if pod_security:
        pod_spec["securityContext"] = pod_security
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": pool["metadata"].get("namespace"), "labels": labels},
            "spec": pod_spec}


def entity_operator_pod(kafka: dict) -> Optional[dict]:
    """The Pod (template) of the entity operator Deployment, or None without one."""
    md, spec = kafka["metadata"], kafka.get("spec") or {}
    eo = spec.get("entityOperator")
    if not eo or not (eo.get("topicOperator") is not None or eo.get("userOperator") is not None):
        return None
    cluster = md["name"]
    template = eo.get("template") or {}
    containers = []
    if eo.get("topicOperator") is not None:
        to = eo["topicOperator"] or {}
        container = {"name": "topic-operator", "image": to.get("image") or DEFAULT_OPERATOR_IMAGE,
                     "args": ["/opt/strimzi/bin/topic_operator_run.sh"],
                     "ports": [{"name": "healthcheck-to", "containerPort": 8080, "protocol": "TCP"}],
                     "resources": copy.deepcopy(to.get("resources") or {}),
                     "volumeMounts": [{"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                                       "readOnly": True},
                                      {"name": "strimzi-to-tmp", "mountPath": "/tmp"},
                                      {"name": "entity-topic-operator-metrics-and-logging",
                                       "mountPath": "/opt/topic-operator/custom-config/"}]}
        if (template.get("topicOperatorContainer") or {}).get("securityContext"):
            container["securityContext"] = copy.deepcopy(template["topicOperatorContainer"]["securityContext"])
        containers.append(container)
    if eo.get("userOperator") is not None:
        uo = eo["userOperator"] or {}
        container = {"name": "user-operator", "image": uo.get("image") or DEFAULT_OPERATOR_IMAGE,
                     "args": ["/opt/strimzi/bin/user_operator_run.sh"],
                     "ports": [{"name": "healthcheck-uo", "containerPort": 8081, "protocol": "TCP"}],
                     "resources": copy.deepcopy(uo.get("resources") or {})}
        if (template.get("userOperatorContainer") or {}).get("securityContext"):
            container["securityContext"] = copy.deepcopy(template["userOperatorContainer"]["securityContext"])
        containers.append(container)
    template_pod = template.get("pod") or {}
    labels = {**_from_resource(kafka), **_cluster_labels(cluster, "entity-operator", f"{cluster}-entity-operator"),
              **((template_pod.get("metadata") or {}).get("labels") or {})}
    pod_spec = {"serviceAccountName": f"{cluster}-entity-operator", "automountServiceAccountToken": False,
                "containers": containers,
                "volumes": [_kube_api_access(),
                            {"name": "strimzi-to-tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "5Mi"}},
                            {"name": "entity-topic-operator-metrics-and-logging",
                             "configMap": {"name": f"{cluster}-entity-topic-operator-config"}}]}
    if template_pod.get("securityContext"):
        pod_spec["securityContext"] = copy.deepcopy(template_pod["securityContext"])
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{cluster}-entity-operator", "namespace": md.get("namespace"), "labels": labels},
            "spec": pod_spec}


def pods(obj: dict, kafka: Optional[dict] = None, ids: Optional[list] = None) -> list:
    """The Pods Strimzi runs for one resource (also read by the footprint benchmark): for a
    ``KafkaNodePool`` one Pod per node (its ``ids``, else its status' node IDs, else 0..n-1;
    ``kafka`` fills in the image, listeners and templates), for a ``Kafka`` the entity operator's
    Pod (made through its Deployment), for anything else none."""
    if obj.get("kind") == "KafkaNodePool":
        cluster = _labels(obj).get("strimzi.io/cluster") or ((kafka or {}).get("metadata") or {}).get("name", "")
        return [_node_pod(obj, kafka, cluster, i) for i in (ids if ids is not None else node_ids(obj))]
    if obj.get("kind") == "Kafka":
        pod = entity_operator_pod(obj)
        return [pod] if pod else []
    return []


def _condition(type_: str, status: str, reason: str = "", message: str = "") -> dict:
    cond = {"type": type_, "status": status, "lastTransitionTime": _SINCE}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def _not_ready(ctx, kafka: dict, reason: str, message: str) -> None:
    ctx.set_status(kafka, {**{k: v for k, v in (kafka.get("status") or {}).items() if k in ("clusterId",)},
                           "conditions": [_condition("NotReady", "True", reason, message)]})


def _validate(kafka: dict, pools: list) -> tuple:
    """(reason, message) when Strimzi refuses the cluster, else None."""
    version = _kafka_spec(kafka).get("version") or DEFAULT_KAFKA_VERSION
    if version not in KAFKA_VERSIONS:
        return ("UnsupportedKafkaVersionException",
                f"Unsupported Kafka.spec.kafka.version: {version}. Supported versions are: {sorted(KAFKA_VERSIONS)}")
    name = kafka["metadata"]["name"]
    active = [p for p in pools if int((p.get("spec") or {}).get("replicas") or 0) > 0]
    if not active:
        return ("InvalidResourceException",
                f"KafkaNodePools are enabled, but KafkaNodePools for Kafka cluster {name} either don't exist or have 0 "
                "replicas. Please make sure at least one KafkaNodePool resource exists, is in the same namespace as the "
                "Kafka resource, has at least one replica, and has the strimzi.io/cluster label set to the name of the "
                "Kafka resource.")
    errors = []
    if not any("broker" in ((p.get("spec") or {}).get("roles") or []) for p in active):
        errors.append("At least one KafkaNodePool with the broker role and at least one replica is required when KRaft mode is enabled")
    if not any("controller" in ((p.get("spec") or {}).get("roles") or []) for p in active):
        errors.append("At least one KafkaNodePool with the controller role and at least one replica is required when KRaft mode "
                      "is enabled")
    if errors:
        return "InvalidResourceException", f"The Kafka cluster {name} is invalid: {errors}"
    return None


def _assign_ids(pools: list) -> dict:
    """NodeIdAssignor: pool name -> its node IDs."""
    used = set()
    for pool in pools:
        used.update(((pool.get("status") or {}).get("nodeIds")) or [])
    out = {}
    for pool in pools:
        current = sorted(((pool.get("status") or {}).get("nodeIds")) or [])
        replicas = int((pool.get("spec") or {}).get("replicas") or 0)
        ids = current[:replicas]
        while len(ids) < replicas:
            new = next(i for i in range(len(used) + replicas + 1) if i not in used)
            used.add(new)
            ids.append(new)
        out[pool["metadata"]["name"]] = sorted(ids)
    return out


def _services(kafka: dict) -> list:
    cluster = kafka["metadata"]["name"]
    labels = kafka_labels(kafka)
    listeners = [lsn for lsn in _listeners(kafka) if lsn.get("type") == "internal"]
    listener_ports = [{"name": _listener_port_name(lsn), "port": lsn["port"], "targetPort": lsn["port"], "protocol": "TCP"}
                      for lsn in listeners]
    replication = {"name": "tcp-replication", "port": 9091, "targetPort": 9091, "protocol": "TCP"}
    bootstrap = {"apiVersion": "v1", "kind": "Service",
                 "metadata": {"name": f"{cluster}-kafka-bootstrap", "labels": {**labels, "strimzi.io/discovery": "true"}},
                 "spec": {"type": "ClusterIP", "ports": [replication] + listener_ports,
                          "selector": {**_selector(cluster, f"{cluster}-kafka"), "strimzi.io/broker-role": "true"}}}
    brokers = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": f"{cluster}-kafka-brokers", "labels": labels},
               "spec": {"type": "ClusterIP", "clusterIP": "None", "publishNotReadyAddresses": True,
                        "ports": [{"name": "tcp-ctrlplane", "port": 9090, "targetPort": 9090, "protocol": "TCP"}, replication,
                                  {"name": "tcp-kafkaagent", "port": 8443, "targetPort": 8443, "protocol": "TCP"}] + listener_ports,
                        "selector": _selector(cluster, f"{cluster}-kafka")}}
    return [bootstrap, brokers]


def _pvcs(pool: dict, cluster: str, pod_names: list) -> list:
    out = []
    for volume_name, volume in _storage_volumes((pool.get("spec") or {}).get("storage") or {}):
        if volume.get("type") != "persistent-claim":
            continue
        for pod_name in pod_names:
            spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": volume.get("size", "1Gi")}},
                    "volumeMode": "Filesystem"}
            if volume.get("class"):
                spec["storageClassName"] = volume["class"]
            out.append(({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                         "metadata": {"name": f"{volume_name}-{pod_name}", "namespace": pool["metadata"].get("namespace"),
                                      "labels": pool_labels(pool, cluster),
                                      "annotations": {"strimzi.io/delete-claim": str(bool(volume.get("deleteClaim"))).lower()}},
                         "spec": spec}, bool(volume.get("deleteClaim"))))
    return out


def _deployment_available(deployment: Optional[dict]) -> bool:
    status = (deployment or {}).get("status") or {}
    return int(status.get("availableReplicas") or 0) >= 1 and int(status.get("readyReplicas") or 0) >= 1


def _reconcile_kafka(ctx, kafka: dict, all_pools: list) -> bool:
    """Reconciles one Kafka; True when it is Ready."""
    md = kafka["metadata"]
    cluster, ns = md["name"], md.get("namespace")
    if not kafka.get("status"):
        ctx.set_status(kafka, {"conditions": [_condition("NotReady", "True", "Creating", "Kafka cluster is being deployed")]})
        kafka = ctx.get(API, "Kafka", cluster, ns) or kafka
    pools = sorted([p for p in all_pools if p["metadata"].get("namespace") == ns and _labels(p).get("strimzi.io/cluster") == cluster],
                   key=lambda p: p["metadata"]["name"])
    problem = _validate(kafka, pools)
    if problem:
        _not_ready(ctx, kafka, *problem)
        return False
    cluster_id = (kafka.get("status") or {}).get("clusterId") or _uuid(md.get("uid", ""), "cluster")
    for obj in _services(kafka):
        ctx.ensure(obj, owner=kafka)
    ctx.ensure({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": f"{cluster}-kafka", "labels": kafka_labels(kafka)}},
               owner=kafka)
    ctx.ensure({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": f"{cluster}-cluster-ca-cert",
                             "labels": {**kafka_labels(kafka), "strimzi.io/component-type": "certificate-authority"}},
                "data": {"ca.crt": base64.b64encode(_CA_PEM.encode()).decode()}}, owner=kafka)
    ids = _assign_ids(pools)
    node_pods = []
    for pool in pools:
        pool_name = pool["metadata"]["name"]
        wanted = pods(pool, kafka, ids[pool_name])
        labels = pool_labels(pool, cluster)
        podset = ctx.ensure({"apiVersion": PODSET_API, "kind": "StrimziPodSet",
                             "metadata": {"name": f"{cluster}-{pool_name}", "labels": labels},
                             "spec": {"selector": {"matchLabels": _selector(cluster, f"{cluster}-kafka", pool_name)},
                                      "pods": wanted}}, owner=kafka)
        for pvc, owned in _pvcs(pool, cluster, [p["metadata"]["name"] for p in wanted]):
            ctx.ensure(pvc, owner=kafka if owned else None)
        for pod in wanted:
            ctx.ensure(pod, owner=podset)
        names = {p["metadata"]["name"] for p in wanted}
        live = [p for p in ctx.list("v1", "Pod", ns)
                if _labels(p).get("strimzi.io/controller-name") == f"{cluster}-{pool_name}" and not p["metadata"].get("deletionTimestamp")]
        for pod in live:
            if pod["metadata"]["name"] not in names:
                ctx.delete("v1", "Pod", pod["metadata"]["name"], ns)
        current = [p for p in live if p["metadata"]["name"] in names]
        node_pods += current
        ready = sum(1 for p in current if ctx.pod_ready(p))
        ctx.set_status(podset, {"pods": len(wanted), "readyPods": ready, "currentPods": len(current)})
        roles = (pool.get("spec") or {}).get("roles") or []
        ctx.set_status(pool, {"nodeIds": ids[pool_name], "clusterId": cluster_id, "roles": sorted(roles),
                              "replicas": len(ids[pool_name]),
                              "labelSelector": ",".join(f"{k}={v}" for k, v in _selector(cluster, f"{cluster}-kafka", pool_name).items())})
    expected = sum(len(v) for v in ids.values())
    nodes_ready = len(node_pods) == expected and all(ctx.pod_ready(p) for p in node_pods)
    eo_ready = True
    eo_pod = entity_operator_pod(kafka)
    if eo_pod is not None:
        eo_ready = False
        if nodes_ready:
            eo_name = f"{cluster}-entity-operator"
            ctx.ensure({"apiVersion": "v1", "kind": "ServiceAccount",
                        "metadata": {"name": eo_name, "labels": eo_pod["metadata"]["labels"]}}, owner=kafka)
            template = {"metadata": {"labels": eo_pod["metadata"]["labels"]}, "spec": eo_pod["spec"]}
            deployment = ctx.ensure({"apiVersion": "apps/v1", "kind": "Deployment",
                                     "metadata": {"name": eo_name, "labels": eo_pod["metadata"]["labels"]},
                                     "spec": {"replicas": 1, "strategy": {"type": "Recreate"},
                                              "selector": {"matchLabels": _selector(cluster, eo_name)},
                                              "template": template}}, owner=kafka)
            eo_ready = _deployment_available(ctx.get("apps/v1", "Deployment", eo_name, ns) or deployment)
    previous = kafka.get("status") or {}
    was_ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in previous.get("conditions") or [])
    if not (nodes_ready and eo_ready):
        if not was_ready:
            ctx.set_status(kafka, {**{k: v for k, v in previous.items() if k != "observedGeneration"},
                                   "conditions": [_condition("NotReady", "True", "Creating", "Kafka cluster is being deployed")]})
        return was_ready
    spec = _kafka_spec(kafka)
    version = spec.get("version") or DEFAULT_KAFKA_VERSION
    listeners = []
    for lsn in _listeners(kafka):
        if lsn.get("type") != "internal":
            continue
        host = f"{cluster}-kafka-bootstrap.{ns}.svc"
        entry = {"name": lsn["name"], "addresses": [{"host": host, "port": lsn["port"]}], "bootstrapServers": f"{host}:{lsn['port']}"}
        if lsn.get("tls"):
            entry["certificates"] = [_CA_PEM]
        listeners.append(entry)
    ctx.set_status(kafka, {"conditions": [_condition("Ready", "True")], "listeners": listeners,
                           "kafkaNodePools": [{"name": p["metadata"]["name"]} for p in pools], "clusterId": cluster_id,
                           "operatorLastSuccessfulVersion": OPERATOR_VERSION, "kafkaVersion": version,
                           "kafkaMetadataVersion": spec.get("metadataVersion") or KAFKA_VERSIONS[version]})
    return True


def _set_finalizers(ctx, topic: dict, finalizers: list) -> None:
    server = ctx._srv  # pylint: disable=protected-access
    gr = server.registry.for_kind(API, "KafkaTopic").gr
    current = server.store.get(gr, topic["metadata"].get("namespace"), topic["metadata"]["name"])
    if current is not None:
        current = copy.deepcopy(current)
        current["metadata"]["finalizers"] = finalizers
        server.internal_update(gr, current)


def _reconcile_topics(ctx, ready: dict, brokers: dict, operators: dict) -> None:
    """The Topic Operator of each cluster whose entity operator runs."""
    key = id(ctx._srv)  # pylint: disable=protected-access
    for topic in ctx.list(API, "KafkaTopic"):
        md = topic["metadata"]
        ns, cluster = md.get("namespace"), _labels(topic).get("strimzi.io/cluster")
        if not operators.get((ns, cluster)):
            continue
        with _LOCK:
            in_kafka = _TOPICS.setdefault(key, {}).setdefault((ns, cluster), {})
        managed = ((md.get("annotations") or {}).get(MANAGED) or "true").lower() != "false"
        spec = topic.get("spec") or {}
        name = spec.get("topicName") or md["name"]
        finalizers = md.get("finalizers") or []
        if md.get("deletionTimestamp"):
            if managed:
                with _LOCK:
                    in_kafka.pop(name, None)
            if TOPIC_FINALIZER in finalizers:
                _set_finalizers(ctx, topic, [f for f in finalizers if f != TOPIC_FINALIZER])
            continue
        if not ready.get((ns, cluster)):
            continue
        if TOPIC_FINALIZER not in finalizers:
            _set_finalizers(ctx, topic, finalizers + [TOPIC_FINALIZER])
        if not managed:
            ctx.set_status(topic, {"conditions": [_condition("Unmanaged", "True")]})
            continue
        replicas = int(spec.get("replicas") or 1)
        if replicas > brokers.get((ns, cluster), 0):
            ctx.set_status(topic, {"topicName": name, "conditions": [_condition(
                "Ready", "False", "KafkaError",
                "org.apache.kafka.common.errors.InvalidReplicationFactorException: Unable to replicate the partition "
                f"{replicas} time(s): The target replication factor of {replicas} cannot be reached because only "
                f"{brokers.get((ns, cluster), 0)} broker(s) are registered.")]})
            continue
        with _LOCK:
            topic_id = in_kafka.setdefault(name, _uuid(md.get("uid", ""), name))
        ctx.set_status(topic, {"topicName": name, "topicId": topic_id, "conditions": [_condition("Ready", "True")]})


def reconcile(ctx) -> None:
    all_pools = ctx.list(API, "KafkaNodePool")
    ready, brokers, operators = {}, {}, {}
    for kafka in ctx.list(API, "Kafka"):
        md = kafka["metadata"]
        if md.get("deletionTimestamp"):
            continue
        key = (md.get("namespace"), md["name"])
        ready[key] = _reconcile_kafka(ctx, kafka, all_pools)
        brokers[key] = sum(int((p.get("spec") or {}).get("replicas") or 0) for p in all_pools
                           if p["metadata"].get("namespace") == key[0] and _labels(p).get("strimzi.io/cluster") == key[1]
                           and "broker" in ((p.get("spec") or {}).get("roles") or []))
        deployment = ctx.get("apps/v1", "Deployment", f"{md['name']}-entity-operator", key[0])
        operators[key] = ((kafka.get("spec") or {}).get("entityOperator") or {}).get("topicOperator") is not None \
            and _deployment_available(deployment)
    # A Kafka being deleted: its entity operator may still run (foreground deletion) and let
    # the topics go, as the real one does until its Pod stops.
    for kafka in ctx.list(API, "Kafka"):
        md = kafka["metadata"]
        key = (md.get("namespace"), md["name"])
        if key not in operators:
            operators[key] = _deployment_available(ctx.get("apps/v1", "Deployment", f"{md['name']}-entity-operator", key[0]))
    _reconcile_topics(ctx, ready, brokers, operators)


def topics_in_kafka(server) -> dict:
    """The topics the simulated clusters hold: (namespace, cluster) -> {topic: topic id}."""
    with _LOCK:
        return copy.deepcopy(_TOPICS.get(id(server), {}))


def shutdown(ctx) -> None:
    with _LOCK:
        _TOPICS.pop(id(ctx._srv), None)  # pylint: disable=protected-access
