"""Render layer of the istio role: the values of the three releases (base, istiod, gateway) key by
key against the upstream charts' values.yaml and the gateway's values.schema.json, the real chart
archives rendered with them for every inventory (every object valid at the supported floor, the
hub set explicitly instead of the archives' registry.istio.io/release, restricted pods, sizes per
profile, the gateway Service per cluster flavor), and the stack's Gateway and routes validated
against the upstream Istio CRDs."""
import json

import jsonschema
import pytest
import yaml

from tests.harness import helm
from tests.harness.render import REPO_ROOT, Renderer, inventory_group_vars, preflight_facts
from tests.harness.upstream import chart_schema, require_upstream
from tests.harness.validate import validate_manifests, validate_values

VERSIONS = yaml.safe_load((REPO_ROOT / 'roles/common/vars/versions.yml').read_text())['_mlops_versions']
INVENTORIES = ['inventories/kind', 'inventories/production', 'tests/inventories/emulated']
VERSION = '1.30.3'
# (archive chart name, upstream data folder, values variable, release variable, namespace variable)
CHARTS = [('base', 'istio-base', '_istio_base_helm_values', '_istio_base_release', '_istio_namespace'),
          ('istiod', 'istiod', '_istio_istiod_helm_values', '_istio_istiod_release', '_istio_namespace'),
          ('gateway', 'istio-gateway', '_istio_gateway_helm_values', '_istio_gateway_release', '_istio_gateway_namespace')]
UIS = {'minio_summary': {'component': 'minio', 'ui': [{'name': 'minio', 'namespace': 'mlops-minio', 'service': 'minio-console', 'port': 9001}]},
       'mlflow_summary': {'component': 'mlflow', 'ui': [{'name': 'mlflow', 'namespace': 'mlops-mlflow', 'service': 'mlflow', 'port': 5000}]},
       'ray_summary': {'component': 'ray', 'ui': [{'name': 'ray', 'namespace': 'mlops-ray', 'service': 'ray-head-svc', 'port': 8265}]}}
RESTRICTED_CONTAINER = {'allowPrivilegeEscalation': False, 'readOnlyRootFilesystem': True, 'runAsNonRoot': True,
                        'capabilities': {'drop': ['ALL']}}


def facts(inventory, **extra):
    """What preflight publishes at runtime, and, for the routes, the summaries the tiers leave."""
    return preflight_facts(inventory, **{'mlops_enabled_components': ['istio', 'minio', 'mlflow'], **UIS, **extra})


def renderer(inventory='tests/inventories/emulated', **extra):
    return Renderer(REPO_ROOT / inventory, 'mlops.stack.istio', extra_vars=facts(inventory, **extra))


def rendered(r, chart, values_var, release_var, namespace_var):
    require_upstream()
    return helm.template(chart, VERSION, r.render_var(values_var), release=r.render_var(release_var),
                         namespace=r.render_var(namespace_var), include_crds=False)


def one(docs, kind, name=None):
    found = [d for d in docs if d['kind'] == kind and (name is None or d['metadata']['name'] == name)]
    assert len(found) == 1, (kind, name, [d['metadata']['name'] for d in found])
    return found[0]


def stack_objects(inventory, **extra):
    """(renderer, every object the role creates, chart releases rendered by the real helm):
    what benchmarks/footprint.py sums."""
    r = renderer(inventory, **extra)
    return r, [d for chart, _data, values, release, namespace in CHARTS for d in rendered(r, chart, values, release, namespace)]


@pytest.mark.parametrize('inventory', INVENTORIES)
def test_helm_values_match_the_upstream_charts(inventory):
    """The charts keep their defaults under _internal_defaults_do_not_set and take values at the
    top level: our values are compared key by key (global included, which the generic check leaves
    free-form) against those defaults; the gateway's top level against its values.schema.json,
    which refuses unknown keys. service.ports items are Service ports the template writes out
    verbatim (toYaml), so nodePort is allowed there although the defaults do not show it; istiod's
    resources are a ResourceRequirements its helper writes out (limits and requests), though the
    defaults show only requests."""
    require_upstream()
    r = renderer(inventory)
    for _chart, data, values_var, _release, _ns in CHARTS:
        values = r.render_var(values_var)
        freeform = {'istio-gateway': ['_internal_defaults_do_not_set.service.ports'],
                    'istiod': ['_internal_defaults_do_not_set.resources']}.get(data, [])
        assert validate_values(data, VERSION, {'_internal_defaults_do_not_set': values}, freeform=freeform,
                               check_schema=False) == [], data
    schema = chart_schema('istio-gateway', VERSION)
    gateway = r.render_var('_istio_gateway_helm_values')
    assert [e.message for e in jsonschema.validators.validator_for(schema)(schema).iter_errors(gateway)] == []


