"""Tests of the emulated Kubernetes API server (tests/harness/emulator.py).

Each test drives the emulator with a real client (kubectl, ansible-playbook with
kubernetes.core, the kubernetes Python client or plain HTTP) and asserts on
what a real cluster would answer.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from kubernetes import client, dynamic, watch
from kubernetes.client.rest import ApiException

from tests.harness.emulator import (
    DEFAULT_VERSION,
    Emulator,
    EmulatorClient,
    find_upstream_crds,
    strategic_merge,
)
from tests.harness.upstream import require_upstream

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #


def http(emu, method, path, body=None, ctype="application/json"):
    """(status, parsed JSON body) for one request to the emulator."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(emu.url + path, data=data, method=method, headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw.strip().startswith((b"{", b"[")) else raw.decode()
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def deployment(name, replicas=1, image="nginx:1.27", labels=None, ns="default"):
    labels = labels or {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "main", "image": image}]}}}}


def job(name, backoff=1, ns="default"):
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": ns},
            "spec": {"backoffLimit": backoff, "template": {"metadata": {"labels": {"job": name}}, "spec": {
                "restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox:1.36"}]}}}}


def kubectl(emu, tmp_path, *args, stdin=None, check=True):
    res = subprocess.run(["kubectl", "--cache-dir", str(tmp_path / "kube-cache"), *args], input=stdin, check=False,
                         capture_output=True, text=True, env=emu.env(), timeout=60)
    if check:
        assert res.returncode == 0, res.stderr
    return res


def pods_of(emu, ns, selector):
    return emu.list("v1", "Pod", ns, selector)


def container_state(pod):
    return pod["status"]["containerStatuses"][0]


