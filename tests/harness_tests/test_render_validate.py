"""Tests for the offline rendering and validation harness (tests/harness)."""

from __future__ import annotations

import copy
import importlib
import os
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.harness import render, upstream, validate  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "render"
INVENTORY = FIXTURES / "inventory"
ROLE = FIXTURES / "roles" / "demo"
FIXTURE_UPSTREAM = FIXTURES / "upstream"

CNPG = ("cloudnative-pg", "0.29.0")
KPS = ("kube-prometheus-stack", "88.5.3")


@pytest.fixture(scope="module")
def demo():
    return render.Renderer(INVENTORY, ROLE)


def _deployment(**spec_overrides):
    doc = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "demo", "labels": {"app.kubernetes.io/name": "web"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "web"}},
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                                         "ports": [{"containerPort": 8080, "name": "http"}]}]},
            },
        },
    }
    doc["spec"].update(spec_overrides)
    return doc


def _cluster(**spec):
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": "pg", "namespace": "db"},
        "spec": spec or {"instances": 1, "storage": {"size": "1Gi"}},
    }


# --------------------------------------------------------------------------
# upstream data access
# --------------------------------------------------------------------------

def test_require_upstream_skips_when_missing(monkeypatch, tmp_path):
    monkeypatch.setenv(upstream.ENV_VAR, str(tmp_path / "does-not-exist"))
    assert upstream.upstream_dir() is None
    with pytest.raises(pytest.skip.Exception, match="MLOPS_UPSTREAM_DIR not set"):
        upstream.require_upstream()


@pytest.mark.upstream
def test_upstream_loader_accepts_value_tag_without_touching_safe_loader():
    root = upstream.require_upstream()
    # the SafeLoader subclass (pure Python) and the libyaml variant both accept "- ="
    assert yaml.load("enum: [=, '!=']\nlist:\n  - =\n", Loader=upstream.UpstreamLoader) == {  # noqa: S506
        "enum": ["=", "!="], "list": ["="]}
    path = upstream.chart_dir(*KPS, root=root) / "crds" / "crd-alertmanagerconfigs.yaml"
    docs = upstream.load_yaml_all(path)
    assert docs and docs[0]["kind"] == "CustomResourceDefinition"
    assert "'='" in str(docs[0]["spec"]["versions"][0]["schema"])
    # the constructor is registered on the subclasses only
    assert "tag:yaml.org,2002:value" not in yaml.SafeLoader.yaml_constructors
    with pytest.raises(yaml.constructor.ConstructorError):
        yaml.safe_load("- =")
    assert upstream.chart_schema(*CNPG) is not None
    assert upstream.chart_schema(*KPS) is None
    assert upstream.chart_values(*CNPG)["replicaCount"] == 1
    assert len(upstream.crd_files(*CNPG)) == 11
    with pytest.raises(FileNotFoundError, match="known versions"):
        upstream.chart_dir("cloudnative-pg", "0.0.0")


# --------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------

def test_default_host_is_first_controller(demo):
    assert demo.host == "controller-1"
    assert demo.render_var("demo_controller_only") is True


def test_render_var_precedence(demo):
    assert demo.render_var("demo_only_default") == "kept"            # role defaults
    assert demo.render_var("demo_name") == "web-inventory"           # inventory > defaults
    assert demo.render_var("demo_replicas") == 2
    assert demo.render_var("demo_image_tag") == "1.27-role-vars"     # role vars > inventory
    assert demo.render_var("demo_image") == "nginx:1.27-role-vars"   # role vars template other vars

    over = render.Renderer(INVENTORY, ROLE, extra_vars={"demo_image_tag": "extra", "demo_name": "x"})
    assert over.render_var("demo_image_tag") == "extra"              # extra vars > role vars
    assert over.render_var("demo_image") == "nginx:extra"
    assert over.render_var("demo_name") == "x"


def test_render_var_other_host_and_missing_var():
    r = render.Renderer(INVENTORY, ROLE, host="localhost")
    assert r.render_var("demo_name") == "web-inventory"
    with pytest.raises(KeyError, match="demo_controller_only"):
        r.render_var("demo_controller_only")


