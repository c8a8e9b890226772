"""Kubernetes API access of the helm double (create/replace/delete raw manifests).

Connection settings are taken the way helm takes them: ``--kubeconfig``/``KUBECONFIG``
(kubernetes.core writes a temporary JSON kubeconfig when the task has ``kubeconfig``),
``--kube-context``/``HELM_KUBECONTEXT``, then ``HELM_KUBEAPISERVER``,
``HELM_KUBETOKEN``, ``HELM_KUBECAFILE`` and ``HELM_KUBEINSECURE_SKIP_TLS_VERIFY`` on top.
REST paths are computed without discovery: a table of built-in kinds plus the chart's
own CRDs, so the double works against minimal API servers.
"""

from __future__ import annotations

import os
from typing import Any, Callable

# kind -> (plural, namespaced) for built-in kinds whose plural is irregular or that are
# cluster-scoped; any other kind is namespaced with a regular English plural.
BUILTIN_KINDS = {
    "Namespace": ("namespaces", False),
    "Node": ("nodes", False),
    "PersistentVolume": ("persistentvolumes", False),
    "CustomResourceDefinition": ("customresourcedefinitions", False),
    "ClusterRole": ("clusterroles", False),
    "ClusterRoleBinding": ("clusterrolebindings", False),
    "StorageClass": ("storageclasses", False),
    "CSIDriver": ("csidrivers", False),
    "CSINode": ("csinodes", False),
    "VolumeAttachment": ("volumeattachments", False),
    "VolumeSnapshotClass": ("volumesnapshotclasses", False),
    "VolumeSnapshotContent": ("volumesnapshotcontents", False),
    "PriorityClass": ("priorityclasses", False),
    "RuntimeClass": ("runtimeclasses", False),
    "IngressClass": ("ingressclasses", False),
    "ValidatingWebhookConfiguration": ("validatingwebhookconfigurations", False),
    "MutatingWebhookConfiguration": ("mutatingwebhookconfigurations", False),
    "ValidatingAdmissionPolicy": ("validatingadmissionpolicies", False),
    "ValidatingAdmissionPolicyBinding": ("validatingadmissionpolicybindings", False),
    "APIService": ("apiservices", False),
    "CertificateSigningRequest": ("certificatesigningrequests", False),
    "FlowSchema": ("flowschemas", False),
    "PriorityLevelConfiguration": ("prioritylevelconfigurations", False),
    "Endpoints": ("endpoints", True),
}

HELM_LABELS = {"app.kubernetes.io/managed-by": "Helm"}


class KubeUnavailable(Exception):
    """No usable Kubernetes API (not configured, client missing, or unreachable)."""


def _plural(kind: str) -> str:
    low = kind.lower()
    if low.endswith(("s", "x", "ch", "sh")):
        return low + "es"
    if low.endswith("y") and low[-2:-1] not in "aeiou":
        return low[:-1] + "ies"
    return low + "s"


def resource_path(obj: dict, namespace: str, crd_lookup: Callable[[], dict] | None = None,
                  name: str | None = None) -> tuple[str, bool]:
    """Collection path (or item path when ``name``) of ``obj`` and whether it is namespaced."""
    api_version = obj.get("apiVersion") or ""
    kind = obj.get("kind") or ""
    group = api_version.split("/", 1)[0] if "/" in api_version else ""
    plural, namespaced = None, True
    if kind in BUILTIN_KINDS:
        plural, namespaced = BUILTIN_KINDS[kind]
    elif group and crd_lookup is not None:
        found = crd_lookup().get((group, kind))
        if found:
            plural, namespaced = found
    if plural is None:
        plural = _plural(kind)
    prefix = f"/apis/{api_version}" if group else f"/api/{api_version}"
    ns = (obj.get("metadata") or {}).get("namespace") or namespace
    path = f"{prefix}/namespaces/{ns}/{plural}" if namespaced else f"{prefix}/{plural}"
    if name:
        path += f"/{name}"
    return path, namespaced


def configured(env: dict, kubeconfig_flag: str | None) -> bool:
    """Whether helm would have any cluster to talk to (besides its localhost default)."""
    if env.get("HELM_KUBEAPISERVER"):
        return True
    paths = kubeconfig_flag or env.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    return any(p and os.path.exists(p) for p in paths.split(os.pathsep))