@pytest.mark.parametrize('inventory', INVENTORIES)
def test_the_real_charts_render_valid_restricted_objects_with_the_hub_set(inventory):
    r = renderer(inventory)
    found = inventory_group_vars(inventory)
    registry = found.get('mlops_image_registry', '')
    hub = (registry + '/' if registry else '') + 'docker.io/istio'
    ns = r.render_var('_istio_namespace')
    base, istiod, gateway = (rendered(r, *chart[0:1], *chart[2:]) for chart in CHARTS)
    # The base chart's 15 CRDs are templates: validating them takes seconds, once is enough.
    crds = [d for d in base if d['kind'] == 'CustomResourceDefinition']
    assert len(crds) == 15
    assert all(d['metadata']['annotations']['helm.sh/resource-policy'] == 'keep' for d in crds), \
        'teardown uninstalls the base release and relies on Helm keeping its CRDs'
    assert {d['spec']['group'] for d in crds} == set(r.render_var('_istio_crd_groups'))
    others = [d for d in base + istiod + gateway if d['kind'] != 'CustomResourceDefinition']
    assert validate_manifests(others + (crds if inventory == 'inventories/kind' else [])) == []
    # The archives default to registry.istio.io/release: nothing of it may be left.
    assert 'registry.istio.io' not in json.dumps(istiod + gateway)
    discovery = one(istiod, 'Deployment', 'istiod')['spec']['template']['spec']['containers'][0]
    assert discovery['image'] == f'{hub}/pilot:1.30.3'
    # What the injection webhook reads to fill in the gateway's image "auto" (and sidecars').
    injected = json.loads(one(istiod, 'ConfigMap', 'istio-sidecar-injector')['data']['values'])['global']
    assert (injected['hub'], injected['tag'], injected['proxy']['image']) == (hub, '1.30.3', f'{hub}/proxyv2:1.30.3')
    assert injected['istioNamespace'] == ns
    # Restricted: istiod's container, the gateway's pod and container (the proxy binds 80/443
    # through the one sysctl every Pod Security level allows, no capability).
    assert {k: discovery['securityContext'][k] for k in RESTRICTED_CONTAINER} == RESTRICTED_CONTAINER
    assert discovery['securityContext']['seccompProfile'] == {'type': 'RuntimeDefault'}
    pod = one(gateway, 'Deployment', 'istio-ingressgateway')['spec']['template']
    assert pod['spec']['securityContext'] == {
        'runAsNonRoot': True, 'runAsUser': 1337, 'runAsGroup': 1337, 'seccompProfile': {'type': 'RuntimeDefault'},
        'sysctls': [{'name': 'net.ipv4.ip_unprivileged_port_start', 'value': '0'}]}
    (proxy,) = pod['spec']['containers']
    assert proxy['image'] == 'auto' and proxy['securityContext'] == RESTRICTED_CONTAINER
    # The gateway's pods are injected by their own label (istiod's object-selector webhook), so no
    # namespace needs istio-injection=enabled.
    assert pod['metadata']['labels']['sidecar.istio.io/inject'] == 'true'
    assert pod['metadata']['annotations']['inject.istio.io/templates'] == 'gateway'
    webhook = one(istiod, 'MutatingWebhookConfiguration')
    object_selected = [w for w in webhook['webhooks'] if w['name'] == 'object.sidecar-injector.istio.io']
    assert object_selected[0]['objectSelector']['matchExpressions'][0] == {
        'key': 'sidecar.istio.io/inject', 'operator': 'In', 'values': ['true']}
    assert {w['clientConfig']['service']['namespace'] for w in webhook['webhooks']} == {ns}
    assert one(base, 'ValidatingWebhookConfiguration')['webhooks'][0]['clientConfig']['service']['namespace'] == ns
    # What the gates name is what the charts create.
    for target in r.render_var('_istio_control_plane_targets'):
        if target['kind'] == 'Deployment':
            one(istiod, 'Deployment', target['name'])
        else:
            assert target['name'] in {d['metadata']['name'] for d in crds}
    one(gateway, 'Deployment', r.render_var('_istio_gateway_targets')[0]['name'])
    # The gateway Service: NodePort 30080/30443 on kind, a LoadBalancer elsewhere.
    service = one(gateway, 'Service', 'istio-ingressgateway')
    ports = {p['name']: p for p in service['spec']['ports']}
    if found['mlops_cluster_flavor'] == 'kind':
        assert service['spec']['type'] == 'NodePort'
        assert (ports['http2']['nodePort'], ports['https']['nodePort']) == (30080, 30443)
    else:
        assert service['spec']['type'] == 'LoadBalancer' and 'nodePort' not in ports['http2']
    assert service['spec']['selector'] == {'app': 'istio-ingressgateway', **r.render_var('_istio_gateway_selector')}


