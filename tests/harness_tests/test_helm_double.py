"""Tests of the helm CLI double (tests/harness/helm_double).

Outputs are checked with kubernetes.core 6.2.0's own parsing functions where they can be
imported, so a change in how the double prints is caught the way the modules would see it.
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from tests.harness.helm_double import HELM, HelmDouble, write_catalog

ansible_helm = pytest.importorskip("ansible_collections.kubernetes.core.plugins.modules.helm")
from ansible_collections.kubernetes.core.plugins.module_utils.helm import parse_helm_plugin_list  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
VENV_BIN = pathlib.Path(sys.executable).parent
DEMO_REPO = "https://charts.example.test/demo"
UPSTREAM = pathlib.Path(os.environ.get("MLOPS_UPSTREAM_DIR") or REPO_ROOT.parent / "shared" / "upstream")

WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.demo.example.test"},
    "spec": {
        "group": "demo.example.test",
        "scope": "Namespaced",
        "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
        "versions": [{"name": "v1", "served": True, "storage": True,
                      "schema": {"openAPIV3Schema": {"type": "object",
                                                     "x-kubernetes-preserve-unknown-fields": True}}}],
    },
}


@pytest.fixture
def catalog(tmp_path):
    crd_file = tmp_path / "widgets-crd.yaml"
    crd_file.write_text(yaml.safe_dump(WIDGET_CRD))
    return write_catalog(tmp_path / "catalog.yaml", [
        {"name": "demo-operator", "repo": DEMO_REPO, "refs": ["oci://registry.example.test/charts/demo-operator"],
         "values": {"replicaCount": 1, "image": {"tag": ""}}, "notes": "demo installed",
         "versions": {"1.0.0": {"appVersion": "2.0.0"}, "1.1.0": {"appVersion": "2.1.0"},
                      "1.2.0-rc.1": {"appVersion": "2.2.0-rc.1"}}},
        {"name": "widget-operator", "repo": DEMO_REPO, "version": "0.3.0", "appVersion": "0.3.0",
         "crds": ["widgets-crd.yaml"],
         "objects": [
             {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "{{release}}-sa"}},
             {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "{{ release }}-controller", "labels": {"app": "{{release}}"}},
              "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "{{release}}"}},
                       "template": {"metadata": {"labels": {"app": "{{release}}"}},
                                    "spec": {"serviceAccountName": "{{release}}-sa",
                                             "containers": [{"name": "manager", "image": "demo:{{appVersion}}",
                                                             "args": ["--watch-namespace={{namespace}}"]}]}}}},
             {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
              "metadata": {"name": "{{release}}-{{namespace}}"}, "rules": []},
             {"apiVersion": "demo.example.test/v1", "kind": "Widget", "metadata": {"name": "{{release}}-default"},
              "spec": {"size": 1}},
         ]},
    ])


@pytest.fixture
def double(tmp_path, catalog):
    return HelmDouble(tmp_path / "helm-state", catalog=catalog, kube="off")


def run_ok(double, *args, **env):
    proc = double.run(*args, **env)
    assert proc.returncode == 0, f"helm {' '.join(args)} failed: {proc.stderr}"
    return proc


def run_fail(double, *args, **env):
    proc = double.run(*args, **env)
    assert proc.returncode == 1, f"helm {' '.join(args)} should fail: {proc.stdout}{proc.stderr}"
    assert proc.stderr.startswith("Error: "), proc.stderr
    return proc


def release_status(double, name, namespace, all_status=False):
    """What kubernetes.core.helm's get_release_status reads (list + get values)."""
    args = ["list", "--output=yaml", "--filter", name] + (["--all"] if all_status else [])
    out = run_ok(double, *args, HELM_NAMESPACE=namespace).stdout
    release = ansible_helm.get_release(yaml.safe_load(out), name)
    if release is None:
        return None
    values_out = run_ok(double, "get", "values", "--output=yaml", name, HELM_NAMESPACE=namespace).stdout
    release["values"] = {} if values_out.rstrip("\n") == "null" else yaml.safe_load(values_out)
    return release


# --- direct invocations -----------------------------------------------------------------

def test_script_is_executable_with_python_shebang():
    # `python` (not python3): the only interpreter shebang ansible-test sanity accepts here;
    # tests put the venv's bin first on PATH.
    with open(HELM, encoding="utf-8") as fh:
        assert fh.readline().strip() == "#!/usr/bin/env python"
    assert os.access(HELM, os.X_OK)


