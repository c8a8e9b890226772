"""An in-memory Kubernetes API server for offline tests.

``Emulator`` serves a plain-HTTP Kubernetes API on ``127.0.0.1`` from a
background thread (or, via ``python -m tests.harness.emulator``, from its own
process) and writes a kubeconfig pointing at it.  It is good enough for the
``kubernetes.core`` modules (k8s, k8s_info, k8s_cluster_info, ...), the
``kubernetes`` Python client (dynamic client and ``watch.Watch``) and
``kubectl`` (get, apply, delete, patch).

What is emulated
----------------
* Discovery: ``/version`` (configurable ``gitVersion``), ``/api``, ``/apis``,
  ``/api/v1``, ``/apis/<group>[/<version>]`` for the builtin resources listed in
  ``builtin-resources.yaml`` plus every served version of every
  ``CustomResourceDefinition`` stored.  ``/openapi/v2`` and ``/openapi/v3``
  answer 404, which clients treat as "no schema published".
* CRUD for any resource, namespaced or cluster-scoped: list (label selectors,
  equality- and set-based; field selectors on any dotted path, ``limit`` and
  ``continue``), get, create (``generateName`` too), replace (PUT, with
  ``resourceVersion`` preconditions), patch, delete, deletecollection, the
  ``status`` and ``scale`` subresources.  ``?dryRun=All`` never persists.
* Patches: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic
  merge patch (see ``strategic_merge``: lists under well-known fields such as
  ``containers``, ``env``, ``volumes``, ``ports`` and ``conditions`` are merged
  by their merge key; every other list is replaced; ``$patch``,
  ``$retainKeys`` and ``$deleteFromPrimitiveList`` directives are honoured,
  ``$setElementOrder`` is ignored; custom resources answer 415 like a real
  server) and server-side apply (``application/apply-patch+yaml``; creates
  missing objects, then merges the applied configuration like a strategic
  merge patch).
* Metadata: ``uid``, ``creationTimestamp``, ``generation`` (1 on create,
  +1 whenever anything outside ``metadata``/``status`` changes), one global
  increasing ``resourceVersion`` stamped on every write and reported on lists.
  No-op updates are not written (same resourceVersion), like a real server.
* Watches (``?watch=true|1`` or the legacy ``/watch/`` prefix): newline
  delimited ADDED/MODIFIED/DELETED events, replay from a ``resourceVersion``
  (410 ``Expired`` ERROR event when it is older than the retained history),
  ``timeoutSeconds``, label/field selectors (objects moving in or out of the
  selection produce ADDED/DELETED), ``sendInitialEvents`` with the closing
  BOOKMARK.
* Errors are ``Status`` objects with the real reasons (NotFound,
  AlreadyExists, Conflict, Invalid, BadRequest, MethodNotAllowed, Expired,
  UnsupportedMediaType, Forbidden).
* Namespaces must exist before namespaced objects are created in them;
  deleting a namespace deletes its content.  ``metadata.finalizers`` delay a
  deletion until they are removed.  Owner references are garbage collected
  (background/foreground both delete dependents at once; Orphan keeps them).
* A few admission-like defaults and checks: replicas default to 1, Service
  ``clusterIP``, Secret ``stringData`` folded into ``data``, a default
  StorageClass, immutable ``spec.selector`` on workloads, immutable Job
  templates, StatefulSet spec restrictions, DNS-1123 names.
* Simulated controllers (see ``Controllers``): Deployment -> ReplicaSet ->
  Pods, StatefulSet -> ordinal Pods (+ PVCs from volumeClaimTemplates),
  DaemonSet -> one Pod per Node, Job -> Pods -> Complete/Failed, bare Pods,
  PVC -> PV binding, Events.  Readiness comes after a configurable delay.
* Fault injection on pods/jobs (image pull errors, crash loops, unschedulable
  pods, container config errors, failed jobs) and on the API itself (error
  status codes, latency), from Python or through ``/__emulator/*``.
* A bounded record of every mutating API request (``writes``).
* Simulated operators (``tests/harness/operators``): event-driven plugins that create what
  an operator creates for its custom resources (Services, Secrets, PVCs, Pods) and write
  their status.
* The service proxy (``/api/v1/namespaces/NS/services/[SCHEME:]NAME:PORT/proxy/PATH``):
  ``200 ok`` when a Ready pod backs the Service, ``503`` when none does, or whatever a
  backend registered with ``set_service_backend`` answers (a canned response or a real
  HTTP server of the test). Proxied requests are not recorded as writes.

Using it
--------
Python::

    with Emulator(ready_delay=0.5) as emu:          # or emu.start() / emu.stop()
        subprocess.run([...], env=emu.env())          # KUBECONFIG + K8S_AUTH_KUBECONFIG
        emu.set_ready_delay(2, kind="Deployment", namespace="ns", name="web")
        emu.inject_fault("crash_loop", selector="app=worker")
        emu.inject_fault("api_error", method="PATCH", path="/deployments/", status=500, count=1)
        assert emu.writes(dry_run=False) == []

CLI (for molecule or any other process)::

    python -m tests.harness.emulator --port 0 --kubeconfig PATH [--state-file PATH] [--config YAML]

prints the URL, writes ``{"pid", "url", "port", "kubeconfig"}`` to the state
file and serves until SIGTERM/SIGINT.  ``EmulatorClient(url)`` drives it.

Control endpoints (JSON, under ``/__emulator``)
    ``GET health``, ``GET state`` (resourceVersion, object counts, watchers),
    ``GET writes[?dryRun=true|false]``, ``DELETE writes`` (or ``POST writes/reset``),
    ``GET|POST|DELETE delays[/<id>]`` (POST ``{"seconds", "kind"?, "namespace"?,
    "name"?, "selector"?}``; no matcher sets the default delay),
    ``GET|POST|DELETE faults[/<id>]`` (POST ``{"type", ...}`` as ``inject_fault``),
    ``POST reset``, ``POST compact`` (drop watch history), ``POST crds``
    (``{"paths": [...]}``).

Faults
    Pod faults match (kind, namespace, name, label selector) against a pod or
    any of its controllers, newest rule first:
    ``image_pull`` (ErrImagePull then ImagePullBackOff; ``message``, ``container``),
    ``crash_loop`` (CrashLoopBackOff, restartCount +1 per tick, lastState
    terminated ``exit_code`` (1)/Error; ``message``, ``container``),
    ``unschedulable`` (Pending, PodScheduled=False/Unschedulable; ``message``),
    ``create_container_config`` (CreateContainerConfigError; ``message``),
    ``job_failed`` (the Job's pods fail until backoffLimit is exceeded, then
    Failed/BackoffLimitExceeded).  Warning Events accompany each.
    API faults match the HTTP method (``*`` = any) and a regex searched in the
    path plus query string: ``api_error`` (``status`` 500, ``reason``,
    ``message``, ``count`` requests or unlimited, ``probability``) and ``slow``
    (``seconds`` of latency, same matching).  Control endpoints are exempt.

What is deliberately not emulated
---------------------------------
Authentication/authorization (any token is accepted), admission webhooks,
OpenAPI schemas and validation of fields (``fieldValidation`` is ignored),
protobuf bodies (answered 415), version conversion (an object is served under
any of its resource's versions unchanged except ``apiVersion``), managed
fields and field ownership of server-side apply (fields dropped from an
applied configuration are not removed), graceful pod termination, rolling
update pacing (new pods are all created at once and the old ones removed
when the new ones are ready), CronJob scheduling, Services/Endpoints
networking, the events.k8s.io view of core Events.

Package layout (one module per part of the server)
-------------------------------------------------
``util`` constants and small helpers; ``selectors`` label/field selectors and ``ApiError``;
``patches`` merge, strategic-merge and JSON patches; ``registry`` discovery (built-in resources
from ``builtin-resources.yaml``, CRDs at run time); ``store`` objects, resourceVersions and watch
history; ``rules`` delays and faults; ``controllers`` the simulated workload controllers,
scheduler and kubelet; ``crds`` CRD files; ``protobuf`` the reader for protobuf request
bodies; ``server`` the HTTP API server; ``runner`` the ``Emulator`` (a server on its own thread),
the control client and the command line (``python -m tests.harness.emulator``). Simulated
operators are plugins in ``tests/harness/operators``.
"""
from __future__ import annotations

from .crds import find_upstream_crds, load_crd_documents
from .patches import json_patch, merge_patch, strategic_merge
from .runner import Emulator, EmulatorClient, main
from .server import ApiServer
from .util import DEFAULT_VERSION, UPSTREAM_ENV
__all__ = [
    "Emulator",
    "EmulatorClient",
    "ApiServer",
    "find_upstream_crds",
    "load_crd_documents",
    "strategic_merge",
    "merge_patch",
    "json_patch",
    "DEFAULT_VERSION",
    "UPSTREAM_ENV",
    "main",
]
