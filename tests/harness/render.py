"""Render a role's variables and templates for an inventory, without a cluster.

Uses ansible-core's Python API (2.19):

* ``DataLoader`` / ``InventoryManager`` / ``VariableManager`` load an
  inventory directory and give the merged variables of one host (group_vars,
  host_vars, inventory vars and magic variables such as ``groups`` and
  ``inventory_hostname``).  The host is ``localhost`` by default, or the first
  host of group ``mlops_controller`` when that group exists.
* The role's ``defaults/main`` is layered under and ``vars/main`` over those
  variables, then ``extra_vars`` on top (Ansible precedence: role defaults <
  inventory < role vars < extra vars; top-level keys replace, as with
  ``hash_behaviour=replace``).  ``extra_vars`` stand for values a role would
  register at runtime (e.g. secrets read back from the cluster).
* ``Templar`` renders them.  Since 2.19 only strings tagged
  ``TrustedAsTemplate`` are templated: files are loaded with
  ``trusted_as_template=True`` (as the role loader and vars plugins do) and
  template file contents are wrapped with ``trust_as_template`` (as the
  ``template`` action does).  ``extra_vars`` are data, not templates, unless
  ``trust_extra_vars=True``.
* Templates are rendered like the ``template`` action: ``trim_blocks=True``,
  ``lstrip_blocks=False``, no backslash escaping, search path
  ``<role>/templates`` + ``<role>``, with ``template_path`` & co. and
  ``ansible_managed`` defined.

Collections
-----------
Filters and lookups from ansible-core and the collections installed in the
virtualenv (kubernetes.core, community.general, ...) are available.  This
repository is itself the ``mlops.stack`` collection: :func:`ensure_collection_loader`
creates, once per process, a temporary directory holding
``ansible_collections/mlops/stack`` -> repository root, and hands it to the
collection loader as a prefix path (``init_plugin_loader``), so
``mlops.stack.<filter>`` resolves from ``plugins/filter/``.  The environment
(``ANSIBLE_COLLECTIONS_PATH``) is not modified: ansible reads it at import
time, so changing it afterwards would not work anyway and would leak into
other tests.  If a collection finder is already installed in the process
(e.g. by another tool), the temporary path is added to it instead.  The
finder is process-wide by design in ansible-core; it is installed once and
only adds a lookup path, so tests do not influence each other through it.
The temporary directory is removed at interpreter exit.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTROLLER_GROUP = "mlops_controller"
COLLECTION_NAMESPACE = "mlops"
COLLECTION_NAME = "stack"

__all__ = [
    "REPO_ROOT",
    "CONTROLLER_GROUP",
    "ensure_collection_loader",
    "InventoryContext",
    "load_inventory",
    "resolve_role",
    "Renderer",
    "renderer",
    "render_var",
    "render_template",
    "to_native",
]

_lock = threading.RLock()
_collection_tmp: Path | None = None


# --------------------------------------------------------------------------
# collection loader
# --------------------------------------------------------------------------

def ensure_collection_loader(collection_root: Path = REPO_ROOT) -> Path:
    """Make ``mlops.stack`` importable from ``collection_root``; returns the prefix path.

    Idempotent: the temporary ``ansible_collections`` tree is created once per
    process.
    """
    global _collection_tmp
    with _lock:
        if _collection_tmp is None:
            tmp = Path(tempfile.mkdtemp(prefix="mlops-stack-collections-"))
            ns_dir = tmp / "ansible_collections" / COLLECTION_NAMESPACE
            ns_dir.mkdir(parents=True)
            (ns_dir / COLLECTION_NAME).symlink_to(Path(collection_root).resolve(), target_is_directory=True)
            atexit.register(shutil.rmtree, tmp, ignore_errors=True)
            _collection_tmp = tmp
            _install_collection_path(str(tmp))
        return _collection_tmp


def _install_collection_path(path: str) -> None:
    from ansible.utils.collection_loader import AnsibleCollectionConfig

    finder = AnsibleCollectionConfig.collection_finder
    if finder is None:
        from ansible.plugins.loader import init_plugin_loader

        init_plugin_loader([path])
        return
    # A finder is already installed (process-wide): add our path to it.
    configured = list(getattr(finder, "_n_configured_paths", []))
    if path not in configured:
        finder._n_configured_paths = [path] + configured
        finder._n_cached_collection_paths = None
        finder._n_cached_collection_qualified_paths = None


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def to_native(value: Any) -> Any:
    """Deep copy of a rendered value using plain Python types (no ansible tags/lazy containers)."""
    if isinstance(value, Mapping):
        return {to_native(k): to_native(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_native(v) for v in value]
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, (set, frozenset)):
        return [to_native(v) for v in value]
    try:
        from ansible.module_utils._internal._datatag import AnsibleTagHelper

        return AnsibleTagHelper.as_native_type(value)
    except Exception:  # pragma: no cover - best effort for exotic types
        return value


def _trust_deep(value: Any) -> Any:
    from ansible.template import trust_as_template

    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, Mapping):
        return {k: _trust_deep(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_trust_deep(v) for v in value]
    return value


def resolve_role(role: str | os.PathLike, roles_path: Iterable[str | os.PathLike] | None = None) -> Path:
    """Path of a role given as a directory, a name or ``mlops.stack.<name>``."""
    candidate = Path(role)
    if candidate.is_dir() and (candidate.is_absolute() or os.sep in str(role)):
        return candidate.resolve()
    name = str(role)
    prefix = f"{COLLECTION_NAMESPACE}.{COLLECTION_NAME}."
    if name.startswith(prefix):
        name = name[len(prefix):]
    search = [Path(p) for p in (roles_path or [])] + [REPO_ROOT / "roles"]
    for base in search:
        if (base / name).is_dir():
            return (base / name).resolve()
    raise FileNotFoundError(f"role {role!r} not found in {', '.join(str(s) for s in search)}")


# --------------------------------------------------------------------------
# inventory
# --------------------------------------------------------------------------

class InventoryContext:
    """A loaded inventory: DataLoader, InventoryManager, VariableManager (+ cached host vars)."""

    def __init__(self, inventory: str | os.PathLike):
        ensure_collection_loader()
        from ansible.inventory.manager import InventoryManager
        from ansible.parsing.dataloader import DataLoader
        from ansible.vars.hostvars import HostVars
        from ansible.vars.manager import VariableManager

        self.path = Path(inventory).resolve()
        if not self.path.exists():
            raise FileNotFoundError(f"inventory {self.path} does not exist")
        self.loader = DataLoader()
        self.inventory = InventoryManager(loader=self.loader, sources=[str(self.path)])
        self.variable_manager = VariableManager(loader=self.loader, inventory=self.inventory)
        # sets variable_manager._hostvars, so that `hostvars` is defined
        HostVars(inventory=self.inventory, variable_manager=self.variable_manager, loader=self.loader)
        self._host_vars: dict[str, dict] = {}
        self._file_cache: dict[Path, Any] = {}

    def default_host(self) -> str:
        groups = self.inventory.groups
        if CONTROLLER_GROUP in groups:
            hosts = groups[CONTROLLER_GROUP].get_hosts()
            if hosts:
                return hosts[0].name
        return "localhost"

    def host_vars(self, host: str | None = None) -> dict:
        """Merged variables of ``host`` (a new dict each call; values are not templated)."""
        name = host or self.default_host()
        with _lock:
            if name not in self._host_vars:
                host_obj = self.inventory.get_host(name)
                if host_obj is None:
                    raise KeyError(f"host {name!r} not in inventory {self.path}")
                self._host_vars[name] = self.variable_manager.get_vars(host=host_obj, include_hostvars=True)
            return dict(self._host_vars[name])

    def load_vars_file(self, directory: Path, name: str = "main") -> dict:
        """Vars from ``<directory>/main{,.yml,.yaml,.json}`` or ``<directory>/main/``, trusted as templates."""
        with _lock:
            key = directory / name
            if key not in self._file_cache:
                merged: dict = {}
                if directory.is_dir():
                    for found in self.loader.find_vars_files(str(directory), name):
                        data = self.loader.load_from_file(found, trusted_as_template=True)
                        if data:
                            if not isinstance(data, Mapping):
                                raise ValueError(f"{found} must contain a mapping")
                            merged.update(data)
                self._file_cache[key] = merged
            return dict(self._file_cache[key])


@functools.lru_cache(maxsize=32)
def _load_inventory_cached(path: str) -> InventoryContext:
    return InventoryContext(path)


def load_inventory(inventory: str | os.PathLike) -> InventoryContext:
    """A cached :class:`InventoryContext` per inventory path."""
    return _load_inventory_cached(str(Path(inventory).resolve()))


# --------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------

class Renderer:
    """Variables and templates of one role for one inventory host.

    >>> r = Renderer("inventories/dev", "postgres_operator")
    >>> r.render_var("_postgres_operator_values")
    >>> r.render_template("cluster.yaml.j2")   # list of documents
    """

    def __init__(self, inventory: str | os.PathLike | InventoryContext, role: str | os.PathLike, *,
                 host: str | None = None, extra_vars: Mapping[str, Any] | None = None,
                 roles_path: Iterable[str | os.PathLike] | None = None,
                 trust_extra_vars: bool = False):
        self.context = inventory if isinstance(inventory, InventoryContext) else load_inventory(inventory)
        self.role_path = resolve_role(role, roles_path)
        self.role_name = self.role_path.name
        self.host = host or self.context.default_host()
        extra = dict(extra_vars or {})
        self.extra_vars = _trust_deep(extra) if trust_extra_vars else extra
        self._variables: dict | None = None
        self._templar = None

    @property
    def variables(self) -> dict:
        """Raw (untemplated) merged variables: role defaults < inventory < role vars < extra vars."""
        if self._variables is None:
            ctx = self.context
            merged: dict[str, Any] = {}
            merged.update(ctx.load_vars_file(self.role_path / "defaults"))
            merged.update(ctx.host_vars(self.host))
            merged.update(ctx.load_vars_file(self.role_path / "vars"))
            merged.update(self.extra_vars)
            merged.setdefault("role_path", str(self.role_path))
            merged.setdefault("role_name", self.role_name)
            merged.setdefault("ansible_role_name", f"{COLLECTION_NAMESPACE}.{COLLECTION_NAME}.{self.role_name}")
            merged.setdefault("ansible_search_path", [str(self.role_path), str(REPO_ROOT)])
            self._variables = merged
        return self._variables

    @property
    def templar(self):
        if self._templar is None:
            from ansible.template import Templar

            self._templar = Templar(loader=self.context.loader, variables=self.variables)
        return self._templar

    def render_expression(self, expression: str, native: bool = True) -> Any:
        """Evaluate a Jinja expression (e.g. ``"foo | combine(bar)"``) with the role's variables."""
        from ansible.template import trust_as_template

        with _lock:
            self.context.loader.set_basedir(str(self.role_path))
            value = self.templar.evaluate_expression(trust_as_template(expression))
        return to_native(value) if native else value

    def render_var(self, name: str, native: bool = True) -> Any:
        """Fully templated value of variable ``name``; KeyError if it is not defined."""
        if name not in self.variables:
            raise KeyError(f"variable {name!r} is not defined for role {self.role_name} "
                           f"(inventory {self.context.path}, host {self.host})")
        with _lock:
            self.context.loader.set_basedir(str(self.role_path))
            value = self.templar.template(self.variables[name])
        return to_native(value) if native else value

    def template_path(self, relpath: str) -> Path:
        path = self.role_path / "templates" / relpath
        if not path.is_file():
            raise FileNotFoundError(f"template {relpath!r} not found in {self.role_path / 'templates'}")
        return path

    def render_template_text(self, relpath: str, extra_vars: Mapping[str, Any] | None = None) -> str:
        """Text of ``templates/<relpath>`` rendered as the ``template`` module would."""
        from ansible._internal._templating import _template_vars
        from ansible.template import trust_as_template

        path = self.template_path(relpath)
        with _lock:
            loader = self.context.loader
            loader.set_basedir(str(self.role_path))
            source = trust_as_template(loader.get_text_file_contents(str(path)))
            variables = dict(self.variables)
            variables.update(_template_vars.generate_ansible_template_vars(
                path=relpath, fullpath=str(path), dest_path=None,
                include_ansible_managed="ansible_managed" not in variables))
            if extra_vars:
                variables.update(extra_vars)
            searchpath = [str(path.parent), str(self.role_path / "templates"), str(self.role_path)]
            templar = self.templar.copy_with_new_env(searchpath=searchpath, available_variables=variables)
            result = templar.template(source, escape_backslashes=False,
                                      overrides=dict(trim_blocks=True, lstrip_blocks=False))
        if result is None:
            return ""
        if not isinstance(result, str):
            # a template consisting of a single expression may evaluate to a non-string
            from ansible.module_utils.common.text.converters import to_text

            return to_text(to_native(result))
        return str.__str__(result)

    def render_template(self, relpath: str, extra_vars: Mapping[str, Any] | None = None) -> list:
        """YAML documents of ``templates/<relpath>`` after rendering (empty documents dropped)."""
        text = self.render_template_text(relpath, extra_vars)
        try:
            docs = list(yaml.safe_load_all(text))
        except yaml.YAMLError as exc:
            numbered = "\n".join(f"{i + 1:4d} | {line}" for i, line in enumerate(text.splitlines()))
            raise ValueError(f"{self.role_name}/templates/{relpath} rendered to invalid YAML: {exc}\n"
                             f"{numbered}") from exc
        return [d for d in docs if d not in (None, "", {}, [])]

    def templates(self, pattern: str = "**/*") -> list[str]:
        """Template paths (relative to ``templates/``) matching ``pattern``."""
        base = self.role_path / "templates"
        if not base.is_dir():
            return []
        return sorted(str(p.relative_to(base)) for p in base.glob(pattern) if p.is_file())


