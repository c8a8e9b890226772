#!/usr/bin/env python
"""No-op re-run: what a second `site.yml` run costs when nothing changed.

Against the emulated API server, with the real helm installing the real chart archives from the
local chart repository (the tests' setup), site.yml converges once, then runs again. For the
second run it prints the wall time, the number of tasks, `changed`, and the write requests the
API server received per component namespace (a no-op run should send none that persist
anything; dry-run requests and writes that changed nothing are counted apart).

    MLOPS_UPSTREAM_DIR=../shared/upstream .venv/bin/python benchmarks/noop_rerun.py [--runs 1] [--json]
        [--strategy linear|mitogen|both]

`--strategy` picks Ansible's default `linear` strategy (what users run unless they opt in),
Mitogen's `mitogen_linear` (what the emulated tests run), or both one after the other (default).

Goals (DESIGN.md section 7 and the contract issue): the data tier's no-op re-run <= 25 s on
these machines, the full site <= 45 s; changed=0.
"""
import argparse
import json
import os
import pathlib
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness.chart_repo import ChartRepository, helm_binary  # noqa: E402
from tests.harness.emulator import Emulator  # noqa: E402
from tests.harness.playbook import run_playbook, strategy_env  # noqa: E402

INVENTORY = 'tests/inventories/emulated'


def _writes_by_namespace(writes):
    out = {}
    for w in writes:
        key = w.get('namespace') or '(cluster)'
        row = out.setdefault(key, {'persisted': 0, 'no_op': 0, 'dry_run': 0})
        if w.get('dry_run'):
            row['dry_run'] += 1
        elif w.get('persisted'):
            row['persisted'] += 1
        else:
            row['no_op'] += 1
    return out


def measure(runs, strategy):
    with tempfile.TemporaryDirectory() as tmp, ChartRepository() as repo, \
            Emulator(kubeconfig_path=pathlib.Path(tmp) / 'kubeconfig', ready_delay=0.2) as emu:
        env = emu.env()
        if strategy == 'mitogen':
            mitogen = strategy_env()
            if not mitogen:
                raise SystemExit('mitogen is not installed: pip install -r requirements-test.txt')
            env.update(mitogen)
        else:
            env['ANSIBLE_STRATEGY'] = 'linear'
        env['PATH'] = f"{pathlib.Path(helm_binary()).parent}{os.pathsep}{env.get('PATH', '')}"
        env['MLOPS_CHART_REPOSITORY'] = repo.url
        for var in ('HELM_CACHE_HOME', 'HELM_CONFIG_HOME', 'HELM_DATA_HOME'):
            env[var] = str(pathlib.Path(tmp) / var.lower())
        started = time.monotonic()
        first = run_playbook('playbooks/site.yml', inventory=INVENTORY, env=env)
        converge = time.monotonic() - started
        if first.rc != 0:
            raise SystemExit(f'converge failed: {first.failure_message()}')
        results = []
        for unused in range(runs):
            emu.reset_writes()
            started = time.monotonic()
            again = run_playbook('playbooks/site.yml', inventory=INVENTORY, env=env)
            wall = time.monotonic() - started
            if again.rc != 0:
                raise SystemExit(f're-run failed: {again.failure_message()}')
            results.append({'wall_s': round(wall, 1), 'tasks': len(list(again.tasks())), 'changed': again.changed,
                            'writes': _writes_by_namespace(emu.writes())})
        return {'converge_s': round(converge, 1), 'reruns': results}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=1)
    parser.add_argument('--json', action='store_true')
    parser.add_argument('--strategy', choices=['linear', 'mitogen', 'both'], default='both')
    args = parser.parse_args(argv)
    strategies = ['linear', 'mitogen'] if args.strategy == 'both' else [args.strategy]
    reports = {strategy: measure(args.runs, strategy) for strategy in strategies}
    if args.json:
        print(json.dumps(reports, indent=2))
        return 0
    for strategy, report in reports.items():
        print(f"strategy {strategy}: first converge {report['converge_s']} s")
        for i, run in enumerate(report['reruns'], 1):
            print(f"  no-op re-run {i}: {run['wall_s']} s, {run['tasks']} tasks, changed={run['changed']}")
            print(f"    {'namespace':<18} {'persisted':>9} {'no-op':>6} {'dry-run':>8}  (write requests)")
            for namespace, row in sorted(run['writes'].items()):
                print(f"    {namespace:<18} {row['persisted']:>9} {row['no_op']:>6} {row['dry_run']:>8}")
    print('goals: data tier <= 25 s, full site <= 45 s, changed=0')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