def test_the_kind_config_maps_host_ports_80_and_443_to_the_gateway_node_ports():
    config = yaml.safe_load((REPO_ROOT / 'playbooks/files/kind-config.yaml').read_text())
    (control_plane,) = [n for n in config['nodes'] if n['role'] == 'control-plane']
    mappings = {m['hostPort']: m['containerPort'] for m in control_plane['extraPortMappings']}
    node_ports = renderer('inventories/kind').render_var('_istio_node_ports')
    assert mappings == {80: node_ports['http'], 443: node_ports['https']} == {80: 30080, 443: 30443}


@pytest.mark.parametrize(('profile', 'replicas', 'autoscaling', 'istiod', 'gateway'), [
    ('kind', 1, False, {'requests': {'cpu': '100m', 'memory': '256Mi'}, 'limits': {'memory': '1Gi'}},
     {'requests': {'cpu': '50m', 'memory': '128Mi'}, 'limits': {'memory': '512Mi'}}),
    ('small', 1, False, {'requests': {'cpu': '250m', 'memory': '512Mi'}, 'limits': {'memory': '2Gi'}},
     {'requests': {'cpu': '100m', 'memory': '128Mi'}, 'limits': {'memory': '1Gi'}}),
    ('production', 2, True, {'requests': {'cpu': '500m', 'memory': '2Gi'}, 'limits': {'memory': '4Gi'}},
     {'requests': {'cpu': '500m', 'memory': '512Mi'}, 'limits': {'memory': '2Gi'}}),
])
def test_size_profiles(profile, replicas, autoscaling, istiod, gateway):
    """Our requests and memory limits replace the charts' (istiod 500m / 2Gi, gateway 2 CPU limit);
    kind and small run one of each without autoscaling, production 2 to 5 with PDBs."""
    r = renderer('tests/inventories/emulated', mlops_size_profile=profile)
    control = rendered(r, 'istiod', '_istio_istiod_helm_values', '_istio_istiod_release', '_istio_namespace')
    edge = rendered(r, 'gateway', '_istio_gateway_helm_values', '_istio_gateway_release', '_istio_gateway_namespace')
    for docs, name, resources in ((control, 'istiod', istiod), (edge, 'istio-ingressgateway', gateway)):
        deployment = one(docs, 'Deployment', name)
        assert deployment['spec']['template']['spec']['containers'][0]['resources'] == resources, name
        kinds = {d['kind'] for d in docs}
        assert ('HorizontalPodAutoscaler' in kinds) is autoscaling and ('PodDisruptionBudget' in kinds) is autoscaling, name
        if autoscaling:
            hpa = one(docs, 'HorizontalPodAutoscaler')['spec']
            assert (hpa['minReplicas'], hpa['maxReplicas']) == (replicas, 5) and 'replicas' not in deployment['spec']
        else:
            assert deployment['spec']['replicas'] == replicas


def test_the_kind_profile_asks_150m_and_384mi():
    """istiod and the gateway's share of the kind stack's 4 CPU / 8 GiB."""
    r = renderer('inventories/kind')
    profile = r.render_var('_istio_profile')
    assert (profile['istiod']['requests'], profile['gateway']['requests']) == (
        {'cpu': '100m', 'memory': '256Mi'}, {'cpu': '50m', 'memory': '128Mi'})


