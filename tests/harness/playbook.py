"""Runs ansible-playbook from the test virtualenv and parses its result.

Every run uses the repository's ansible.cfg, sees the checkout as the collection mlops.stack
(through .collections/), and reports with the ansible.posix.json callback so tests can assert
on per-task results and the recap instead of scraping text.
"""
import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent


def ensure_collection_link():
    """`.collections/ansible_collections/mlops/stack` -> the checkout (what `make setup` does)."""
    link = ROOT / '.collections/ansible_collections/mlops/stack'
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(pathlib.Path('../../..'))
    return link


class PlaybookResult:
    def __init__(self, proc, data):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.data = data or {}

    @property
    def stats(self):
        """Recap for localhost: ok, changed, failures, skipped, ..."""
        return self.host_stats('localhost')

    def host_stats(self, host):
        """Recap for one inventory host."""
        return (self.data.get('stats') or {}).get(host, {})

    @property
    def changed(self):
        return self.stats.get('changed', 0)

    def tasks(self, host='localhost'):
        """(play name, task name, result for the host) for every task that ran on it."""
        for play in self.data.get('plays', []):
            for task in play.get('tasks', []):
                result = task.get('hosts', {}).get(host)
                if result is not None:
                    yield play['play']['name'], task['task']['name'], result

    def failed_tasks(self, host='localhost'):
        return [(task, result) for _play, task, result in self.tasks(host) if result.get('failed') and not result.get('ignore_errors')]

    def failure_message(self, host='localhost'):
        """The msg of the failure that stopped the play on the host (the last failed task; a
        rescued failure comes earlier), or of its first failed loop item."""
        failed = self.failed_tasks(host)
        if not failed:
            return ''
        result = failed[-1][1]
        for item in result.get('results') or []:
            # ansible-core 2.21's json callback drops `failed` from loop items; a failed
            # assert item still says `evaluated_to: false`, any failed item has `exception`.
            if item.get('failed') or item.get('evaluated_to') is False or 'exception' in item:
                return item.get('msg', '')
        return result.get('msg', '')

    def last_result(self, suffix, host='localhost'):
        """The result of the last task whose name ends with `suffix` (fails when none ran)."""
        found = [result for _play, task, result in self.tasks(host) if task.endswith(suffix)]
        assert found, f'no task ending with {suffix!r}'
        return found[-1]

    def explain(self):
        """For an assertion message: the failure's msg, else the tail of the output."""
        return self.failure_message() or self.stderr[-3000:] or self.stdout[-3000:]

    def changed_tasks(self):
        return [task for _play, task, result in self.tasks() if result.get('changed')]

    def __repr__(self):
        return f'<PlaybookResult rc={self.rc} stats={self.stats} failed={self.failure_message()!r}>'


def strategy_env():
    """The Ansible strategy the tests run playbooks with: Mitogen's ``mitogen_linear`` (the same
    tasks, in one persistent interpreter per host: about half the wall time of a no-op re-run,
    benchmarks/noop_rerun.py) unless ``MLOPS_TEST_STRATEGY=linear`` or Mitogen is not installed.
    The molecule scenario runs Ansible's default ``linear``, as users do."""
    if os.environ.get('MLOPS_TEST_STRATEGY', 'mitogen') == 'linear':
        return {}
    try:
        import ansible_mitogen  # pylint: disable=import-outside-toplevel
    except ImportError:
        return {}
    plugins = pathlib.Path(ansible_mitogen.__file__).parent / 'plugins' / 'strategy'
    return {'ANSIBLE_STRATEGY_PLUGINS': str(plugins), 'ANSIBLE_STRATEGY': 'mitogen_linear'}


def run_playbook(playbook, inventory=None, env=None, extra_vars=None, args=(), timeout=600):
    """Runs `ansible-playbook` and returns a PlaybookResult (never raises on a failed play).
    `inventory`: one source or a list of them (paths relative to the checkout, or absolute)."""
    ensure_collection_link()
    cmd = [str(BIN / 'ansible-playbook'), str(ROOT / playbook)]
    for source in [inventory] if isinstance(inventory, (str, os.PathLike)) else inventory or []:
        cmd += ['-i', str(ROOT / source)]
    if extra_vars:
        cmd += ['-e', json.dumps(extra_vars)]
    cmd += list(args)
    full_env = dict(os.environ)
    full_env.update({
        'ANSIBLE_CONFIG': str(ROOT / 'ansible.cfg'),
        'ANSIBLE_COLLECTIONS_PATH': str(ROOT / '.collections'),
        'ANSIBLE_STDOUT_CALLBACK': 'ansible.posix.json',
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_FORCE_COLOR': '0',
        'PATH': f"{BIN}{os.pathsep}{full_env.get('PATH', '')}",
    })
    full_env.update(strategy_env())
    full_env.update(env or {})
    proc = subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout, check=False)
    try:
        data = json.loads(proc.stdout[proc.stdout.index('{'):])
    except ValueError:
        data = None
    return PlaybookResult(proc, data)
