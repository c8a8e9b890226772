"""A recording test double for the ``helm`` 3 CLI, faithful to what kubernetes.core drives.

Put this folder first on ``PATH`` (``HelmDouble.env()`` does it) and set
``HELM_DOUBLE_STATE`` to a writable directory. The executable ``helm`` in this folder keeps
releases and repositories there, appends every invocation to ``calls.jsonl`` and, on
install/upgrade/uninstall, creates/deletes the chart's CRDs and catalogue objects in the
Kubernetes API (see ``kube.py``), so readiness gates wait on real objects.

Environment
-----------
``HELM_DOUBLE_STATE``    required: state directory (releases.json, repos.json, calls.jsonl).
``HELM_DOUBLE_CATALOG``  chart catalogue YAML file(s), ``os.pathsep`` separated (``catalog.py``).
``MLOPS_UPSTREAM_DIR``   upstream chart data (``<chart>/<version>/Chart.yaml`` + ``crds/``):
                         every chart version there becomes a catalogue entry.
``HELM_DOUBLE_PYTHON``   interpreter the ``helm`` script re-executes itself with (the
                         shebang's ``python3`` may lack the kubernetes client);
                         ``HelmDouble.env()`` sets it to the test's interpreter.
``HELM_DOUBLE_VERSION``  what ``helm version`` reports (default ``v3.19.0``).
``HELM_DOUBLE_FAIL``     injected failures, comma separated ``<op>:<release>`` (``*`` = any):
                         ``install`` (any install/upgrade of the release; without ``--atomic``
                         the release is stored as ``failed``, with it the install is undone),
                         ``upgrade`` (only when the release exists), ``uninstall``,
                         ``repo-add:<repo name>``. Exit 1 with a helm-like ``Error:``.
``HELM_DOUBLE_KUBE``     ``auto`` (default): use the API when there is something to create or
                         delete; ``--create-namespace`` alone is skipped (stderr note) when no
                         API is configured at all. ``on``: ``--create-namespace`` alone needs
                         the API too. ``off``: never touch it (stderr note). An unreachable
                         or unconfigured API fails like helm (``Kubernetes cluster
                         unreachable``). Without the ``kubernetes`` client, objects are
                         skipped with a stderr note.
Cluster access, as helm reads it: ``KUBECONFIG`` (or ``--kubeconfig``), ``HELM_KUBECONTEXT``,
``HELM_KUBEAPISERVER``, ``HELM_KUBETOKEN``, ``HELM_KUBECAFILE``,
``HELM_KUBEINSECURE_SKIP_TLS_VERIFY``; the release namespace is ``-n`` or ``HELM_NAMESPACE``.

What the double emulates differently from helm: releases live in the state directory, not in
Secrets, so ``list``/``get``/``show``/``repo`` never need the API; charts come from the
catalogue (no network); ``--wait`` is recorded, not performed; CRDs from ``crds/`` are
created only on first install and only when missing (like helm: never upgraded, never
deleted); catalogue objects are created or replaced on every install/upgrade, pruned when
an upgrade drops them and deleted on uninstall.

Verified contract: kubernetes.core 6.2.0 (the version in the pinned ``ansible`` 12.3.0)
-----------------------------------------------------------------------------------------
Read from ``plugins/modules/helm.py``, ``helm_info.py``, ``helm_repository.py``,
``plugins/module_utils/helm.py`` and ``helm_args_common.py`` of the installed 6.2.0:

* Commands are strings split with ``shlex`` (``run_command``), except ``list`` in ``helm``,
  which is an argv list. Chart refs are wrapped in single quotes, which the split removes.
* Environment (``_prepare_helm_environment``): ``HELM_KUBECONTEXT`` (context),
  ``HELM_NAMESPACE`` (release_namespace), ``HELM_KUBETOKEN`` (api_key),
  ``HELM_KUBEAPISERVER`` (host), ``HELM_KUBECAFILE`` (ca_cert, helm >= 3.5),
  ``HELM_KUBEINSECURE_SKIP_TLS_VERIFY=true`` (validate_certs false, helm >= 3.10), and
  ``KUBECONFIG`` = a temporary file holding the ``kubeconfig`` option dumped as **JSON**
  (only when the task sets ``kubeconfig``; otherwise the inherited ``KUBECONFIG`` applies).
* ``helm version`` is **not** called at start in 6.2.0 (6.3+ does). It is called, without the
  environment, only for gates: ca_cert/validate_certs (above), plain_http (>= 3.13),
  reset_then_reuse_values (>= 3.14), insecure_skip_tls_verify and skip_schema_validation
  (>= 3.16), take_ownership (>= 3.17), ``set_values`` with ``value_type: json`` (>= 3.10) and
  ``state: absent`` with ``wait`` (>= 3.7). Parsed with
  ``re.match(r'version.BuildInfo{Version:"v(.*?)",', out)``.
* Release lookup (helm): ``helm list --output=yaml --filter NAME`` for ``state: present`` (no
  ``--deployed`` in 6.2.0, so helm's default deployed+failed filter applies) and with
  ``--all`` appended for ``state: absent`` and for the status after a change. The YAML list
  is searched for ``name == NAME``; then ``helm get values --output=yaml NAME`` (stdout
  ``null`` means ``{}``).
* helm_info: ``helm list --output=yaml [--all|--deployed|--failed|--pending|--superseded|
  --uninstalled|--uninstalling ...] --filter NAME``, then ``get values --output=yaml NAME
  [-a]``, ``get manifest NAME``, ``get notes NAME``, ``get hooks NAME`` (all must exit 0).
* ``update_repo_cache``: ``helm repo update`` first.
* present: ``helm [--version=V] [--repo=URL] show chart 'REF' [--insecure-skip-tls-verify]
  [--plain-http]`` (flags before the subcommand); YAML with ``name``, ``version``,
  ``appVersion``, ``dependencies``.
* ``dependency_update`` with dependencies and no repo URL: ``helm dependency update 'REF'``.
* Release exists: ``helm plugin list`` (tab-separated, ``NAME`` header skipped; empty stdout
  and stderr is a failure), then ``helm diff upgrade ...`` only when a ``diff`` plugin is
  listed (this double lists none), else the default check: changed when ``get values`` differs
  from the task's ``values`` (or the shallow merge of ``values_files``), when ``list``'s
  ``chart`` differs from ``show chart``'s ``name-version``, or when ``app_version`` differs
  from ``appVersion`` (``""`` when the chart has none). ``set_values`` are not compared.
* Deploy: ``helm [--version=V] [--repo=URL] upgrade -i --reset-values [--take-ownership]
  [--reuse-values=True|False] [--reset-then-reuse-values] [--wait [--timeout T]] [--atomic]
  [--timeout T] [--force] [--no-hooks] [--create-namespace] [--insecure-skip-tls-verify]
  [--plain-http] [--values=FILE ...] [-f=/tmp/XXX.yml] [--post-renderer=X] [--skip-crds]
  [--history-max=N] [--set K=V | --set-string 'K=V' | --set-json 'K=V' | --set-file 'K=V' |
  --set-literal 'K=V' ...] [--skip-schema-validation] NAME 'REF'``; with ``replace``:
  ``install [--dependency-update] ... --replace``. ``--take-ownership`` is only added when
  the release already exists. ``-f=`` is a temporary YAML dump of ``values``, deleted after
  the task. ``--force`` only on upgrades.
* absent: ``helm uninstall  [--keep-history] [--no-hooks] [--wait] [--timeout T] NAME``
  (``--keep-history`` when ``purge: false``), skipped when the status starts with
  ``uninstall``.
* helm_repository: ``helm repo list --output=yaml`` (rc 1 with ``no repositories to show`` on
  stderr means none; entries need ``name`` and ``url``), ``helm repo add NAME URL
  [--username=U --password=P] [--pass-credentials] [--force-update]
  [--insecure-skip-tls-verify]``, ``helm repo rm NAME``.
* helm_template (optional here): ``helm template [NAME] REF [--dependency-update] [--repo=]
  [--version=] [--no-hooks] [--output-dir=] [-s T] [-f=F] [-n NS] [--include-crds] [--set..]``.
"""

from __future__ import annotations

from .recorder import BIN_DIR, HELM, HelmDouble, summarize, write_catalog

__all__ = ["BIN_DIR", "HELM", "HelmDouble", "summarize", "write_catalog"]