def warnings_for(emu, ns, name):
    return {(e["reason"], e["message"]) for e in emu.events(ns, name, "Warning")}


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
             "versions": [
                 {"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                  "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}},
                 {"name": "v1beta1", "served": True, "storage": False,
                  "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}


# --------------------------------------------------------------------------- #
# start-up, discovery, kubeconfig, CLI
# --------------------------------------------------------------------------- #


def test_starts_fast_writes_kubeconfig_and_serves_discovery(tmp_path):
    t0 = time.monotonic()
    emu = Emulator(kubeconfig_path=tmp_path / "kc").start()
    try:
        assert time.monotonic() - t0 < 1.0
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", emu.url)
        kc = (tmp_path / "kc").read_text()
        assert f"server: {emu.url}" in kc and "current-context: emulator" in kc and "namespace: default" in kc
        assert "token:" in kc
        env = emu.env({})
        assert env == {"KUBECONFIG": str(tmp_path / "kc"), "K8S_AUTH_KUBECONFIG": str(tmp_path / "kc"),
                       "K8S_AUTH_CONTEXT": "emulator"}
        assert "KUBECONFIG" not in os.environ or os.environ["KUBECONFIG"] != str(tmp_path / "kc")

        assert http(emu, "GET", "/version")[1]["gitVersion"] == DEFAULT_VERSION == "v1.35.5"
        assert http(emu, "GET", "/api")[1]["versions"] == ["v1"]
        groups = {g["name"]: g for g in http(emu, "GET", "/apis")[1]["groups"]}
        assert {"apps", "batch", "rbac.authorization.k8s.io", "apiextensions.k8s.io"} <= set(groups)
        assert groups["autoscaling"]["preferredVersion"]["version"] == "v2"
        core = http(emu, "GET", "/api/v1")[1]
        assert core["groupVersion"] == "v1"
        core_names = {r["name"] for r in core["resources"]}
        assert {"pods", "pods/status", "namespaces", "configmaps", "secrets", "services"} <= core_names
        total = sum(1 for r in core["resources"] if "/" not in r["name"])
        for g in groups.values():
            for v in g["versions"]:
                total += sum(1 for r in http(emu, "GET", f"/apis/{v['groupVersion']}")[1]["resources"]
                             if "/" not in r["name"])
        # tests/harness/emulator/builtin-resources.yaml: a plain 1.35 API server (no K3s extras)
        assert total >= 60
        assert "resource.k8s.io" in groups and "gateway.networking.k8s.io" not in groups
        assert http(emu, "GET", "/openapi/v2")[0] == 404
        assert http(emu, "GET", "/apis/nope.example.com/v1")[0] == 404
    finally:
        emu.stop()
    custom = Emulator(version="v1.30.2").start()
    try:
        assert http(custom, "GET", "/version")[1]["minor"] == "30"
    finally:
        custom.stop()


def test_cli_runs_until_sigterm_and_is_controllable_over_http(tmp_path):
    config = tmp_path / "emu.yaml"
    config.write_text("version: v1.33.1\nready_delay: 0\nnodes: 2\n")
    kubeconfig, state = tmp_path / "kc", tmp_path / "state.json"
    proc = subprocess.Popen([PY, "-m", "tests.harness.emulator", "--port", "0", "--kubeconfig", str(kubeconfig),
                             "--state-file", str(state), "--config", str(config)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url), proc.stderr.read() if proc.poll() else url
        info = json.loads(state.read_text())
        assert info["url"] == url and info["pid"] == proc.pid
        assert f"server: {url}" in kubeconfig.read_text()
        ctl = EmulatorClient(url)
        assert ctl.health()["version"] == "v1.33.1"
        assert ctl.state()["objects"]["nodes"] == 2
        fid = ctl.inject_fault("api_error", method="GET", path="/api/v1/namespaces$", status=503, count=1)
        assert fid
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{url}/api/v1/namespaces", timeout=5)
        assert err.value.code == 503 and json.loads(err.value.read())["kind"] == "Status"
        assert urllib.request.urlopen(f"{url}/api/v1/namespaces", timeout=5).status == 200
        req = urllib.request.Request(f"{url}/api/v1/namespaces/default/configmaps", method="POST",
                                     data=json.dumps({"metadata": {"name": "x"}}).encode(),
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=5)
        assert [(w["method"], w["kind"], w["name"]) for w in ctl.writes()] == [("POST", "ConfigMap", "x")]
        ctl.reset_writes()
        assert ctl.writes() == []
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    assert not state.exists()


# --------------------------------------------------------------------------- #
# clients: kubectl, ansible-playbook (kubernetes.core), python client
# --------------------------------------------------------------------------- #

KUBECTL_MANIFEST = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        env: [{name: MODE, value: "a"}]
      - name: sidecar
        image: busybox:1.36
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {mode: a}
"""


def test_kubectl_get_and_client_side_apply(emulator, tmp_path):
    out = kubectl(emulator, tmp_path, "apply", "-f", "-", stdin=KUBECTL_MANIFEST).stdout
    assert "namespace/shop created" in out and "deployment.apps/web created" in out
    out = kubectl(emulator, tmp_path, "apply", "-f", "-", stdin=KUBECTL_MANIFEST).stdout
    assert out.count("unchanged") == 3
    changed = KUBECTL_MANIFEST.replace("nginx:1.27", "nginx:1.28").replace("mode: a", "mode: b")
    out = kubectl(emulator, tmp_path, "apply", "-f", "-", stdin=changed).stdout
    assert "deployment.apps/web configured" in out and "configmap/settings configured" in out
    dep = json.loads(kubectl(emulator, tmp_path, "get", "deployment", "web", "-n", "shop", "-o", "json").stdout)
    containers = dep["spec"]["template"]["spec"]["containers"]
    # the strategic merge patch kept the untouched container and env entries
    assert [c["name"] for c in containers] == ["web", "sidecar"]
    assert containers[0]["image"] == "nginx:1.28" and containers[0]["env"] == [{"name": "MODE", "value": "a"}]
    assert dep["metadata"]["generation"] == 2
    emulator.wait_for(lambda: (emulator.get("apps/v1", "Deployment", "web", "shop")["status"]
                               .get("availableReplicas") == 2))
    table = kubectl(emulator, tmp_path, "get", "pods", "-n", "shop").stdout
    assert table.startswith("NAME") and table.count("Running") == 2
    names = kubectl(emulator, tmp_path, "get", "cm", "-n", "shop", "-o", "name").stdout.split()
    assert names == ["configmap/settings"]
    missing = kubectl(emulator, tmp_path, "get", "cm", "nope", "-n", "shop", check=False)
    assert missing.returncode == 1 and "NotFound" in missing.stderr
    kubectl(emulator, tmp_path, "delete", "cm", "settings", "-n", "shop")
    assert emulator.get("v1", "ConfigMap", "settings", "shop") is None


PLAYBOOK = """\
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    replicas: 1
    verify: true
  tasks:
    - name: Apply the stack
      kubernetes.core.k8s:
        state: present
        wait: "{{ not ansible_check_mode }}"
        wait_timeout: 30
        definition:
          - apiVersion: v1
            kind: Namespace
            metadata: {name: demo}
          - apiVersion: v1
            kind: Secret
            metadata: {name: db, namespace: demo}
            stringData: {password: s3cret}
          - apiVersion: apps/v1
            kind: Deployment
            metadata: {name: api, namespace: demo, labels: {app: api}}
            spec:
              replicas: "{{ replicas | int }}"
              selector: {matchLabels: {app: api}}
              template:
                metadata: {labels: {app: api}}
                spec:
                  containers:
                    - name: api
                      image: ghcr.io/example/api:1.0
                      ports: [{containerPort: 8080}]
          - apiVersion: v1
            kind: Service
            metadata: {name: api, namespace: demo}
            spec:
              selector: {app: api}
              ports: [{port: 80, targetPort: 8080}]
    - name: Read it back
      when: verify | bool
      kubernetes.core.k8s_info:
        kind: Deployment
        namespace: demo
        label_selectors: ["app in (api, other)"]
      register: info
    - name: Cluster info
      when: verify | bool
      kubernetes.core.k8s_cluster_info:
      register: cluster
    - name: Check
      when: verify | bool
      ansible.builtin.assert:
        that:
          - info.resources | length == 1
          - ansible_check_mode or info.resources[0].status.readyReplicas == 1
          - cluster.version.server.kubernetes.gitVersion == "v1.35.5"
          - "'apps/v1' in cluster.apis"
"""


def run_playbook(emulator, tmp_path, *extra):
    book = tmp_path / "site.yml"
    book.write_text(PLAYBOOK)
    env = emulator.env()
    env.update(ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_PYTHON_INTERPRETER=PY, ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_RETRY_FILES_ENABLED="0")
    env.pop("ANSIBLE_CONFIG", None)
    res = subprocess.run([str(Path(PY).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                          "-e", f"ansible_python_interpreter={PY}", *extra, str(book)],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=180, check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    recap = re.search(r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=0\s+failed=0", res.stdout)
    assert recap, res.stdout[-2000:]
    return int(recap.group(2))


def test_ansible_k8s_module_is_idempotent_and_check_mode_writes_nothing(emulator, tmp_path):
    assert run_playbook(emulator, tmp_path) == 1
    secret = emulator.get("v1", "Secret", "db", "demo")
    assert secret["data"] == {"password": "czNjcmV0"} and "stringData" not in secret
    assert emulator.get("v1", "Service", "api", "demo")["spec"]["clusterIP"].startswith("10.96.")
    persisted = [w for w in emulator.writes() if w["persisted"]]
    assert {(w["method"], w["kind"]) for w in persisted} == {
        ("POST", "Namespace"), ("POST", "Secret"), ("POST", "Deployment"), ("POST", "Service")}

    emulator.reset_writes()
    rv = emulator.resource_version
    assert run_playbook(emulator, tmp_path, "-e", "verify=false") == 0
    assert not [w for w in emulator.writes() if w["persisted"]]
    assert emulator.resource_version == rv

    emulator.reset_writes()
    assert run_playbook(emulator, tmp_path, "--check", "-e", "replicas=3", "-e", "verify=false") == 1
    assert emulator.writes(dry_run=False) == []
    assert any(w["method"] == "PATCH" and w["kind"] == "Deployment" for w in emulator.writes(dry_run=True))
    assert emulator.get("apps/v1", "Deployment", "api", "demo")["spec"]["replicas"] == 1
    assert emulator.resource_version == rv


# --------------------------------------------------------------------------- #
# API semantics through the Python client
# --------------------------------------------------------------------------- #


def test_crud_patch_types_selectors_and_error_statuses(emulator):
    api = emulator.api_client()
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    cm = {"metadata": {"name": "c1", "labels": {"tier": "web", "env": "prod"}}, "data": {"a": "1"}}
    created = core.create_namespaced_config_map("default", cm)
    md = created.metadata
    assert md.uid and md.creation_timestamp and md.generation == 1 and int(md.resource_version) > 0
    core.create_namespaced_config_map("default", {"metadata": {"name": "c2", "labels": {"tier": "db"}}})
    core.create_namespaced_config_map("default", {"metadata": {"generateName": "gen-"}})

    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("default", cm)
    assert err.value.status == 409 and json.loads(err.value.body)["reason"] == "AlreadyExists"
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("missing", "default")
    body = json.loads(err.value.body)
    assert (err.value.status, body["kind"], body["reason"]) == (404, "Status", "NotFound")
    assert body["message"] == 'configmaps "missing" not found'
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("nowhere", {"metadata": {"name": "x"}})
    assert err.value.status == 404 and json.loads(err.value.body)["message"] == 'namespaces "nowhere" not found'
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("default", {"metadata": {"name": "Bad_Name"}})
    assert err.value.status == 422 and json.loads(err.value.body)["reason"] == "Invalid"
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("default", {"metadata": {"name": "x", "labels": {"v": "1.0+build"}}})
    assert err.value.status == 422 and "metadata.labels" in json.loads(err.value.body)["message"]
    stale = core.read_namespaced_config_map("c1", "default")
    core.patch_namespaced_config_map("c1", "default", {"data": {"b": "2"}})
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_config_map("c1", "default", stale)
    assert err.value.status == 409 and json.loads(err.value.body)["reason"] == "Conflict"

    def names(**kw):
        return sorted(i.metadata.name for i in core.list_namespaced_config_map("default", **kw).items)
    assert names(label_selector="tier=web") == ["c1"]
    assert names(label_selector="tier in (web, db)") == ["c1", "c2"]
    assert names(label_selector="tier notin (web),tier") == ["c2"]
    assert names(label_selector="!tier")[0].startswith("gen-")
    assert names(label_selector="env!=prod,tier") == ["c2"]
    assert names(field_selector="metadata.name=c2") == ["c2"]
    assert names(field_selector="metadata.name!=c2,metadata.namespace=default")[0] == "c1"
    assert [i.metadata.name for i in core.list_config_map_for_all_namespaces(
        field_selector="metadata.namespace=default", label_selector="tier").items] == ["c1", "c2"]
    page = core.list_namespaced_config_map("default", limit=2)
    assert len(page.items) == 2 and page.metadata._continue
    rest = core.list_namespaced_config_map("default", limit=2, _continue=page.metadata._continue)
    assert len(rest.items) == 1
    raw = http(emulator, "GET", "/api/v1/namespaces/default/configmaps")[1]
    assert raw["kind"] == "ConfigMapList" and raw["apiVersion"] == "v1"
    assert raw["metadata"]["resourceVersion"] == str(emulator.resource_version)

    # JSON patch, merge patch (null deletes), strategic merge patch (containers merged by name)
    dyn = dynamic.DynamicClient(api)
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    out = cms.patch(name="c1", namespace="default", content_type="application/json-patch+json",
                    body=[{"op": "add", "path": "/data/c", "value": "3"}, {"op": "remove", "path": "/data/a"}])
    assert dict(out.data) == {"b": "2", "c": "3"}
    out = cms.patch(name="c1", namespace="default", content_type="application/merge-patch+json",
                    body={"data": {"b": None}, "metadata": {"labels": {"env": None}}})
    assert dict(out.data) == {"c": "3"} and dict(out.metadata.labels) == {"tier": "web"}
    apps.create_namespaced_deployment("default", deployment("web"))
    patched = apps.patch_namespaced_deployment("web", "default", {"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "image": "busybox"}]}}}})
    assert [c.name for c in patched.spec.template.spec.containers] == ["main", "sidecar"]
    patched = apps.patch_namespaced_deployment("web", "default", {"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "$patch": "delete"}]}}}})
    assert [c.name for c in patched.spec.template.spec.containers] == ["main"]
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_deployment("web", "default", {"spec": {"selector": {"matchLabels": {"x": "y"}}}})
    assert err.value.status == 422 and "immutable" in err.value.body

    # PUT replace and DELETE with propagationPolicy
    cur = core.read_namespaced_config_map("c2", "default")
    cur.data = {"z": "9"}
    assert core.replace_namespaced_config_map("c2", "default", cur).data == {"z": "9"}
    status = core.delete_namespaced_config_map("c2", "default", propagation_policy="Foreground")
    assert status.status == "Success"
    assert names(label_selector="tier") == ["c1"]

    # finalizers hold the object until they are removed
    core.create_namespaced_config_map("default", {"metadata": {"name": "held", "finalizers": ["example.com/x"]}})
    core.delete_namespaced_config_map("held", "default")
    held = core.read_namespaced_config_map("held", "default")
    assert held.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map("held", "default", {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException):
        core.read_namespaced_config_map("held", "default")

    # cluster-scoped objects, namespace deletion removes the content
    core.create_namespace({"metadata": {"name": "tmp"}})
    core.create_namespaced_secret("tmp", {"metadata": {"name": "s"}, "stringData": {"k": "v"}})
    assert core.read_namespace("tmp").status.phase == "Active"
    core.delete_namespace("tmp")
    emulator.wait_for(lambda: emulator.get("v1", "Namespace", "tmp") is None, 5)
    assert emulator.get("v1", "Secret", "s", "tmp") is None


def test_dry_run_never_persists(emulator):
    core = client.CoreV1Api(emulator.api_client())
    core.create_namespaced_config_map("default", {"metadata": {"name": "keep"}, "data": {"a": "1"}})
    rv = emulator.resource_version
    out = core.create_namespaced_config_map("default", {"metadata": {"name": "ghost"}, "data": {"a": "1"}},
                                            dry_run="All")
    assert out.metadata.name == "ghost" and out.metadata.uid
    out = core.patch_namespaced_config_map("keep", "default", {"data": {"a": "2"}}, dry_run="All")
    assert out.data == {"a": "2"}
    core.delete_namespaced_config_map("keep", "default", dry_run="All")
    status, body = http(emulator, "PATCH", "/api/v1/namespaces/default/configmaps/new?dryRun=All&fieldManager=t",
                        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "new"}},
                        ctype="application/apply-patch+yaml")
    assert status == 201 and body["metadata"]["name"] == "new"
    assert emulator.resource_version == rv
    assert emulator.get("v1", "ConfigMap", "ghost", "default") is None
    assert emulator.get("v1", "ConfigMap", "keep", "default")["data"] == {"a": "1"}
    assert all(w["dry_run"] and not w["persisted"] for w in emulator.writes()[1:])


def test_server_side_apply_creates_then_merges(emulator):
    path = "/apis/apps/v1/namespaces/default/deployments/ssa?fieldManager=test"
    status, body = http(emulator, "PATCH", path, deployment("ssa"), ctype="application/apply-patch+yaml")
    assert status == 201 and body["metadata"]["generation"] == 1
    status, body = http(emulator, "PATCH", path, deployment("ssa", replicas=3),
                        ctype="application/apply-patch+yaml")
    assert status == 200 and body["spec"]["replicas"] == 3 and body["metadata"]["generation"] == 2
    # re-applying the same configuration is a no-op (controllers may have updated status meanwhile)
    current = http(emulator, "GET", "/apis/apps/v1/namespaces/default/deployments/ssa")[1]
    status, again = http(emulator, "PATCH", path, deployment("ssa", replicas=3),
                         ctype="application/apply-patch+yaml")
    assert again["metadata"]["resourceVersion"] == current["metadata"]["resourceVersion"]


def test_generation_and_resource_versions(emulator):
    apps = client.AppsV1Api(emulator.api_client())
    d = apps.create_namespaced_deployment("default", deployment("gen"))
    rv1 = int(d.metadata.resource_version)
    assert d.metadata.generation == 1
    d = apps.patch_namespaced_deployment("gen", "default", {"metadata": {"labels": {"extra": "1"}}})
    assert d.metadata.generation == 1 and int(d.metadata.resource_version) > rv1
    d = apps.patch_namespaced_deployment_status("gen", "default", {"status": {"replicas": 7}})
    assert d.metadata.generation == 1
    d = apps.patch_namespaced_deployment("gen", "default", {"spec": {"replicas": 2}})
    assert d.metadata.generation == 2
    # status sent to the main resource is ignored, spec sent to /status is ignored
    d = apps.patch_namespaced_deployment("gen", "default", {"status": {"replicas": 99}})
    assert d.status.replicas != 99 and d.metadata.generation == 2
    d = apps.patch_namespaced_deployment_status("gen", "default", {"spec": {"replicas": 5}})
    assert d.spec.replicas == 2 and d.metadata.generation == 2
    # a no-op patch writes nothing: same resourceVersion
    before = apps.read_namespaced_deployment("gen", "default").metadata.resource_version
    after = apps.patch_namespaced_deployment("gen", "default", {"spec": {"replicas": 2}}).metadata.resource_version
    assert before == after
    d = apps.patch_namespaced_deployment("gen", "default", {"spec": {"template": {"spec": {"containers": [
        {"name": "main", "image": "nginx:2"}]}}}})
    assert d.metadata.generation == 3
    emulator.wait_for(lambda: emulator.get("apps/v1", "Deployment", "gen", "default")["status"]
                      .get("observedGeneration") == 3)


def test_watch_from_resource_version_timeout_and_410(emulator):
    api = emulator.api_client()
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map("default", {"metadata": {"name": "before", "labels": {"w": "yes"}}})
    start_rv = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", {"metadata": {"name": "w1", "labels": {"w": "yes"}}})
    core.patch_namespaced_config_map("w1", "default", {"data": {"k": "v"}})
    core.create_namespaced_config_map("default", {"metadata": {"name": "other"}})
    core.delete_namespaced_config_map("w1", "default")

    t0 = time.monotonic()
    events = [(e["type"], e["object"].metadata.name) for e in watch.Watch().stream(
        core.list_namespaced_config_map, "default", resource_version=start_rv, timeout_seconds=1)]
    assert time.monotonic() - t0 < 3
    assert events == [("ADDED", "w1"), ("MODIFIED", "w1"), ("ADDED", "other"), ("DELETED", "w1")]
    rvs = []
    selected = []
    for e in watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=start_rv,
                                  label_selector="w=yes", timeout_seconds=1):
        selected.append(e["type"])
        rvs.append(int(e["object"].metadata.resource_version))
    assert selected == ["ADDED", "MODIFIED", "DELETED"] and rvs == sorted(rvs)

    # live events through the dynamic client, field selector on the name
    dyn = dynamic.DynamicClient(api)
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    live_rv = cms.get(namespace="default").metadata.resourceVersion
    emulator.call(lambda: emulator.server.loop.call_later(
        0.3, lambda: emulator.server.internal_create(("", "configmaps"), {
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "late", "namespace": "default"}})))
    t0 = time.monotonic()
    got = [(e["type"], e["object"]["metadata"]["name"]) for e in dyn.watch(
        cms, namespace="default", resource_version=live_rv, field_selector="metadata.name=late", timeout=2)]
    assert got == [("ADDED", "late")] and 1.5 < time.monotonic() - t0 < 4

    # resourceVersion older than the retained history -> 410 Gone
    emulator.compact()
    with pytest.raises(ApiException) as err:
        list(watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=start_rv,
                                  timeout_seconds=2))
    assert err.value.status == 410
    raw = urllib.request.urlopen(f"{emulator.url}/api/v1/namespaces/default/configmaps?watch=1&resourceVersion="
                                 f"{start_rv}", timeout=5).read().decode().splitlines()
    event = json.loads(raw[0])
    assert event["type"] == "ERROR" and event["object"]["kind"] == "Status" and event["object"]["code"] == 410
    # a watch without resourceVersion starts with the current objects
    names = [e["object"].metadata.name for e in watch.Watch().stream(
        core.list_namespaced_config_map, "default", timeout_seconds=1)]
    assert sorted(names) == ["before", "late", "other"]


def test_history_size_bounds_watch_replay(emulator_factory):
    emu = emulator_factory(history_size=20)
    core = client.CoreV1Api(emu.api_client())
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    for i in range(30):
        core.create_namespaced_config_map("default", {"metadata": {"name": f"c{i}"}})
    with pytest.raises(ApiException) as err:
        list(watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=rv,
                                  timeout_seconds=1))
    assert err.value.status == 410
    rvs = sorted(int(i.metadata.resource_version) for i in core.list_namespaced_config_map("default").items)
    recent = str(rvs[-5])
    assert len(list(watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=recent,
                                         timeout_seconds=1))) >= 4


def test_crd_registration_then_custom_resources(emulator, tmp_path):
    api = emulator.api_client()
    ext = client.ApiextensionsV1Api(api)
    ext.create_custom_resource_definition(CRD)
    emulator.wait_for(lambda: {c["type"]: c["status"] for c in emulator.get(
        "apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.example.com")["status"]["conditions"]}
        == {"NamesAccepted": "True", "Established": "True"})
    group = http(emulator, "GET", "/apis/example.com")[1]
    assert group["preferredVersion"]["version"] == "v1"
    assert [v["version"] for v in group["versions"]] == ["v1", "v1beta1"]
    resources = {r["name"] for r in http(emulator, "GET", "/apis/example.com/v1")[1]["resources"]}
    assert resources == {"widgets", "widgets/status"}

    cr = """apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: default}
spec: {size: 3}
"""
    assert "widget.example.com/w1 created" in kubectl(emulator, tmp_path, "apply", "-f", "-", stdin=cr).stdout
    assert "unchanged" in kubectl(emulator, tmp_path, "apply", "-f", "-", stdin=cr).stdout
    custom = client.CustomObjectsApi(api)
    obj = custom.get_namespaced_custom_object("example.com", "v1", "default", "widgets", "w1")
    assert obj["spec"] == {"size": 3} and obj["metadata"]["generation"] == 1
    custom.patch_namespaced_custom_object_status("example.com", "v1", "default", "widgets", "w1",
                                                 {"status": {"phase": "Ready"}})
    assert custom.get_namespaced_custom_object("example.com", "v1beta1", "default", "widgets", "w1")[
        "status"] == {"phase": "Ready"}
    # strategic merge patch is refused for custom resources, like a real server
    status, body = http(emulator, "PATCH", "/apis/example.com/v1/namespaces/default/widgets/w1",
                        {"spec": {"size": 4}}, ctype="application/strategic-merge-patch+json")
    assert status == 415 and body["reason"] == "UnsupportedMediaType"

    ext.delete_custom_resource_definition("widgets.example.com")
    assert http(emulator, "GET", "/apis/example.com/v1")[0] == 404
    assert "example.com" not in {g["name"] for g in http(emulator, "GET", "/apis")[1]["groups"]}


@pytest.mark.upstream
def test_preload_upstream_crds():
    root = require_upstream()  # skips, with the reason, when the data is missing
    files = find_upstream_crds()
    assert files, f"no <chart>/<version>/crds/*.yaml under {root}"
    with Emulator(crd_paths=files) as emu:
        groups = {g["name"] for g in http(emu, "GET", "/apis")[1]["groups"]}
        assert {"monitoring.coreos.com", "ray.io", "kafka.strimzi.io", "postgresql.cnpg.io",
                "networking.istio.io", "machinelearning.seldon.io"} <= groups
        amc = emu.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "alertmanagerconfigs.monitoring.coreos.com")
        assert amc is not None and "=" in json.dumps(amc)  # the `- =` enum items survived
        monitor = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
                   "metadata": {"name": "sm"}, "spec": {"endpoints": []}}
        status, unused = http(emu, "POST", "/apis/monitoring.coreos.com/v1/namespaces/default/servicemonitors", monitor)
        assert status == 201
        emu.reset()  # preloaded CRDs survive a reset
        assert emu.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "rayclusters.ray.io") is not None


# --------------------------------------------------------------------------- #
# controllers
# --------------------------------------------------------------------------- #


def test_deployment_becomes_ready_only_after_its_delay(emulator):
    emulator.set_ready_delay(1.0, kind="Deployment", namespace="default", name="slow")
    apps = client.AppsV1Api(emulator.api_client())
    t0 = time.monotonic()
    apps.create_namespaced_deployment("default", deployment("slow", replicas=2))
    apps.create_namespaced_deployment("default", deployment("fast"))
    emulator.wait_for(lambda: emulator.get("apps/v1", "Deployment", "fast", "default")["status"]
                      .get("availableReplicas") == 1, 2)
    time.sleep(0.3)
    st = emulator.get("apps/v1", "Deployment", "slow", "default")["status"]
    assert time.monotonic() - t0 < 0.9
    assert st.get("readyReplicas") is None and st["unavailableReplicas"] == 2 and st["updatedReplicas"] == 2
    assert {c["type"]: c["status"] for c in st["conditions"]} == {"Available": "False", "Progressing": "True"}
    pods = pods_of(emulator, "default", "app=slow")
    assert len(pods) == 2 and all(p["status"]["phase"] == "Pending" for p in pods)
    assert container_state(pods[0])["state"]["waiting"]["reason"] == "ContainerCreating"
    emulator.wait_for(lambda: emulator.get("apps/v1", "Deployment", "slow", "default")["status"]
                      .get("availableReplicas") == 2, 5)
    assert time.monotonic() - t0 >= 1.0
    st = emulator.get("apps/v1", "Deployment", "slow", "default")["status"]
    assert st["observedGeneration"] == 1 and st["replicas"] == 2 and st["updatedReplicas"] == 2
    assert st["readyReplicas"] == 2 and "unavailableReplicas" not in st
    assert {c["type"]: c["reason"] for c in st["conditions"]} == {
        "Available": "MinimumReplicasAvailable", "Progressing": "NewReplicaSetAvailable"}
    pods = pods_of(emulator, "default", "app=slow")
    assert all(p["status"]["phase"] == "Running" and p["spec"]["nodeName"] for p in pods)
    reasons = {e["reason"] for e in emulator.events("default") if e["involvedObject"]["kind"] == "Pod"}
    assert {"Scheduled", "Pulling", "Pulled", "Created", "Started"} <= reasons
    assert emulator.list("apps/v1", "ReplicaSet", "default", "app=slow")

    # a template change rolls out again behind the same delay; the old ReplicaSet drains
    t1 = time.monotonic()
    apps.patch_namespaced_deployment("slow", "default", {"spec": {"template": {"spec": {"containers": [
        {"name": "main", "image": "nginx:1.28"}]}}}})
    emulator.wait_for(lambda: emulator.get("apps/v1", "Deployment", "slow", "default")["status"]
                      .get("observedGeneration") == 2, 2)
    st = emulator.get("apps/v1", "Deployment", "slow", "default")["status"]
    assert st["replicas"] == 4 and st["updatedReplicas"] == 2 and st["readyReplicas"] == 2
    emulator.wait_for(lambda: emulator.get("apps/v1", "Deployment", "slow", "default")["status"]
                      .get("replicas") == 2, 5)
    assert time.monotonic() - t1 >= 1.0
    rss = emulator.list("apps/v1", "ReplicaSet", "default", "app=slow")
    assert sorted(r["spec"]["replicas"] for r in rss) == [0, 2]
    images = {p["spec"]["containers"][0]["image"] for p in pods_of(emulator, "default", "app=slow")}
    assert images == {"nginx:1.28"}
    # deleting the Deployment garbage-collects ReplicaSets and Pods
    apps.delete_namespaced_deployment("slow", "default")
    assert not emulator.list("apps/v1", "ReplicaSet", "default", "app=slow")
    assert not pods_of(emulator, "default", "app=slow")


def test_statefulset_daemonset_job_and_pvc_controllers(emulator_factory):
    emu = emulator_factory(nodes=2, ready_delay=0.2)
    assert len(emu.list("v1", "Node")) == 2
    api = emu.api_client()
    apps, batch, core = client.AppsV1Api(api), client.BatchV1Api(api), client.CoreV1Api(api)
    tmpl = {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "postgres:17"}]}}
    apps.create_namespaced_stateful_set("default", {
        "metadata": {"name": "db"}, "spec": {
            "replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}}, "template": tmpl,
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}})
    apps.create_namespaced_daemon_set("default", {
        "metadata": {"name": "agent"}, "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {
            "metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "a", "image": "agent:1"}]}}}})
    batch.create_namespaced_job("default", job("once"))
    core.create_namespaced_persistent_volume_claim("default", {"metadata": {"name": "scratch"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}}})
    assert emu.get("v1", "PersistentVolumeClaim", "scratch", "default")["status"]["phase"] == "Pending"

    def sts_ready():
        st = emu.get("apps/v1", "StatefulSet", "db", "default")["status"]
        return st.get("readyReplicas") == 2 and st["currentRevision"] == st["updateRevision"]
    emu.wait_for(sts_ready, 5)
    st = emu.get("apps/v1", "StatefulSet", "db", "default")["status"]
    assert st["replicas"] == 2 and st["currentReplicas"] == 2 and st["updatedReplicas"] == 2
    assert st["availableReplicas"] == 2 and st["observedGeneration"] == 1
    assert sorted(p["metadata"]["name"] for p in pods_of(emu, "default", "app=db")) == ["db-0", "db-1"]
    emu.wait_for(lambda: all(emu.get("v1", "PersistentVolumeClaim", n, "default")["status"]["phase"] == "Bound"
                             for n in ("data-db-0", "data-db-1", "scratch")), 5)
    pvc = emu.get("v1", "PersistentVolumeClaim", "scratch", "default")
    pv = emu.get("v1", "PersistentVolume", pvc["spec"]["volumeName"])
    assert pv["spec"]["claimRef"]["name"] == "scratch" and pv["spec"]["capacity"]["storage"] == "2Gi"

    emu.wait_for(lambda: emu.get("apps/v1", "DaemonSet", "agent", "default")["status"]["numberReady"] == 2, 5)
    ds = emu.get("apps/v1", "DaemonSet", "agent", "default")["status"]
    assert ds["desiredNumberScheduled"] == ds["currentNumberScheduled"] == ds["updatedNumberScheduled"] == 2
    assert ds["numberAvailable"] == 2 and ds["observedGeneration"] == 1
    assert {p["spec"]["nodeName"] for p in pods_of(emu, "default", "app=agent")} == {
        "emulator-node-0", "emulator-node-1"}

    emu.wait_for(lambda: emu.get("batch/v1", "Job", "once", "default")["status"].get("succeeded") == 1, 5)
    jst = emu.get("batch/v1", "Job", "once", "default")["status"]
    assert {c["type"]: c["status"] for c in jst["conditions"]} == {"SuccessCriteriaMet": "True", "Complete": "True"}
    assert jst["completionTime"] and "active" not in jst
    assert pods_of(emu, "default", "job-name=once")[0]["status"]["phase"] == "Succeeded"

    # a template change re-runs the StatefulSet rollout behind the delay
    apps.patch_namespaced_stateful_set("db", "default", {"spec": {"template": {"spec": {"containers": [
        {"name": "db", "image": "postgres:18"}]}}}})
    st = emu.get("apps/v1", "StatefulSet", "db", "default")
    assert st["metadata"]["generation"] == 2
    emu.wait_for(lambda: emu.get("apps/v1", "StatefulSet", "db", "default")["status"]["observedGeneration"] == 2)
    assert not sts_ready()
    emu.wait_for(sts_ready, 5)
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_stateful_set("db", "default", {"spec": {"serviceName": "other"}})
    assert err.value.status == 422 and "Forbidden" in err.value.body


def test_pod_and_job_faults(emulator_factory):
    emu = emulator_factory(tick=0.05)
    emu.inject_fault("image_pull", kind="Deployment", name="pull")
    emu.inject_fault("crash_loop", selector="app=crash", exit_code=2)
    emu.inject_fault("unschedulable", namespace="default", name="pending")
    emu.inject_fault("create_container_config", selector="app=cfg",
                     message="couldn't find key token in Secret default/creds")
    emu.inject_fault("job_failed", kind="Job", name="bad")
    assert {f["type"] for f in emu.faults()} == {"image_pull", "crash_loop", "unschedulable",
                                                 "create_container_config", "job_failed"}
    api = emu.api_client()
    apps, core, batch = client.AppsV1Api(api), client.CoreV1Api(api), client.BatchV1Api(api)
    for name in ("pull", "crash", "cfg"):
        apps.create_namespaced_deployment("default", deployment(name))
    core.create_namespaced_pod("default", {"metadata": {"name": "pending"}, "spec": {"containers": [
        {"name": "c", "image": "busybox"}]}})
    batch.create_namespaced_job("default", job("bad", backoff=1))

    def pod(sel):
        found = pods_of(emu, "default", sel)
        return found[0] if found else None

    emu.wait_for(lambda: pod("app=pull") and "waiting" in container_state(pod("app=pull"))["state"]
                 and container_state(pod("app=pull"))["state"]["waiting"]["reason"] == "ImagePullBackOff", 5)
    p = pod("app=pull")
    assert p["status"]["phase"] == "Pending"
    warn = warnings_for(emu, "default", p["metadata"]["name"])
    assert ("Failed", "Error: ErrImagePull") in warn and ("BackOff", 'Back-off pulling image "nginx:1.27"') in warn

    emu.wait_for(lambda: pod("app=crash") and container_state(pod("app=crash"))["restartCount"] >= 3, 5)
    cs = container_state(pod("app=crash"))
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff" and not cs["ready"]
    assert cs["lastState"]["terminated"]["exitCode"] == 2 and cs["lastState"]["terminated"]["reason"] == "Error"
    assert any(r == "BackOff" and m.startswith("Back-off restarting failed container main")
               for r, m in warnings_for(emu, "default", pod("app=crash")["metadata"]["name"]))
    dep = emu.get("apps/v1", "Deployment", "crash", "default")["status"]
    assert dep.get("availableReplicas") is None and dep["unavailableReplicas"] == 1

    p = core.read_namespaced_pod("pending", "default")
    sched = next(c for c in p.status.conditions if c.type == "PodScheduled")
    assert (p.status.phase, sched.status, sched.reason) == ("Pending", "False", "Unschedulable")
    assert not p.spec.node_name
    assert any(r == "FailedScheduling" and "0/1 nodes are available" in m
               for r, m in warnings_for(emu, "default", "pending"))

    emu.wait_for(lambda: pod("app=cfg") and "waiting" in container_state(pod("app=cfg"))["state"]
                 and container_state(pod("app=cfg"))["state"]["waiting"]["reason"] == "CreateContainerConfigError", 5)
    assert ("Failed", "Error: couldn't find key token in Secret default/creds") in warnings_for(
        emu, "default", pod("app=cfg")["metadata"]["name"])

    emu.wait_for(lambda: any(c["type"] == "Failed" for c in
                             emu.get("batch/v1", "Job", "bad", "default")["status"].get("conditions", [])), 5)
    jst = emu.get("batch/v1", "Job", "bad", "default")["status"]
    failed = next(c for c in jst["conditions"] if c["type"] == "Failed")
    assert failed["status"] == "True" and failed["reason"] == "BackoffLimitExceeded"
    assert jst["failed"] == 2 and "succeeded" not in jst
    assert ("BackoffLimitExceeded", "Job has reached the specified backoff limit") in warnings_for(
        emu, "default", "bad")

    # clearing the faults lets the workloads recover
    emu.clear_faults()
    emu.wait_for(lambda: emu.get("apps/v1", "Deployment", "pull", "default")["status"].get("availableReplicas") == 1)
    emu.wait_for(lambda: core.read_namespaced_pod("pending", "default").status.phase == "Running")


def test_api_error_and_latency_faults(emulator):
    core = client.CoreV1Api(emulator.api_client())
    emulator.inject_fault("api_error", method="GET", path=r"/namespaces/default/configmaps$", status=500, count=2)
    for unused in range(2):
        with pytest.raises(ApiException) as err:
            core.list_namespaced_config_map("default")
        assert err.value.status == 500 and json.loads(err.value.body)["reason"] == "InternalError"
    assert core.list_namespaced_config_map("default").items == []
    fid = emulator.inject_fault("api_error", method="POST", path="configmaps", status=409, probability=1.0,
                                message="simulated conflict")
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("default", {"metadata": {"name": "x"}})
    assert err.value.status == 409 and json.loads(err.value.body)["message"] == "simulated conflict"
    assert emulator.writes()[-1]["status"] == 409 and not emulator.writes()[-1]["persisted"]
    emulator.clear_faults(fid)
    core.create_namespaced_config_map("default", {"metadata": {"name": "x"}})

    # the same through the HTTP control endpoint, plus latency
    status, body = http(emulator, "POST", "/__emulator/faults",
                        {"type": "slow", "path": "/configmaps/x$", "seconds": 0.4})
    assert status == 200 and body["id"]
    t0 = time.monotonic()
    core.read_namespaced_config_map("x", "default")
    assert time.monotonic() - t0 >= 0.4
    faults = {f["id"]: f for f in http(emulator, "GET", "/__emulator/faults")[1]["items"]}
    assert faults[body["id"]]["hits"] == 1 and faults[body["id"]]["type"] == "slow"
    http(emulator, "DELETE", "/__emulator/faults")
    t0 = time.monotonic()
    core.read_namespaced_config_map("x", "default")
    assert time.monotonic() - t0 < 0.3


def test_write_record_counts_writes_not_reads(emulator):
    core = client.CoreV1Api(emulator.api_client())
    core.list_namespace()
    core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    core.read_namespaced_config_map("a", "default")
    core.patch_namespaced_config_map("a", "default", {"data": {"x": "1"}})
    core.delete_namespaced_config_map("a", "default")
    list(watch.Watch().stream(core.list_namespaced_config_map, "default", timeout_seconds=1))
    writes = emulator.writes()
    assert [(w["method"], w["kind"], w["namespace"], w["name"]) for w in writes] == [
        ("POST", "ConfigMap", "default", "a"), ("PATCH", "ConfigMap", "default", "a"),
        ("DELETE", "ConfigMap", "default", "a")]
    assert all(w["persisted"] and not w["dry_run"] and w["timestamp"] for w in writes)
    assert http(emulator, "GET", "/__emulator/writes")[1]["count"] == 3
    assert http(emulator, "GET", "/__emulator/writes?dryRun=true")[1]["count"] == 0
    http(emulator, "DELETE", "/__emulator/writes")
    assert emulator.writes() == []
    # controller activity is not an API write
    client.AppsV1Api(emulator.api_client()).create_namespaced_deployment("default", deployment("w"))
    emulator.wait_for(lambda: pods_of(emulator, "default", "app=w"))
    assert len(emulator.writes()) == 1


def test_control_endpoints_delays_state_reset(emulator):
    status, body = http(emulator, "POST", "/__emulator/delays", {"seconds": 0.5, "selector": "app=later"})
    assert status == 200 and body["id"]
    assert http(emulator, "GET", "/__emulator/delays")[1]["rules"][0]["selector"] == "app=later"
    client.AppsV1Api(emulator.api_client()).create_namespaced_deployment("default", deployment("later"))
    time.sleep(0.2)
    assert pods_of(emulator, "default", "app=later")[0]["status"]["phase"] == "Pending"
    emulator.wait_for(lambda: pods_of(emulator, "default", "app=later")[0]["status"]["phase"] == "Running", 3)
    state = http(emulator, "GET", "/__emulator/state")[1]
    assert state["objects"]["apps/deployments"] == 1 and state["resourceVersion"] == emulator.resource_version
    rv = emulator.resource_version
    assert http(emulator, "POST", "/__emulator/reset", {})[0] == 200
    assert emulator.get("apps/v1", "Deployment", "later", "default") is None
    assert emulator.get("v1", "Namespace", "default") is not None
    assert emulator.resource_version > rv and emulator.writes() == []
    assert http(emulator, "GET", "/__emulator/delays")[1]["rules"] == []


def test_latency_stays_flat_after_thousands_of_requests(emulator):
    core = client.CoreV1Api(emulator.api_client())
    for i in range(50):
        core.create_namespaced_config_map("default", {"metadata": {"name": f"c{i}"}, "data": {"i": str(i)}})

    def batch(n):
        t0 = time.perf_counter()
        for i in range(n):
            core.read_namespaced_config_map(f"c{i % 50}", "default", _preload_content=False).read()
        return (time.perf_counter() - t0) / n

    first = batch(200)
    batch(1600)
    last = batch(200)
    assert last < max(first * 2.5, 0.004), (first, last)
    assert last < 0.02


def test_strategic_merge_helper_documented_behaviour():
    live = {"spec": {"containers": [{"name": "a", "image": "1", "env": [{"name": "X", "value": "1"}]},
                                    {"name": "b", "image": "1"}],
                     "tolerations": [{"key": "k1"}], "finalizers": ["f1"]}}
    patch = {"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                      "containers": [{"name": "a", "env": [{"name": "Y", "value": "2"}]}],
                      "tolerations": [{"key": "k2"}], "finalizers": ["f2"]}}
    out = strategic_merge(live, patch)
    assert out["spec"]["containers"][0]["env"] == [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]
    assert [c["name"] for c in out["spec"]["containers"]] == ["a", "b"]
    assert out["spec"]["tolerations"] == [{"key": "k2"}]  # no merge key known: list replaced
    assert out["spec"]["finalizers"] == ["f1", "f2"]
    assert strategic_merge(live, {"spec": {"$retainKeys": ["finalizers"], "finalizers": ["f1"]}}) == {
        "spec": {"finalizers": ["f1"]}}
    assert live["spec"]["containers"][0]["env"] == [{"name": "X", "value": "1"}]  # input untouched


def test_module_scoped_emulator_is_reset_between_tests_part1(emulator_module):
    emulator_module.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "leftover"}})
    emulator_module.inject_fault("crash_loop", name="x")
    assert emulator_module.get("v1", "ConfigMap", "leftover", "default") is not None


def test_module_scoped_emulator_is_reset_between_tests_part2(emulator_module):
    assert emulator_module.get("v1", "ConfigMap", "leftover", "default") is None
    assert emulator_module.faults() == [] and emulator_module.writes() == []


def test_service_proxy_answers_by_pod_readiness_and_backends(emulator):
    """The service proxy: 503 without ready pods, 200 once a Ready pod backs the Service,
    canned backends per port, and proxied requests are not writes."""
    emulator.set_ready_delay(0.3)
    emulator.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
                     "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}, {"port": 9000}]}})
    url = emulator.url + "/api/v1/namespaces/default/services/http:web:http/proxy/healthz"

    def status(target):
        try:
            with urllib.request.urlopen(target, timeout=5) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    assert status(url)[0] == 503
    emulator.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-0", "namespace": "default",
                                                                     "labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "web", "image": "registry.example/web:1"}]}})
    emulator.wait_for(lambda: status(url)[0] == 200, timeout=5)
    emulator.set_service_backend("default", "web", 9000, status=418, body="teapot")
    assert status(emulator.url + "/api/v1/namespaces/default/services/web:9000/proxy/x") == (418, "teapot")
    assert status(emulator.url + "/api/v1/namespaces/default/services/web:7777/proxy/")[0] == 503
    assert status(emulator.url + "/api/v1/namespaces/default/services/ghost:80/proxy/")[0] == 404
    assert emulator.writes() == []