def renderer(inventory: str | os.PathLike, role: str | os.PathLike, **kwargs: Any) -> Renderer:
    """Shorthand for :class:`Renderer`."""
    return Renderer(inventory, role, **kwargs)


def render_var(inventory: str | os.PathLike, role: str | os.PathLike, name: str, *,
               host: str | None = None, extra_vars: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
    """Fully templated variable ``name`` of ``role`` for ``inventory``."""
    return Renderer(inventory, role, host=host, extra_vars=extra_vars, **kwargs).render_var(name)


def render_template(inventory: str | os.PathLike, role: str | os.PathLike, relpath: str, *,
                    host: str | None = None, extra_vars: Mapping[str, Any] | None = None,
                    **kwargs: Any) -> list:
    """YAML documents rendered from ``role``'s ``templates/<relpath>`` for ``inventory``."""
    return Renderer(inventory, role, host=host, extra_vars=extra_vars, **kwargs).render_template(relpath)


def inventory_group_vars(inventory: str | os.PathLike) -> dict:
    """The merged group_vars/all/*.yml of an inventory (relative to the repository root)."""
    found: dict = {}
    for path in sorted((REPO_ROOT / inventory / "group_vars/all").glob("*.yml")):
        found.update(yaml.safe_load(path.read_text()) or {})
    return found


def preflight_facts(inventory: str | os.PathLike, **extra: Any) -> dict:
    """What mlops.stack.preflight publishes at runtime for an inventory (the globals every role
    reads), plus the pinned versions, for rendering a role's variables and templates."""
    found = inventory_group_vars(inventory)
    values = {
        "mlops_labels": {"app.kubernetes.io/part-of": "mlops-stack", "app.kubernetes.io/managed-by": "mlops.stack",
                         **found.get("mlops_common_labels", {})},
        "mlops_storage_class": found.get("mlops_storage_class", ""),
        "mlops_image_registry": found.get("mlops_image_registry", ""),
        "mlops_size_profile": found.get("mlops_size_profile", "small"),
        "mlops_namespace_prefix": found.get("mlops_namespace_prefix", "mlops"),
        "mlops_cluster_flavor": found.get("mlops_cluster_flavor", "generic"),
        "mlops_domain": found.get("mlops_domain", "localhost"),
        "mlops_tls_enabled": found.get("mlops_tls_enabled", False),
        "mlops_tls_secret_name": found.get("mlops_tls_secret_name", ""),
        "_mlops_versions": yaml.safe_load((REPO_ROOT / "roles/common/vars/versions.yml").read_text())["_mlops_versions"],
        # Every component the inventory does not switch off (<component>_enabled defaults to true).
        "mlops_enabled_components": [c["name"] for c in yaml.safe_load((REPO_ROOT / "roles/common/vars/components.yml").read_text())["_mlops_components"]
                                     if str(found.get(f"{c['name']}_enabled", True)).lower() not in ("false", "no", "0")],
        "ansible_check_mode": False,
    }
    values.update(extra)
    return values