def test_render_var_structured_native_types(demo):
    values = demo.render_var("_demo_values")
    assert values == {
        "fullnameOverride": "web-inventory",
        "replicaCount": 2,
        "image": {"repository": "nginx", "tag": "1.27-role-vars"},
        "podLabels": {"app.kubernetes.io/name": "web-inventory", "team": "ml"},
    }
    # Exact plain types, not Ansible's tagged subclasses.
    assert type(values) is dict and type(values["fullnameOverride"]) is str  # pylint: disable=unidiomatic-typecheck
    assert type(values["replicaCount"]) is int  # pylint: disable=unidiomatic-typecheck
    # plain types dump without python tags
    assert "!!python" not in yaml.safe_dump(values)


def test_extra_vars_are_data_unless_trusted():
    raw = render.Renderer(INVENTORY, ROLE, extra_vars={"demo_name": "{{ 1 + 1 }}"})
    assert raw.render_var("demo_name") == "{{ 1 + 1 }}"
    trusted = render.Renderer(INVENTORY, ROLE, extra_vars={"demo_name": "{{ 1 + 1 }}"}, trust_extra_vars=True)
    assert trusted.render_var("demo_name") == 2


def test_render_template_multi_document(demo):
    docs = demo.render_template("multi.yaml.j2")
    assert [d["kind"] for d in docs] == ["ConfigMap", "Service", "Service"]
    assert [d["metadata"]["name"] for d in docs[1:]] == ["web-inventory-0", "web-inventory-1"]
    assert yaml.safe_load(docs[0]["data"]["values.yaml"]) == demo.render_var("_demo_values")
    assert validate.validate_manifests(docs) == []


def test_render_template_filters_and_lookups():
    r = render.Renderer(INVENTORY, ROLE, extra_vars={"demo_secret_value": "s3cr3t"})
    (dep,) = r.render_template("deployment.yaml.j2")
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:1.27-role-vars"                        # lookup('vars')
    assert container["env"] == [{"name": "SECRET_B64", "value": "czNjcjN0"}]  # b64encode
    assert dep["metadata"]["labels"] == {"app.kubernetes.io/name": "web-inventory", "team": "ml"}

    assert r.render_expression("{'a': 1} | combine({'b': 2})") == {"a": 1, "b": 2}
    assert r.render_expression("{'a': [1]} | to_nice_yaml") == "a:\n- 1\n"
    assert r.render_expression("'v' | community.general.dict_kv('k')") == {"k": "v"}
    name = r.render_expression(
        "{'kind': 'ConfigMap', 'metadata': {'name': 'cfg'}, 'data': {'a': 'b'}}"
        " | kubernetes.core.k8s_config_resource_name")
    assert name.startswith("cfg-")
    with pytest.raises(Exception, match="undefined_thing"):
        r.render_expression("undefined_thing")


def test_collection_is_importable_as_mlops_stack():
    prefix = render.ensure_collection_loader()
    assert prefix == render.ensure_collection_loader()  # idempotent
    module = importlib.import_module("ansible_collections.mlops.stack")
    assert Path(list(module.__path__)[0]).resolve() == render.REPO_ROOT.resolve()
    assert str(prefix) not in os.environ.get("ANSIBLE_COLLECTIONS_PATH", "")


def test_rendering_is_fast(demo):
    names = demo.templates()
    assert names == ["cluster.yaml.j2", "deployment.yaml.j2", "multi.yaml.j2"]
    start = time.perf_counter()
    for i in range(51):
        demo.render_template(names[i % len(names)])
    elapsed = time.perf_counter() - start
    print(f"\nrendered 51 templates in {elapsed:.2f}s")
    assert elapsed < 5


# --------------------------------------------------------------------------
# built-in kinds
# --------------------------------------------------------------------------

def test_builtin_kubernetes_version():
    assert validate.resolve_k8s_version("1.34") == "1.34"
    assert validate.resolve_k8s_version("v1.34.2") == "1.34"
    assert "1.34" in validate.available_k8s_versions()
    with pytest.raises(ValueError):
        validate.resolve_k8s_version("1.10")


