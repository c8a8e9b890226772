"""The emulated API server: resource registry (discovery) (see the package docstring)."""

from __future__ import annotations

import re
from typing import Optional

import yaml

from .util import BUILTIN_RESOURCES, STD_VERBS, _meta


# --------------------------------------------------------------------------- #
# Resource registry (discovery)
# --------------------------------------------------------------------------- #


def _version_priority(version: str) -> tuple:
    m = re.match(r"^v(\d+)(?:(alpha|beta)(\d+))?$", version)
    if not m:
        return (0, 0, 0, 0)
    return (1, {None: 3, "beta": 2, "alpha": 1}[m[2]], int(m[1]), int(m[3] or 0))


class ResourceType:
    """One served resource (group, version, plural) with its discovery data."""

    def __init__(self, group: str, version: str, plural: str, kind: str, namespaced: bool,
                 singular: str = "", verbs: Optional[list] = None, short_names: Optional[list] = None,
                 categories: Optional[list] = None, subresources: Optional[dict] = None,
                 crd: Optional[str] = None):
        self.group, self.version, self.plural, self.kind = group, version, plural, kind
        self.namespaced, self.singular = namespaced, singular or kind.lower()
        self.verbs = list(verbs if verbs is not None else STD_VERBS)
        self.short_names, self.categories = list(short_names or []), list(categories or [])
        self.subresources = dict(subresources or {})  # name -> discovery entry
        self.crd = crd

    @property
    def gv(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def gr(self) -> tuple:
        return (self.group, self.plural)

    @property
    def qualified(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def discovery(self) -> list:
        entry = {"name": self.plural, "singularName": self.singular, "namespaced": self.namespaced,
                 "kind": self.kind, "verbs": self.verbs}
        if self.short_names:
            entry["shortNames"] = self.short_names
        if self.categories:
            entry["categories"] = self.categories
        return [entry] + [dict(v) for v in self.subresources.values()]


class Registry:
    """Served resource types: the bundled builtins plus registered CRD versions."""

    def __init__(self):
        self.types: dict = {}          # (group, version, plural) -> ResourceType
        self.group_versions: dict = {}  # group -> [versions], preferred first
        self.crd_keys: dict = {}        # CRD name -> [(group, version, plural)]

    def load_bundled(self) -> None:
        for rlist in yaml.load(BUILTIN_RESOURCES.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            gv = rlist["groupVersion"]
            group, version = gv.rsplit("/", 1) if "/" in gv else ("", gv)
            parents = {}
            for r in rlist["resources"]:
                if "/" in r["name"]:
                    continue
                rt = ResourceType(group, version, r["name"], r["kind"], r["namespaced"],
                                  r.get("singularName", ""), r.get("verbs", []), r.get("shortNames"),
                                  r.get("categories"))
                parents[r["name"]] = rt
                self.add(rt, sort=False)
            for r in rlist["resources"]:
                if "/" in r["name"]:
                    parent, sub = r["name"].split("/", 1)
                    if parent in parents:
                        entry = {k: v for k, v in r.items() if k not in ("shortNames", "categories")}
                        parents[parent].subresources[sub] = entry

    def add(self, rt: ResourceType, sort: bool = True) -> None:
        self.types[(rt.group, rt.version, rt.plural)] = rt
        versions = self.group_versions.setdefault(rt.group, [])
        if rt.version not in versions:
            versions.append(rt.version)
            if sort:
                versions.sort(key=_version_priority, reverse=True)

    def remove(self, key: tuple) -> None:
        self.types.pop(key, None)
        group, version, unused = key
        if not any(k[0] == group and k[1] == version for k in self.types):
            versions = self.group_versions.get(group, [])
            if version in versions:
                versions.remove(version)
            if not versions:
                self.group_versions.pop(group, None)

    def get(self, group: str, version: str, plural: str) -> Optional[ResourceType]:
        return self.types.get((group, version, plural))

    def resources(self, group: str, version: str) -> list:
        return [rt for (g, v, unused), rt in self.types.items() if g == group and v == version]

    def for_gr(self, gr: tuple) -> Optional[ResourceType]:
        """The preferred-version type for a (group, plural) storage key."""
        for version in self.group_versions.get(gr[0], []):
            rt = self.types.get((gr[0], version, gr[1]))
            if rt:
                return rt
        return None

    def for_kind(self, api_version: str, kind: str) -> Optional[ResourceType]:
        group, version = api_version.rsplit("/", 1) if "/" in api_version else ("", api_version)
        for (g, v, unused), rt in self.types.items():
            if g == group and v == version and rt.kind == kind:
                return rt
        for (g, unused_version, unused_plural), rt in self.types.items():
            if g == group and rt.kind == kind:
                return rt
        return None

    def register_crd(self, crd: dict) -> list:
        """Serve every served version of a CustomResourceDefinition; returns the keys added."""
        name = _meta(crd).get("name")
        self.unregister_crd(name)
        spec = crd.get("spec") or {}
        names, group = spec.get("names") or {}, spec.get("group")
        if not (group and names.get("plural") and names.get("kind")):
            return []
        versions = spec.get("versions") or ([{"name": spec["version"]}] if spec.get("version") else [])
        keys = []
        for v in versions:
            if not v.get("served", True):
                continue
            subs = v.get("subresources") or spec.get("subresources") or {}
            namespaced = spec.get("scope", "Namespaced") == "Namespaced"
            entries = {}
            if "status" in subs:
                entries["status"] = {"name": f"{names['plural']}/status", "singularName": "",
                                     "namespaced": namespaced, "kind": names["kind"],
                                     "verbs": ["get", "patch", "update"]}
            if "scale" in subs:
                entries["scale"] = {"name": f"{names['plural']}/scale", "singularName": "",
                                    "namespaced": namespaced, "group": "autoscaling", "version": "v1",
                                    "kind": "Scale", "verbs": ["get", "patch", "update"]}
            rt = ResourceType(group, v["name"], names["plural"], names["kind"], namespaced,
                              names.get("singular") or names["kind"].lower(), STD_VERBS,
                              names.get("shortNames"), names.get("categories"), entries, crd=name)
            rt.scale_paths = subs.get("scale") or {}
            self.add(rt)
            keys.append((group, v["name"], names["plural"]))
        self.crd_keys[name] = keys
        return keys

    def unregister_crd(self, name: str) -> None:
        for key in self.crd_keys.pop(name, []):
            self.remove(key)
