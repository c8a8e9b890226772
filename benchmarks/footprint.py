#!/usr/bin/env python
"""Footprint: the CPU and memory every component asks of the cluster, per size profile.

Summed from what would really run: the real `helm template` output of each pinned chart with
the role's values, the role's own manifests, and the Pods operators create from our custom
resources (the simulated operators' `pods()`, tests/harness/operators, the same function the
emulator uses). Deployments and StatefulSets count x replicas, DaemonSets once per node
(--nodes, 1 for kind), Jobs once (they finish, but must fit while they run). A container with
limits only is counted with requests = limits, as Kubernetes defaults them. Init containers
count as Kubernetes schedules them: max(largest init container, sum of app containers).

    MLOPS_UPSTREAM_DIR=../shared/upstream .venv/bin/python benchmarks/footprint.py [--nodes N] [--json]

Goal (DESIGN.md section 7): the whole kind profile <= 4 CPU and <= 8 GiB requested.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness.operators import cloudnative_pg, kuberay, prometheus_operator, strimzi  # noqa: E402

GOAL_CPU, GOAL_MEMORY = 4.0, 8 * 1024 ** 3
# profile -> inventory whose settings it is measured with (kind: the local cluster's inventory)
PROFILES = {'kind': 'inventories/kind', 'small': 'inventories/kind', 'production': 'inventories/production'}
_UNITS = {'Ki': 1024, 'Mi': 1024 ** 2, 'Gi': 1024 ** 3, 'Ti': 1024 ** 4, 'k': 1e3, 'M': 1e6, 'G': 1e9, 'T': 1e12}


def cpu(value) -> float:
    text = str(value or 0)
    return float(text[:-1]) / 1000 if text.endswith('m') else float(text)


def memory(value) -> float:
    text = str(value or 0)
    for suffix, factor in _UNITS.items():
        if text.endswith(suffix):
            return float(text[:-len(suffix)]) * factor
    return float(text)


def _container(c: dict) -> dict:
    res = c.get('resources') or {}
    limits, requests = res.get('limits') or {}, res.get('requests') or {}
    out = {}
    for key, parse in (('cpu', cpu), ('memory', memory)):
        req = requests.get(key, limits.get(key))
        out[f'req_{key}'] = parse(req) if req is not None else 0.0
        out[f'lim_{key}'] = parse(limits[key]) if key in limits else 0.0
    return out


def pod_resources(spec: dict) -> dict:
    apps = [_container(c) for c in spec.get('containers') or []]
    inits = [_container(c) for c in spec.get('initContainers') or []]
    total = {k: sum(c[k] for c in apps) for k in ('req_cpu', 'req_memory', 'lim_cpu', 'lim_memory')}
    for key in total:
        total[key] = max([total[key]] + [c[key] for c in inits])
    return total


def workload_pods(docs: list, nodes: int) -> list:
    """(kind/name, count, pod spec) for every workload object in docs."""
    out = []
    for d in docs:
        kind, spec = d.get('kind'), d.get('spec') or {}
        if kind in ('Deployment', 'StatefulSet'):
            out.append((f"{kind}/{d['metadata']['name']}", int(spec.get('replicas', 1)), spec['template']['spec']))
        elif kind == 'DaemonSet':
            out.append((f"{kind}/{d['metadata']['name']}", nodes, spec['template']['spec']))
        elif kind == 'Job':
            out.append((f"{kind}/{d['metadata']['name']}", 1, spec['template']['spec']))
        elif kind == 'Pod':
            out.append((f"Pod/{d['metadata']['name']}", 1, spec))
        elif kind == 'Cluster' and d.get('apiVersion') == 'postgresql.cnpg.io/v1':
            out += [(f"Pod/{p['metadata']['name']} (CloudNativePG)", 1, p['spec']) for p in cloudnative_pg.pods(d)]
        elif kind in ('Kafka', 'KafkaNodePool') and d.get('apiVersion') == 'kafka.strimzi.io/v1':
            kafka = next((k for k in docs if k.get('kind') == 'Kafka'), None) if kind == 'KafkaNodePool' else None
            out += [(f"Pod/{p['metadata']['name']} (Strimzi)", 1, p['spec']) for p in strimzi.pods(d, kafka)]
        elif kind == 'Prometheus' and d.get('apiVersion') == 'monitoring.coreos.com/v1':
            out += [(f"Pod/{p['metadata']['name']} (prometheus-operator)", 1, p['spec']) for p in prometheus_operator.pods(d)]
        elif kind == 'RayCluster' and d.get('apiVersion') == 'ray.io/v1':
            out += [(f"Pod/{p['metadata']['name']} (KubeRay)", 1, p['spec']) for p in kuberay.pods(d)]
    return out


def _render_module(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / f'tests/render/test_{name}_render.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def component_docs(component: str, inventory: str, profile: str) -> list:
    """Every object the component's role would create (charts rendered by the real helm)."""
    r, docs = _render_module(component).stack_objects(inventory, mlops_size_profile=profile)
    return docs if r.render_var(f'{component}_enabled') else []