def test_deployment_valid_typo_and_wrong_type(demo):
    (rendered,) = demo.render_template("deployment.yaml.j2")
    assert validate.validate_manifest(rendered) == []
    assert validate.validate_manifest(_deployment()) == []

    typo = _deployment(replica=1)
    errors = validate.validate_manifest(typo)
    assert len(errors) == 1 and errors[0].startswith("$.spec.replica:")
    assert "unknown field 'replica'" in errors[0] and "did you mean 'replicas'" in errors[0]
    # non-strict mode mirrors kubernetes-validate: unknown fields are allowed
    assert validate.validate_builtin(typo, strict=False) == []

    wrong = _deployment(replicas="two")
    wrong["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8080x"
    errors = validate.validate_manifest(wrong)
    assert any(e.startswith("$.spec.replicas:") and "not of type 'integer'" in e for e in errors), errors
    assert any(e.startswith("$.spec.template.spec.containers[0].ports[0].containerPort:") for e in errors)

    labelled = validate.validate_manifests([typo])
    assert labelled == [f"Deployment demo/web: {errors_typo}" for errors_typo in validate.validate_manifest(typo)]


def test_manifest_shape_errors():
    assert validate.validate_manifest(["not", "a", "map"])[0].startswith("$: manifest must be a mapping")
    assert "apiVersion" in validate.validate_manifest({"kind": "Deployment"})[0]


def test_cached_validator_speedup():
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    templates = [
        _deployment(),
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
         "spec": {"selector": {"a": "b"}, "ports": [{"port": 80, "targetPort": "http"}]}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r"},
         "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]},
    ]
    docs = []
    for i in range(200):
        doc = copy.deepcopy(templates[i % len(templates)])
        doc["metadata"]["name"] = f"obj-{i}"
        docs.append(doc)

    version = validate.resolve_k8s_version()
    start = time.perf_counter()
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)
    reference = time.perf_counter() - start

    start = time.perf_counter()
    for doc in docs:  # includes building the validators on first use
        assert validate.validate_manifest(doc, k8s_version=version) == []
    cold = time.perf_counter() - start
    start = time.perf_counter()
    for doc in docs:
        assert validate.validate_manifest(doc, k8s_version=version) == []
    cached = time.perf_counter() - start

    print(f"\n200 manifests: kubernetes_validate.validate {reference:.3f}s, "
          f"cached validators {cached:.3f}s (first pass {cold:.3f}s), "
          f"speedup {reference / cached:.1f}x")
    assert reference / cached >= 5


# --------------------------------------------------------------------------
# custom resources
# --------------------------------------------------------------------------

@pytest.mark.upstream
def test_cnpg_cluster(demo):
    upstream.require_upstream()
    (rendered,) = demo.render_template("cluster.yaml.j2")
    assert validate.validate_manifest(rendered) == []
    assert validate.validate_manifest(_cluster()) == []

    errors = validate.validate_manifest(_cluster(instancez=1, storage={"size": "1Gi"}))
    assert errors == ["$.spec: 'instances' is a required property",
                      "$.spec.instancez: unknown field 'instancez' (did you mean 'instances'?)"]
    errors = validate.validate_manifest(_cluster(instances=1, instancez=1, storage={"size": "1Gi"}))
    assert errors == ["$.spec.instancez: unknown field 'instancez' (did you mean 'instances'?)"]

    errors = validate.validate_manifest(_cluster(instances="one", storage={"size": "1Gi"}))
    assert any(e.startswith("$.spec.instances:") for e in errors), errors

    bad_meta = _cluster()
    bad_meta["metadata"]["nmae"] = "x"
    assert any(e.startswith("$.metadata.nmae: unknown field") for e in validate.validate_manifest(bad_meta))


@pytest.mark.upstream
def test_unknown_crd():
    upstream.require_upstream()
    errors = validate.validate_manifest({"apiVersion": "example.com/v1", "kind": "Widget",
                                         "metadata": {"name": "w"}})
    assert errors == ["$: no CRD for example.com/v1/Widget in upstream data"]
    errors = validate.validate_manifest({"apiVersion": "postgresql.cnpg.io/v2", "kind": "Cluster",
                                         "metadata": {"name": "w"}})
    assert errors[0].startswith("$: no CRD for postgresql.cnpg.io/v2/Cluster in upstream data")