@pytest.mark.parametrize('inventory', INVENTORIES)
def test_the_gateway_and_routes_are_valid_against_the_upstream_crds(inventory):
    require_upstream()
    r = renderer(inventory)
    found = inventory_group_vars(inventory)
    domain = found['mlops_domain']
    gateway_ns = r.render_var('_istio_gateway_namespace')
    (gateway,) = r.render_template('gateway.yml.j2')
    routes = r.render_template('routes.yml.j2')
    assert validate_manifests([gateway] + routes) == []
    assert gateway['apiVersion'] == 'networking.istio.io/v1' and gateway['metadata']['namespace'] == gateway_ns
    assert gateway['spec']['selector'] == {'istio': 'ingressgateway'}
    servers = {s['port']['number']: s for s in gateway['spec']['servers']}
    assert all(s['hosts'] == [f'*.{domain}'] for s in servers.values())
    if found['mlops_tls_enabled']:
        assert servers[443]['tls'] == {'mode': 'SIMPLE', 'credentialName': found['mlops_tls_secret_name']}
        assert servers[80]['tls'] == {'httpsRedirect': True}
    else:
        assert list(servers) == [80] and 'tls' not in servers[80]
    # One route per UI of an enabled component (ray's summary is there, ray is not enabled).
    assert [v['metadata']['name'] for v in routes] == ['minio', 'mlflow']
    minio = routes[0]
    assert minio['metadata']['labels']['mlops.stack/route-of'] == 'minio'
    assert minio['metadata']['labels']['app.kubernetes.io/name'] == 'istio'
    assert minio['spec']['hosts'] == [f'minio.{domain}'] and minio['spec']['gateways'] == [f'{gateway_ns}/mlops-gateway']
    assert minio['spec']['http'] == [{'route': [{'destination': {'host': 'minio-console.mlops-minio.svc.cluster.local',
                                                                 'port': {'number': 9001}}}]}]


# The fields of cert-manager.io/v1 Certificate the template uses, checked by hand against
# cert-manager's CRD (deploy/crds/cert-manager.io_certificates.yaml, spec.secretName required,
# issuerRef.name required): no cert-manager CRD is in the upstream data, so no schema check here.
CERTIFICATE_SPEC = {'secretName', 'dnsNames', 'issuerRef'}


def test_cert_manager_issues_the_gateway_certificate():
    r = renderer('inventories/production', istio_cert_manager_issuer={'name': 'letsencrypt-dns'})
    gateway, certificate = r.render_template('gateway.yml.j2')
    assert certificate['apiVersion'] == 'cert-manager.io/v1' and set(certificate['spec']) == CERTIFICATE_SPEC
    assert certificate['spec'] == {'secretName': 'mlops-wildcard-tls', 'dnsNames': ['*.mlops.example.com'],
                                   'issuerRef': {'name': 'letsencrypt-dns', 'kind': 'ClusterIssuer', 'group': 'cert-manager.io'}}
    assert certificate['metadata']['namespace'] == gateway['metadata']['namespace'] == 'mlops-istio-ingress'
    assert {'kind': 'Certificate', 'api_version': 'cert-manager.io/v1', 'namespace': 'mlops-istio-ingress',
            'name': 'mlops-gateway', 'condition': {'type': 'Ready'}} in r.render_var('_istio_gateway_targets')


def test_service_type_and_redirect_options():
    r = renderer('tests/inventories/emulated', istio_gateway_service_type='NodePort',
                 istio_gateway_node_ports={'http': 31080}, mlops_tls_enabled=True, mlops_tls_secret_name='tls',
                 istio_https_redirect=False)
    ports = {p['name']: p.get('nodePort') for p in r.render_var('_istio_service_ports')}
    assert ports == {'status-port': None, 'http2': 31080, 'https': 30443}
    (gateway,) = r.render_template('gateway.yml.j2')
    assert 'tls' not in gateway['spec']['servers'][0]
    assert renderer('tests/inventories/emulated', istio_gateway_service_type='ClusterIP').render_var('_istio_service_type') == 'ClusterIP'


def test_pins_come_from_the_versions_file_and_the_archives_default_hub_is_replaced():
    pins = VERSIONS['istio']
    assert (pins['repo'], pins['chart'], pins['extra_charts'], pins['chart_version']) == (
        'https://istio-release.storage.googleapis.com/charts', 'base', ['istiod', 'gateway'], VERSION)
    assert (pins['hub'], pins['pilot_image'], pins['proxy_image']) == (
        'docker.io/istio', 'docker.io/istio/pilot:1.30.3', 'docker.io/istio/proxyv2:1.30.3')
    require_upstream()
    defaults = rendered(renderer(), 'istiod', '_istio_base_helm_values', '_istio_istiod_release', '_istio_namespace')
    image = one(defaults, 'Deployment', 'istiod')['spec']['template']['spec']['containers'][0]['image']
    assert image == 'registry.istio.io/release/pilot:1.30.3', 'the quirk the role works around'