# Every component of roles/common/vars/components.yml, in tier order (each render module's stack_objects()).
_COMPONENTS_FILE = yaml.safe_load((ROOT / 'roles/common/vars/components.yml').read_text())['_mlops_components']
COMPONENTS = [c['name'] for c in sorted(_COMPONENTS_FILE, key=lambda c: c['tier'])]


def measure(nodes: int) -> dict:
    report = {}
    for profile, inventory in PROFILES.items():
        rows = {}
        for component in COMPONENTS:
            pods = workload_pods(component_docs(component, inventory, profile), nodes)
            totals = {'req_cpu': 0.0, 'req_memory': 0.0, 'lim_cpu': 0.0, 'lim_memory': 0.0}
            detail = []
            for name, count, spec in pods:
                res = pod_resources(spec)
                for key in totals:
                    totals[key] += res[key] * count
                detail.append({'workload': name, 'count': count, **res})
            rows[component] = {**totals, 'workloads': detail}
        report[profile] = rows
    return report


def _fmt_mem(value: float) -> str:
    return f"{value / 1024 ** 2:.0f}Mi"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description='Requested CPU/memory per component and size profile.')
    parser.add_argument('--nodes', type=int, default=1, help='nodes a DaemonSet runs on (default 1: kind)')
    parser.add_argument('--json', action='store_true', help='print the full report as JSON')
    args = parser.parse_args(argv)
    report = measure(args.nodes)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"Footprint (DaemonSets x {args.nodes} node(s); requests / limits; components: {', '.join(COMPONENTS)})")
    for profile, rows in report.items():
        print(f"\nprofile {profile} ({PROFILES[profile]}):")
        print(f"  {'component':<16} {'cpu req':>8} {'mem req':>9} {'cpu lim':>8} {'mem lim':>9}  workloads")
        total = {'req_cpu': 0.0, 'req_memory': 0.0, 'lim_cpu': 0.0, 'lim_memory': 0.0}
        for component, row in rows.items():
            for key in total:
                total[key] += row[key]
            names = ', '.join(f"{w['workload']}x{w['count']}" for w in row['workloads'])
            print(f"  {component:<16} {row['req_cpu']:>8.3f} {_fmt_mem(row['req_memory']):>9} "
                  f"{row['lim_cpu']:>8.3f} {_fmt_mem(row['lim_memory']):>9}  {names}")
        print(f"  {'TOTAL':<16} {total['req_cpu']:>8.3f} {_fmt_mem(total['req_memory']):>9} "
              f"{total['lim_cpu']:>8.3f} {_fmt_mem(total['lim_memory']):>9}")
        if profile == 'kind':
            print(f"  laptop goal: <= {GOAL_CPU:.0f} CPU and <= 8Gi requested for all ten components; "
                  f"these {len(rows)} use {total['req_cpu'] / GOAL_CPU:.0%} of the CPU and "
                  f"{total['req_memory'] / GOAL_MEMORY:.0%} of the memory budget")
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