@pytest.mark.upstream
def test_alertmanagerconfig_with_equals_enum():
    upstream.require_upstream()
    doc = {
        "apiVersion": "monitoring.coreos.com/v1alpha1",
        "kind": "AlertmanagerConfig",
        "metadata": {"name": "amc"},
        "spec": {"route": {"receiver": "null", "matchers": [{"name": "severity", "value": "critical",
                                                             "matchType": "="}]},
                 "receivers": [{"name": "null"}]},
    }
    assert validate.validate_manifest(doc) == []
    doc["spec"]["route"]["matchers"][0]["matchType"] = "=="
    assert any("matchType" in e for e in validate.validate_manifest(doc))

    # RE2 pattern with a non-leading inline flag: '^(?i)(abort|warn)?$'
    rule = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": {"name": "r"},
            "spec": {"groups": [{"name": "g", "partial_response_strategy": "Warn",
                                 "rules": [{"alert": "Down", "expr": "up == 0", "for": "5m"}]}]}}
    assert validate.validate_manifest(rule) == []
    rule["spec"]["groups"][0]["partial_response_strategy"] = "maybe"
    assert [e.split(":")[0] for e in validate.validate_manifest(rule)] == [
        "$.spec.groups[0].partial_response_strategy"]


def test_crd_schema_rules_with_fixture_crd():
    index = validate.CrdIndex(FIXTURE_UPSTREAM)

    def check(spec):
        return validate.validate_custom({"apiVersion": "demo.example.com/v1", "kind": "Widget",
                                         "metadata": {"name": "w"}, "spec": spec}, index=index)

    assert check({"size": 1, "port": 8080, "mode": None,
                  "settings": {"free": {"form": True}},
                  "labels": {"a": "b"},
                  "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "x": 1},
                  "selector": {"app": "web"},
                  "anything": {"goes": [1, 2]}}) == []
    assert check({"size": 1, "port": "http"}) == []                      # int-or-string
    assert check({"size": 0})[0].startswith("$.spec.size:")              # exclusiveMinimum: true
    assert check({"size": 1, "port": 1.5})[0].startswith("$.spec.port:")
    assert check({"size": 1, "mode": "medium"})[0].startswith("$.spec.mode:")
    assert check({"size": 1, "labels": {"a": 1}})[0].startswith("$.spec.labels.a:")
    assert check({"size": 1, "selector": {"app": "web", "tier": "x"}}) == [
        "$.spec.selector.tier: unknown field 'tier'"]
    assert check({"size": 1, "selector": {"app": ""}})[0].startswith("$.spec.selector:")  # anyOf branch
    assert check({})[0].startswith("$.spec:") and "'size' is a required property" in check({})[0]
    assert check({"size": 1, "sise": 2}) == ["$.spec.sise: unknown field 'sise' (did you mean 'size'?)"]


# --------------------------------------------------------------------------
# Helm values
# --------------------------------------------------------------------------

@pytest.mark.upstream
def test_values_cloudnative_pg():
    upstream.require_upstream()
    good = {
        "replicaCount": 2,
        "image": {"repository": "ghcr.io/cloudnative-pg/cloudnative-pg", "tag": "1.30.0"},
        "config": {"clusterWide": True, "data": {"INHERITED_LABELS": "team"}},
        "monitoring": {"podMonitorEnabled": True},
        "resources": {"limits": {"cpu": "1", "memory": "512Mi"}},
        "podLabels": {"team": "ml"},
        "tolerations": [{"key": "dedicated", "operator": "Exists"}],
    }
    assert validate.validate_values(*CNPG, good) == []

    errors = validate.validate_values(*CNPG, {"replicaCount": 1, "config": {"clusterwide": False}})
    assert len(errors) == 1
    assert "config.clusterwide: unknown key 'clusterwide'" in errors[0]
    assert "did you mean 'clusterWide'" in errors[0]

    errors = validate.validate_values(*CNPG, {"replicaCount": "two"})
    assert errors == ["cloudnative-pg 0.29.0 values: schema: $.replicaCount: 'two' is not of type 'integer'"]

    errors = validate.validate_values(*CNPG, {"image": {"repository": {"name": "x"}}})
    assert any("image.repository: type mismatch: map given, upstream default is a string" in e for e in errors)