def test_state_dir_is_required(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "HELM_DOUBLE_STATE"}
    proc = subprocess.run([sys.executable, HELM, "version"], env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert "HELM_DOUBLE_STATE is not set" in proc.stderr


def test_version_matches_kubernetes_core_regex(double):
    out = run_ok(double, "version").stdout
    assert out.startswith('version.BuildInfo{Version:"v3.19.0", GitCommit:"')
    assert 'GitTreeState:"clean", GoVersion:"go1.24.0"}' in out
    assert __import__("re").match(r'version.BuildInfo{Version:"v(.*?)",', out).group(1) == "3.19.0"
    out = run_ok(double, "version", HELM_DOUBLE_VERSION="3.12.1").stdout
    assert out.startswith('version.BuildInfo{Version:"v3.12.1",')


def test_unknown_commands_and_flags_fail(double):
    assert 'unknown command "frobnicate" for "helm"' in run_fail(double, "frobnicate").stderr
    assert "unknown flag: --deployed-only" in run_fail(double, "list", "--deployed-only").stderr
    assert "unknown shorthand flag: 'z' in -z" in run_fail(double, "list", "-z").stderr
    assert "unknown flag: --create-namespace" in run_fail(double, "uninstall", "--create-namespace", "x").stderr
    assert "not emulated" in run_fail(double, "status", "x").stderr
    assert 'unknown command "diff" for "helm"' in run_fail(double, "diff", "upgrade", "x", "y").stderr
    assert "requires 2 arguments" in run_fail(double, "upgrade", "-i", "onlyname").stderr
    # every call is recorded, failures included
    assert [c["rc"] for c in double.calls()] == [1] * 7


def test_repo_lifecycle_as_helm_repository_reads_it(double):
    proc = run_fail(double, "repo", "list", "--output=yaml")
    assert "no repositories to show" in proc.stderr  # helm_repository: rc 1 + this text = no repos
    assert run_ok(double, "repo", "add", "demo", DEMO_REPO).stdout == '"demo" has been added to your repositories\n'
    assert yaml.safe_load(run_ok(double, "repo", "list", "--output=yaml").stdout) == [{"name": "demo", "url": DEMO_REPO}]
    assert "already exists with the same configuration" in run_ok(double, "repo", "add", "demo", DEMO_REPO).stdout
    assert "already exists" in run_fail(double, "repo", "add", "demo", "https://other.example.test").stderr
    run_ok(double, "repo", "add", "demo", "https://other.example.test", "--force-update")
    assert double.repos() == [{"name": "demo", "url": "https://other.example.test"}]
    assert "Update Complete" in run_ok(double, "repo", "update").stdout
    run_ok(double, "repo", "rm", "demo")
    assert 'no repo named "demo" found' in run_fail(double, "repo", "rm", "demo").stderr
    assert "no repositories found" in run_fail(double, "repo", "update").stderr


def test_show_chart_with_flags_before_the_subcommand(double):
    # kubernetes.core: helm --version=V --repo=URL show chart 'REF'
    out = run_ok(double, "--version=1.0.0", f"--repo={DEMO_REPO}", "show", "chart", "demo-operator").stdout
    info = yaml.safe_load(out)
    assert (info["name"], info["version"], info["appVersion"]) == ("demo-operator", "1.0.0", "2.0.0")
    # without a version: the newest stable version (the rc is skipped)
    run_ok(double, "repo", "add", "demo", DEMO_REPO)
    assert yaml.safe_load(run_ok(double, "show", "chart", "demo/demo-operator").stdout)["version"] == "1.1.0"
    assert yaml.safe_load(run_ok(double, "show", "chart", "demo/demo-operator", "--version", "~1.0").stdout)[
        "version"] == "1.0.0"
    oci = "oci://registry.example.test/charts/demo-operator"
    assert yaml.safe_load(run_ok(double, "--version=1.1.0", "show", "chart", oci).stdout)["appVersion"] == "2.1.0"
    assert "replicaCount: 1" in run_ok(double, "show", "values", "demo/demo-operator").stdout


def test_missing_chart_versions_fail_like_helm(double):
    proc = run_fail(double, "--version=9.9.9", f"--repo={DEMO_REPO}", "show", "chart", "demo-operator")
    assert proc.stderr == f'Error: chart "demo-operator" version "9.9.9" not found in {DEMO_REPO} repository\n'
    assert "not found in" in run_fail(double, f"--repo={DEMO_REPO}", "show", "chart", "nope").stderr
    assert run_fail(double, "show", "chart", "demo/demo-operator").stderr == "Error: repo demo not found\n"
    run_ok(double, "repo", "add", "demo", DEMO_REPO)
    assert "no chart version found for demo-operator-9.9.9" in run_fail(
        double, "--version=9.9.9", "show", "chart", "demo/demo-operator").stderr
    proc = run_fail(double, "--version=9.9.9", "upgrade", "-i", "demo", "demo/demo-operator")
    assert "no chart version found for demo-operator-9.9.9" in proc.stderr
    assert double.releases() == []


@pytest.mark.upstream
def test_catalogue_derived_from_upstream_uses_directory_versions(tmp_path):
    if not (UPSTREAM / "cloudnative-pg").is_dir():
        pytest.skip(f"upstream chart data not found at {UPSTREAM} (set MLOPS_UPSTREAM_DIR)")
    double = HelmDouble(tmp_path / "state", upstream_dir=str(UPSTREAM), kube="off")
    run_ok(double, "repo", "add", "cnpg", "https://cloudnative-pg.github.io/charts")
    info = yaml.safe_load(run_ok(double, "--version=0.29.0", "show", "chart", "cnpg/cloudnative-pg").stdout)
    assert (info["name"], info["version"], info["appVersion"]) == ("cloudnative-pg", "0.29.0", "1.30.0")
    # placeholder Chart.yaml versions are replaced by the packaged release version
    strimzi = yaml.safe_load(run_ok(double, "--version=1.2.0", "--repo=https://strimzi.io/charts/", "show", "chart",
                                    "strimzi-kafka-operator").stdout)
    assert (strimzi["version"], strimzi["appVersion"]) == ("1.2.0", "1.2.0")
    base = yaml.safe_load(run_ok(double, "--version=1.30.3", "--repo=https://istio-release.storage.googleapis.com/"
                                 "charts", "show", "chart", "base").stdout)
    assert (base["version"], base["appVersion"]) == ("1.30.3", "1.30.3")
    nfs = yaml.safe_load(run_ok(double, "--version=4.13.4", "--repo=https://example.test", "show", "chart",
                                "csi-driver-nfs").stdout)
    assert nfs["version"] == "4.13.4"
    # two charts named mlflow (community 1.11.5, official 0.2.0): the version decides
    official = yaml.safe_load(run_ok(double, "--version=0.2.0", "show", "chart",
                                     "oci://ghcr.io/mlflow/charts/mlflow").stdout)
    assert official["appVersion"] == "3.13.0"


def test_values_merge_order(double, tmp_path):
    a = tmp_path / "a.yaml"
    b = tmp_path / "b.yaml"
    a.write_text("x: 0\nnested: {keep: a, over: a}\nlist: [1, 2]\n")
    b.write_text("nested: {over: b, added: b}\nlist: [3]\n")
    run_ok(double, "repo", "add", "demo", DEMO_REPO)
    # --set given before -f on the command line still applies after all files (helm's order)
    run_ok(double, "upgrade", "-i", "--set", "x=1,flag=true,zero=0,octal=010,s=null", "-f", str(a),
           f"--values={b}", "--set-string", "num=5", "--set-json", 'obj={"k": [1, {"v": 2}]}',
           "--set", "arr[1]=second", "--set", r"dotted\.key=v", "rel", "demo/demo-operator",
           HELM_NAMESPACE="apps")
    call = double.deploys("rel")[-1]
    assert call["values"] == {
        "x": 1, "flag": True, "zero": 0, "octal": "010", "s": None,
        "nested": {"keep": "a", "over": "b", "added": "b"}, "list": [3],
        "num": "5", "obj": {"k": [1, {"v": 2}]}, "arr": [None, "second"], "dotted.key": "v"}
    assert [layer["source"] for layer in call["values_layers"]] == [
        f"values:{a}", f"values:{b}", "set-json", "set", "set", "set", "set-string"]
    assert double.release("rel", "apps")["values"] == call["values"]


def test_install_is_idempotent_by_kubernetes_core_default_check(double, tmp_path):
    run_ok(double, "repo", "add", "demo", DEMO_REPO)
    values = {"replicaCount": 2, "image": {"tag": "v2"}, "ratio": "1.0"}
    vf = tmp_path / "values.yml"
    vf.write_text(yaml.dump(values, default_flow_style=False))  # what kubernetes.core writes
    assert release_status(double, "demo", "apps") is None
    out = run_ok(double, "--version=1.0.0", "upgrade", "-i", "--reset-values", "--create-namespace",
                 f"-f={vf}", "--timeout", "5m0s", "demo", "demo/demo-operator", HELM_NAMESPACE="apps").stdout
    assert out.startswith('Release "demo" does not exist. Installing it now.\nNAME: demo\n')
    assert "STATUS: deployed\nREVISION: 1\n" in out and "NOTES:\ndemo installed" in out
    call = double.deploys("demo")[-1]
    assert call["version"] == "1.0.0" and call["chart_version"] == "1.0.0" and call["repo_url"] == DEMO_REPO
    assert (call["namespace"], call["create_namespace"], call["timeout"], call["wait"]) == ("apps", True, "5m0s", False)
    assert call["env"]["HELM_NAMESPACE"] == "apps"

    status = release_status(double, "demo", "apps")
    assert status["chart"] == "demo-operator-1.0.0" and status["app_version"] == "2.0.0"
    assert status["status"] == "deployed" and status["revision"] == "1"
    chart_info = yaml.safe_load(run_ok(double, "--version=1.0.0", "show", "chart", "demo/demo-operator").stdout)
    assert ansible_helm.default_check(status, chart_info, values) is False
    assert ansible_helm.default_check(status, chart_info, {**values, "replicaCount": 3}) is True
    newer = yaml.safe_load(run_ok(double, "--version=1.1.0", "show", "chart", "demo/demo-operator").stdout)
    assert ansible_helm.default_check(status, newer, values) is True
    # another namespace sees nothing; get values of an unknown release fails like helm
    assert release_status(double, "demo", "other") is None
    assert run_fail(double, "get", "values", "--output=yaml", "demo").stderr == "Error: release: not found\n"

    run_ok(double, "--version=1.1.0", "upgrade", "-i", "--reset-values", "demo", "demo/demo-operator",
           HELM_NAMESPACE="apps")
    status = release_status(double, "demo", "apps", all_status=True)
    assert (status["revision"], status["chart"], status["values"]) == ("2", "demo-operator-1.1.0", {})
    assert run_ok(double, "get", "values", "--output=yaml", "demo", HELM_NAMESPACE="apps").stdout == "null\n"
    computed = yaml.safe_load(run_ok(double, "get", "values", "--output=yaml", "demo", "-a",
                                     HELM_NAMESPACE="apps").stdout)
    assert computed == {"replicaCount": 1, "image": {"tag": ""}}
    assert "cannot re-use a name" in run_fail(double, "install", "demo", "demo/demo-operator",
                                              HELM_NAMESPACE="apps").stderr


def test_list_filters_and_uninstall(double):
    run_ok(double, "repo", "add", "demo", DEMO_REPO)
    for name in ("alpha", "beta"):
        run_ok(double, "upgrade", "-i", name, "demo/demo-operator", HELM_NAMESPACE="ns1")
    assert [r["name"] for r in yaml.safe_load(run_ok(double, "list", "-o", "yaml", HELM_NAMESPACE="ns1").stdout)] \
        == ["alpha", "beta"]
    assert yaml.safe_load(run_ok(double, "list", "--output=yaml", "--filter", "^alp", "-n", "ns1").stdout)[0][
        "name"] == "alpha"
    assert run_ok(double, "list", "--output=yaml").stdout == "[]\n"
    # kubernetes.core absent: `helm uninstall  --keep-history NAME` when purge is false
    run_ok(double, "uninstall", "--keep-history", "alpha", HELM_NAMESPACE="ns1")
    assert run_ok(double, "list", "--output=yaml", "--filter", "alpha", HELM_NAMESPACE="ns1").stdout == "[]\n"
    kept = release_status(double, "alpha", "ns1", all_status=True)
    assert kept["status"] == "uninstalled"
    assert yaml.safe_load(run_ok(double, "list", "--output=yaml", "--uninstalled", "--filter", "alpha",
                                 HELM_NAMESPACE="ns1").stdout)[0]["status"] == "uninstalled"
    assert run_ok(double, "uninstall", "--wait", "--timeout", "1m", "beta",
                  HELM_NAMESPACE="ns1").stdout == 'release "beta" uninstalled\n'
    assert double.release("beta") is None
    assert "release: not found" in run_fail(double, "uninstall", "beta", HELM_NAMESPACE="ns1").stderr
    call = double.uninstalls("beta")[0]
    assert (call["wait"], call["timeout"], call["namespace"]) == (True, "1m", "ns1")


def test_injected_install_failure(double):
    run_ok(double, "repo", "add", "demo", DEMO_REPO)
    proc = run_fail(double, "upgrade", "-i", "broken", "demo/demo-operator", HELM_DOUBLE_FAIL="install:broken",
                    HELM_NAMESPACE="apps")
    assert proc.stderr.startswith("Error: release broken failed: injected failure")
    assert double.release("broken")["status"] == "failed"
    proc = run_fail(double, "upgrade", "-i", "--atomic", "gone", "demo/demo-operator",
                    HELM_DOUBLE_FAIL="install:*", HELM_NAMESPACE="apps")
    assert "has been uninstalled due to atomic being set" in proc.stderr
    assert double.release("gone") is None
    run_ok(double, "upgrade", "-i", "fine", "demo/demo-operator", HELM_DOUBLE_FAIL="install:broken",
           HELM_NAMESPACE="apps")
    assert [c["injected_failure"] for c in double.deploys(ok_only=False) if "injected_failure" in c] == [
        "install:broken", "install:*"]


def test_plugin_list_and_misc_outputs_parse(double, tmp_path):
    out = run_ok(double, "plugin", "list").stdout
    assert out == "NAME\tVERSION\tDESCRIPTION\n"
    assert parse_helm_plugin_list(out.splitlines()) == []
    chart = tmp_path / "mychart"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: mychart\nversion: 0.1.0\n")
    assert "Saving 0 charts" in run_ok(double, "dependency", "update", str(chart)).stdout
    assert run_fail(double, "dependency", "update", "demo/demo-operator").returncode == 1
    info = yaml.safe_load(run_ok(double, "show", "chart", str(chart)).stdout)
    assert (info["name"], info["version"], info.get("appVersion")) == ("mychart", "0.1.0", None)
    run_ok(double, "upgrade", "-i", "local", str(chart), HELM_NAMESPACE="apps")
    listed = release_status(double, "local", "apps")
    assert listed["app_version"] == ""  # kubernetes.core treats "" as "no appVersion"
    assert ansible_helm.default_check(listed, info, {}) is False


# --- objects in a Kubernetes API ----------------------------------------------------------

class _StubApi(BaseHTTPRequestHandler):
    """Just enough of an API server: create (409 on conflict), get, replace, delete."""

    store: dict
    log: list

    def log_message(self, *args):  # quiet
        pass

    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def do_GET(self):  # noqa: N802
        self.log.append(("GET", self.path, None))
        if self.path == "/version":
            return self._send(200, {"major": "1", "minor": "34", "gitVersion": "v1.34.0"})
        if self.path in self.store:
            return self._send(200, self.store[self.path])
        return self._send(404, {"kind": "Status", "code": 404, "reason": "NotFound"})

    def do_POST(self):  # noqa: N802
        body = self._body()
        self.log.append(("POST", self.path, body))
        item = f"{self.path}/{body['metadata']['name']}"
        if item in self.store:
            return self._send(409, {"kind": "Status", "code": 409, "reason": "AlreadyExists"})
        body["metadata"]["resourceVersion"] = "1"
        self.store[item] = body
        return self._send(201, body)

    def do_PUT(self):  # noqa: N802
        body = self._body()
        self.log.append(("PUT", self.path, body))
        if self.path not in self.store:
            return self._send(404, {"kind": "Status", "code": 404, "reason": "NotFound"})
        self.store[self.path] = body
        return self._send(200, body)

    def do_DELETE(self):  # noqa: N802
        self.log.append(("DELETE", self.path, None))
        if self.store.pop(self.path, None) is None:
            return self._send(404, {"kind": "Status", "code": 404, "reason": "NotFound"})
        return self._send(200, {"kind": "Status", "status": "Success"})


@pytest.fixture
def stub_api(tmp_path):
    handler = type("Handler", (_StubApi,), {"store": {}, "log": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = tmp_path / "kubeconfig"
    url = f"http://127.0.0.1:{server.server_address[1]}"
    kubeconfig.write_text(_kubeconfig(url))
    yield handler, str(kubeconfig), url
    server.shutdown()
    server.server_close()


def _kubeconfig(url):
    return textwrap.dedent(f"""\
        apiVersion: v1
        kind: Config
        clusters: [{{name: c, cluster: {{server: "{url}"}}}}]
        users: [{{name: u, user: {{token: dummy}}}}]
        contexts: [{{name: ctx, context: {{cluster: c, user: u}}}}]
        current-context: ctx
        """)


def test_objects_created_replaced_and_deleted_through_the_api(tmp_path, catalog, stub_api):
    pytest.importorskip("kubernetes")
    api, kubeconfig, _url = stub_api
    double = HelmDouble(tmp_path / "state", catalog=catalog)
    run_ok(double, "repo", "add", "demo", DEMO_REPO)
    ns = "widgets"
    run_ok(double, "upgrade", "-i", "--create-namespace", "w", "demo/widget-operator", HELM_NAMESPACE=ns,
           KUBECONFIG=kubeconfig)
    posts = [(path, body["metadata"]["name"]) for method, path, body in api.log if method == "POST"]
    assert posts == [
        ("/api/v1/namespaces", ns),
        ("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", "widgets.demo.example.test"),
        (f"/api/v1/namespaces/{ns}/serviceaccounts", "w-sa"),
        (f"/apis/apps/v1/namespaces/{ns}/deployments", "w-controller"),
        ("/apis/rbac.authorization.k8s.io/v1/clusterroles", f"w-{ns}"),
        (f"/apis/demo.example.test/v1/namespaces/{ns}/widgets", "w-default"),
    ]
    deploy = api.store[f"/apis/apps/v1/namespaces/{ns}/deployments/w-controller"]
    assert deploy["metadata"]["labels"] == {"app": "w", "app.kubernetes.io/managed-by": "Helm"}
    assert deploy["metadata"]["annotations"] == {"meta.helm.sh/release-name": "w",
                                                 "meta.helm.sh/release-namespace": ns}
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "demo:0.3.0"
    assert deploy["spec"]["template"]["spec"]["containers"][0]["args"] == [f"--watch-namespace={ns}"]
    crd = api.store["/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.demo.example.test"]
    assert "annotations" not in crd["metadata"]  # crds/ are installed as-is, like helm does
    record = double.deploys("w")[-1]["kube"]
    assert record["namespace_created"] is True and record["crds_created"] == ["widgets.demo.example.test"]

    # upgrade: objects replaced, crds/ left alone
    api.log.clear()
    run_ok(double, "upgrade", "-i", "--set", "a=1", "w", "demo/widget-operator", HELM_NAMESPACE=ns,
           KUBECONFIG=kubeconfig)
    assert not any("customresourcedefinitions" in path for _m, path, _b in api.log)
    assert sorted(path for m, path, _b in api.log if m == "PUT") == sorted([
        f"/api/v1/namespaces/{ns}/serviceaccounts/w-sa",
        f"/apis/apps/v1/namespaces/{ns}/deployments/w-controller",
        f"/apis/rbac.authorization.k8s.io/v1/clusterroles/w-{ns}",
        f"/apis/demo.example.test/v1/namespaces/{ns}/widgets/w-default"])
    manifest = list(yaml.safe_load_all(run_ok(double, "get", "manifest", "w", HELM_NAMESPACE=ns).stdout))
    assert [m["kind"] for m in manifest] == ["ServiceAccount", "Deployment", "ClusterRole", "Widget"]

    # uninstall deletes the objects, not the CRD
    api.log.clear()
    run_ok(double, "uninstall", "w", HELM_NAMESPACE=ns, KUBECONFIG=kubeconfig)
    assert [path for m, path, _b in api.log if m == "DELETE"] == [
        f"/apis/demo.example.test/v1/namespaces/{ns}/widgets/w-default",
        f"/apis/rbac.authorization.k8s.io/v1/clusterroles/w-{ns}",
        f"/apis/apps/v1/namespaces/{ns}/deployments/w-controller",
        f"/api/v1/namespaces/{ns}/serviceaccounts/w-sa"]
    assert sorted(api.store) == ["/api/v1/namespaces/widgets",
                                 "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.demo.example.test"]


def test_unreachable_api_fails_like_helm(tmp_path, catalog):
    pytest.importorskip("kubernetes")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(_kubeconfig(f"http://127.0.0.1:{port}"))
    double = HelmDouble(tmp_path / "state", catalog=catalog)
    run_ok(double, "repo", "add", "demo", DEMO_REPO)
    proc = run_fail(double, "upgrade", "-i", "w", "demo/widget-operator", KUBECONFIG=str(kubeconfig))
    assert proc.stderr.startswith("Error: Kubernetes cluster unreachable")
    assert double.release("w") is None
    # with no API configured at all, a chart with objects cannot be installed either
    proc = run_fail(double, "upgrade", "-i", "w", "demo/widget-operator", KUBECONFIG=str(tmp_path / "missing"),
                    HOME=str(tmp_path))
    assert "Kubernetes cluster unreachable" in proc.stderr


@pytest.mark.emulator
def test_objects_against_the_emulator(tmp_path, catalog):
    pytest.importorskip("kubernetes")
    if not (REPO_ROOT / "tests" / "harness" / "emulator.py").is_file():
        pytest.skip("tests/harness/emulator.py is not available: object creation is covered against the stub "
                    "API server by test_objects_created_replaced_and_deleted_through_the_api")
    emulator_mod = pytest.importorskip("tests.harness.emulator")
    from kubernetes import client, config

    with emulator_mod.Emulator(kubeconfig_path=tmp_path / "kubeconfig") as emu:
        kubeconfig = emu.kubeconfig_path
        double = HelmDouble(tmp_path / "state", catalog=catalog)
        run_ok(double, "repo", "add", "demo", DEMO_REPO)
        run_ok(double, "upgrade", "-i", "--create-namespace", "w", "demo/widget-operator",
               HELM_NAMESPACE="widgets", KUBECONFIG=kubeconfig)
        api = config.new_client_from_config(kubeconfig)
        dep = client.AppsV1Api(api).read_namespaced_deployment("w-controller", "widgets")
        assert dep.metadata.annotations["meta.helm.sh/release-name"] == "w"
        client.ApiextensionsV1Api(api).read_custom_resource_definition("widgets.demo.example.test")
        widget = client.CustomObjectsApi(api).get_namespaced_custom_object(
            "demo.example.test", "v1", "widgets", "widgets", "w-default")
        assert widget["spec"] == {"size": 1}
        run_ok(double, "uninstall", "w", HELM_NAMESPACE="widgets", KUBECONFIG=kubeconfig)
        with pytest.raises(client.ApiException):
            client.AppsV1Api(api).read_namespaced_deployment("w-controller", "widgets")


# --- through Ansible (kubernetes.core 6.2.0 modules) --------------------------------------

def run_playbook(double, tmp_path, tasks, extra_env=None):
    play = [{"name": "helm double", "hosts": "localhost", "connection": "local", "gather_facts": False,
             "tasks": tasks}]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text("[defaults]\n")
    env = double.env(
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
        ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_PIPELINING="1",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_CONFIG=str(cfg), **(extra_env or {}))
    env.pop("K8S_AUTH_KUBECONFIG", None)
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-e", f"ansible_python_interpreter={sys.executable}",
         str(path)], env=env, capture_output=True, text=True, timeout=180, check=False, cwd=tmp_path)
    try:
        data = json.loads(proc.stdout[proc.stdout.index("{"):])
    except ValueError:
        pytest.fail(f"ansible-playbook output is not JSON (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    results = {t["task"]["name"]: t["hosts"]["localhost"] for p in data["plays"] for t in p["tasks"]}
    failed = {name: r.get("msg") for name, r in results.items() if r.get("failed")}
    assert proc.returncode == 0 and not failed, f"playbook failed: {failed}\n{proc.stderr}"
    return results


def _release(state="present", **extra):
    task = {"name": "demo", "chart_ref": "demo/demo-operator", "chart_version": "1.0.0", "release_namespace": "apps",
            "create_namespace": True, "wait": False, "state": state,
            "values": {"replicaCount": 2, "image": {"tag": "v2"}, "labels": {"team": "ml"}}}
    task.update(extra)
    return task


REPO_TASK = {"name": "repo", "kubernetes.core.helm_repository": {"name": "demo", "repo_url": DEMO_REPO}}


@pytest.mark.slow
def test_kubernetes_core_helm_modules_against_the_double(tmp_path, catalog, stub_api):
    pytest.importorskip("kubernetes")
    api, kubeconfig, _url = stub_api
    double = HelmDouble(tmp_path / "helm-state", catalog=catalog)
    first = run_playbook(double, tmp_path, [
        REPO_TASK,
        {"name": "release", "kubernetes.core.helm": _release()},
        {"name": "info", "kubernetes.core.helm_info": {"name": "demo", "release_namespace": "apps"}},
        # a chart with objects: the kubeconfig option reaches the double as a temporary KUBECONFIG
        {"name": "objects", "kubernetes.core.helm": {
            "name": "w", "chart_ref": "demo/widget-operator", "chart_version": "0.3.0", "release_namespace": "wns",
            "create_namespace": True, "kubeconfig": kubeconfig, "skip_crds": True}},
    ], extra_env={"KUBECONFIG": str(tmp_path / "absent")})
    assert first["repo"]["changed"] is True and first["release"]["changed"] is True
    assert first["release"]["status"]["chart"] == "demo-operator-1.0.0"
    assert first["info"]["status"]["values"] == {"replicaCount": 2, "image": {"tag": "v2"}, "labels": {"team": "ml"}}
    assert first["info"]["status"]["status"] == "deployed"
    deploy = double.deploys("demo")
    assert len(deploy) == 1
    assert deploy[0]["argv"][:3] == ["--version=1.0.0", "upgrade", "-i"]
    assert (deploy[0]["chart_version"], deploy[0]["chart_ref"], deploy[0]["namespace"]) == (
        "1.0.0", "demo/demo-operator", "apps")
    assert deploy[0]["values"] == {"replicaCount": 2, "image": {"tag": "v2"}, "labels": {"team": "ml"}}
    assert deploy[0]["create_namespace"] is True and deploy[0]["wait"] is False
    assert deploy[0]["reset_values"] is True
    assert deploy[0]["env"]["HELM_NAMESPACE"] == "apps"
    # 6.2.0 does not ask for the helm version and lists without --deployed
    assert "version" not in double.commands()
    assert ["list", "--output=yaml", "--filter", "demo"] == double.calls("list")[0]["argv"]
    assert [c["command"] for c in double.calls() if c.get("release") == "demo"][-4:] == [
        "get values", "get manifest", "get notes", "get hooks"]
    objects = double.deploys("w")[-1]
    assert objects["env"]["KUBECONFIG"] != str(tmp_path / "absent") and objects["env"]["kubeconfig_exists"]
    assert objects["skip_crds"] is True and objects["kube"]["crds_skipped"] == "--skip-crds"
    assert "/apis/apps/v1/namespaces/wns/deployments/w-controller" in api.store
    assert not any("customresourcedefinitions" in path for path in api.store)

    double.clear_calls()
    second = run_playbook(double, tmp_path, [
        REPO_TASK,
        {"name": "release", "kubernetes.core.helm": _release()},
        {"name": "upgrade", "kubernetes.core.helm": _release(chart_version="1.1.0")},
    ])
    assert second["repo"]["changed"] is False and second["release"]["changed"] is False
    assert "plugin list" in double.commands()  # the module looks for helm-diff first
    assert second["upgrade"]["changed"] is True
    assert [c["chart_version"] for c in double.deploys("demo")] == ["1.1.0"]
    assert double.release("demo", "apps")["revision"] == 2

    gone = run_playbook(double, tmp_path, [
        {"name": "absent", "kubernetes.core.helm": _release(state="absent")},
        {"name": "absent again", "kubernetes.core.helm": _release(state="absent")},
    ])
    assert gone["absent"]["changed"] is True and gone["absent again"]["changed"] is False
    assert [c["rc"] for c in double.uninstalls("demo")] == [0]
    assert double.calls("list")[-1]["argv"] == ["list", "--output=yaml", "--filter", "demo", "--all"]
    assert double.release("demo") is None