class Kube:
    def __init__(self, env: dict, kubeconfig_flag: str | None = None, context_flag: str | None = None):
        try:
            from kubernetes import client, config  # noqa: PLC0415 - optional, slow import
        except ImportError as exc:
            raise KubeUnavailable(f"the kubernetes python client is not importable ({exc})") from None
        self._client = client
        cfg = client.Configuration()
        context = context_flag or env.get("HELM_KUBECONTEXT") or None
        server = env.get("HELM_KUBEAPISERVER")
        paths = kubeconfig_flag or env.get("KUBECONFIG") or ""
        existing = [p for p in paths.split(os.pathsep) if p and os.path.exists(p)]
        if not existing and not paths and os.path.exists(os.path.expanduser("~/.kube/config")):
            existing = [os.path.expanduser("~/.kube/config")]
        if existing:
            try:
                # several paths are merged by the client like kubectl/helm merge them
                config.load_kube_config(config_file=os.pathsep.join(existing), context=context,
                                        client_configuration=cfg, persist_config=False)
            except Exception as exc:  # noqa: BLE001 - any kubeconfig problem is fatal for helm
                raise KubeUnavailable(f"invalid kubeconfig {os.pathsep.join(existing)}: {exc}") from None
        elif not server:
            raise KubeUnavailable("no kubeconfig found (KUBECONFIG, --kubeconfig, ~/.kube/config) "
                                  "and HELM_KUBEAPISERVER is not set")
        if server:
            cfg.host = server
        if env.get("HELM_KUBETOKEN"):
            cfg.api_key = {"authorization": "Bearer " + env["HELM_KUBETOKEN"]}
        if env.get("HELM_KUBECAFILE"):
            cfg.ssl_ca_cert = env["HELM_KUBECAFILE"]
        if (env.get("HELM_KUBEINSECURE_SKIP_TLS_VERIFY") or "").lower() == "true":
            cfg.verify_ssl = False
        self.host = cfg.host
        self.api = client.ApiClient(cfg)

    def close(self) -> None:
        self.api.close()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        return self.api.call_api(
            path, method, body=body, response_type="object",
            header_params={"Content-Type": "application/json", "Accept": "application/json"},
            auth_settings=["BearerToken"], _return_http_data_only=True, _request_timeout=15)

    def _status(self, exc: Exception) -> int | None:
        return getattr(exc, "status", None) if isinstance(exc, self._client.ApiException) else None

    def check(self) -> None:
        try:
            self._call("GET", "/version")
        except self._client.ApiException:
            return  # the server answered
        except Exception as exc:  # noqa: BLE001
            raise KubeUnavailable(f'Get "{self.host}/version": {_short(exc)}') from None

    def create_namespace(self, name: str) -> bool:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"name": name}}}
        try:
            self._call("POST", "/api/v1/namespaces", body)
            return True
        except Exception as exc:  # noqa: BLE001
            if self._status(exc) == 409:
                return False
            raise KubeUnavailable(f"create namespace {name}: {_short(exc)}") from None

    def create_if_missing(self, obj: dict, namespace: str, crd_lookup=None) -> bool:
        path, unused = resource_path(obj, namespace, crd_lookup)
        try:
            self._call("POST", path, obj)
            return True
        except Exception as exc:  # noqa: BLE001
            if self._status(exc) == 409:
                return False
            raise KubeUnavailable(f"create {obj.get('kind')} {(obj.get('metadata') or {}).get('name')}: "
                                  f"{_short(exc)}") from None

    def apply(self, obj: dict, namespace: str, crd_lookup=None) -> str:
        """Create, or replace when it exists; returns 'created' or 'replaced'."""
        path, unused = resource_path(obj, namespace, crd_lookup)
        name = obj["metadata"]["name"]
        try:
            self._call("POST", path, obj)
            return "created"
        except Exception as exc:  # noqa: BLE001
            if self._status(exc) != 409:
                raise KubeUnavailable(f"create {obj.get('kind')} {name}: {_short(exc)}") from None
        item = f"{path}/{name}"
        try:
            current = self._call("GET", item) or {}
            body = dict(obj)
            body["metadata"] = dict(obj["metadata"])
            rv = (current.get("metadata") or {}).get("resourceVersion")
            if rv:
                body["metadata"]["resourceVersion"] = rv
            self._call("PUT", item, body)
            return "replaced"
        except Exception as exc:  # noqa: BLE001
            raise KubeUnavailable(f"replace {obj.get('kind')} {name}: {_short(exc)}") from None

    def delete(self, ref: dict, namespace: str, crd_lookup=None) -> bool:
        path, unused = resource_path(ref, namespace, crd_lookup, name=ref["metadata"]["name"])
        try:
            self._call("DELETE", path)
            return True
        except Exception as exc:  # noqa: BLE001
            if self._status(exc) == 404:
                return False
            raise KubeUnavailable(f"delete {ref.get('kind')} {ref['metadata']['name']}: {_short(exc)}") from None


def _short(exc: Exception) -> str:
    status = getattr(exc, "status", None)
    if status is not None:
        return f"{status} {getattr(exc, 'reason', '')}".strip() + (
            f": {str(getattr(exc, 'body', '') or '')[:300]}" if getattr(exc, "body", None) else "")
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:300]


def stamp(obj: dict, release: str, namespace: str) -> dict:
    """Labels/annotations helm puts on the objects of a release."""
    md = obj.setdefault("metadata", {})
    labels = md.get("labels") or {}
    labels.update(HELM_LABELS)
    md["labels"] = labels
    ann = md.get("annotations") or {}
    ann["meta.helm.sh/release-name"] = release
    ann["meta.helm.sh/release-namespace"] = namespace
    md["annotations"] = ann
    return obj