@pytest.mark.upstream
def test_values_kube_prometheus_stack_freeform():
    upstream.require_upstream()
    good = {
        "commonLabels": {"team": "ml"},                                   # upstream {}
        "grafana": {"adminPassword": "x", "grafana.ini": {"server": {"root_url": "/"}}},  # sub-chart
        "kube-state-metrics": {"metricLabelsAllowlist": ["pods=[*]"]},   # sub-chart
        "alertmanager": {"config": {"receivers": [{"name": "slack", "slack_configs": [{"channel": "#a"}]}]}},
        "prometheus": {"prometheusSpec": {
            "retention": "7d",
            "additionalScrapeConfigs": "- job_name: raw\n  static_configs: []\n",   # documented as string
            "storageSpec": {"volumeClaimTemplate": {"spec": {"resources": {"requests": {"storage": "5Gi"}}}}},
            "ruleSelectorNilUsesHelmValues": False,
        }},
        "kubelet": {"serviceMonitor": {"cAdvisorMetricRelabelings": [
            {"action": "drop", "regex": "x", "sourceLabels": ["__name__"], "separator": ";"}]}},
        "defaultRules": {"rules": {"etcd": False}},
        "nodeExporter": {"enabled": False},
    }
    assert validate.validate_values(*KPS, good) == []
    assert validate.validate_values(*KPS, {"prometheus": {"prometheusSpec": {"additionalScrapeConfigs": [
        {"job_name": "x", "static_configs": [{"targets": ["a:1"]}]}]}}}) == []

    errors = validate.validate_values(*KPS, {"prometheus": {"prometheusSpec": {"retentionn": "1d"}}})
    assert len(errors) == 1 and "prometheus.prometheusSpec.retentionn: unknown key" in errors[0]
    errors = validate.validate_values(*KPS, {"prometheus": {"prometheusSpec": {"retention": {"days": 7}}}})
    assert len(errors) == 1 and "prometheus.prometheusSpec.retention: type mismatch" in errors[0]
    errors = validate.validate_values(*KPS, {"kubeApiServer": {"tlsConfig": {"serverNamee": "x"}}})
    assert errors and "kubeApiServer.tlsConfig.serverNamee" in errors[0]
    # the allowlist hook: extra free-form paths per call
    relaxed = {"prometheus": {"prometheusSpec": {"retentionn": "1d"}}}
    assert validate.validate_values(*KPS, relaxed, freeform=["prometheus.prometheusSpec.retentionn"]) == []


def test_values_rules_with_fixture_chart():
    chart = ("demo-chart", "1.0.0")

    def check(values, **kw):
        return validate.validate_values(*chart, values, root=FIXTURE_UPSTREAM, **kw)

    assert check({
        "replicaCount": 3,
        "image": {"tag": "1.0"},
        "podLabels": {"any": "thing"},                  # upstream {}
        "extraEnv": [{"name": "A", "value": "1"}],      # upstream []
        "config": {"whatever": {"deep": 1}},            # upstream null
        "ports": [{"name": "grpc", "containerPort": 9000, "protocol": "TCP"}],  # union of item keys
        "args": ["--quiet"],
        "schemaOnly": "documented in the schema",
        "annotations": {"a": "b"},
        "nested": {"documented": False, "level2": {"key": "v", "x-extra": "ok"}},
    }) == []
    assert check({"replicaCount": None}) == []          # null deletes the key (Helm semantics)

    def one(values):
        errors = check(values)
        assert len(errors) == 1, errors
        return errors[0]

    assert "ports[0].hostPort: unknown key 'hostPort'" in one({"ports": [{"name": "x", "hostPort": 1}]})
    assert "ports[0]: type mismatch: string item given" in one({"ports": ["http"]})
    assert "args[0]: type mismatch: map item given" in one({"args": [{"a": 1}]})
    assert "image: type mismatch: string given, upstream default is a map" in one({"image": "demo:1"})
    assert "nested.level2.y-extra: unknown key" in one({"nested": {"level2": {"y-extra": "no"}}})
    assert "schema: $.schemaOnly: 1 is not of type 'string'" in one({"schemaOnly": 1})
    assert "schema: $.replicaCount: 0 is less than the minimum of 1" in one({"replicaCount": 0})
    assert "schema: $.annotations.a: 1 is not of type 'string'" in one({"annotations": {"a": 1}})
    expected = "demo-chart 1.0.0 values: replicas: unknown key 'replicas' (not in upstream values.yaml or values.schema.json)"
    assert one({"replicas": 2}) == expected
    assert check({"undocumented": {"x": 1}}, freeform=["undocumented"]) == []
