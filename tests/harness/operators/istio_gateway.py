"""Simulated Istio ingress gateway (Envoy configured by istiod, Istio 1.30): requests through the
gateway Service are routed by their Host header as the VirtualServices bound to its Gateways say.

No Envoy runs in the emulator and no webhook injects it: the emulated Deployment controller makes
the gateway chart's pods (``image: auto``) Ready as they are. For every Service that selects such
a gateway pod (pod annotation ``inject.istio.io/templates: gateway``, which the ``gateway`` chart
sets and istiod's injector reads), this plugin registers a small HTTP proxy as the backend of each
Service port, keyed by the port's ``targetPort`` (the port Envoy listens on, which a ``Gateway``
server's ``port.number`` names). A request there is answered as Envoy would, following Istio's
reference for ``Gateway`` and ``VirtualService`` (istio.io/latest/docs/reference/config/networking/):

- No Ready gateway pod: 503 (the API server's "no endpoints available"). No server of an
  applicable Gateway on that port: 503 (nothing listens).
- A ``Gateway`` applies to the gateway pods whose labels match its ``spec.selector`` (any
  namespace: ``PILOT_SCOPE_GATEWAY_TO_NAMESPACE`` is off by default). A server's ``hosts`` are
  ``[namespace/]dnsName`` (``*`` and a leading ``*.`` wildcard; namespace ``*``, ``.`` for the
  Gateway's own, or a name: only VirtualServices of that namespace bind); the request's host must
  match one of them. ``tls.httpsRedirect`` on the server answers 301 to ``https://<host><path>``.
- A ``VirtualService`` binds to a Gateway through ``spec.gateways`` (``<namespace>/<name>``, or a
  bare name in the VirtualService's namespace; without ``gateways`` it applies to the mesh only),
  and its ``hosts`` (exact or ``*.`` wildcard) must match the request's host. Bound
  VirtualServices for the same host are merged oldest first (creationTimestamp); their ``http``
  rules are tried in order and the first whose ``match`` (any of its conditions: ``uri``
  ``exact`` / ``prefix`` / ``regex``, ``method``, ``headers`` ``exact`` / ``prefix``, ``port``;
  none means every request) holds decides. No rule: 404 (Envoy's "NR").
- The rule's ``directResponse`` or ``redirect`` answers itself; its ``route`` sends the request to
  the destination with the highest ``weight`` (the first on a tie: the emulator does not split
  traffic). ``destination.host`` is a Kubernetes Service as ``<name>.<namespace>.svc.<domain>``,
  or a short ``<name>``, which Istio reads in the VirtualService's namespace (not the Service's);
  ``destination.port.number`` may be left out when the Service has one port. An unknown Service
  or port: 503 (no healthy upstream).
- The destination answers through the emulated API server's service proxy, so it is the Service's
  backend exactly as the emulator knows it (a registered real server, or the "ok" of a healthy
  app, or 503 without Ready pods).

Left out: TLS (HTTPS server ports are served like HTTP), ``rewrite``, retries, timeouts, fault
injection, mirroring, ``sourceLabels`` / ``gateways`` inside a match, ``exportTo``, Gateway API
resources and anything mesh-internal (sidecars).
"""
from __future__ import annotations

import re
import urllib.error
import urllib.request
from typing import Optional

from tests.harness.operators._backend import PerCluster, QuietHandler, StandInServer

ISTIO_VERSIONS = ("networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3")
WATCHES = [(v, k) for v in ISTIO_VERSIONS for k in ("Gateway", "VirtualService")] + [("v1", "Service"), ("v1", "Pod")]
GATEWAY_TEMPLATE_ANNOTATION = "inject.istio.io/templates"

# Per emulator (ApiServer object id): the proxy serving its gateway Services.
_PROXIES = PerCluster(lambda ctx: _Proxy(ctx._srv.url))  # pylint: disable=protected-access


def pods(obj: dict) -> list:  # pylint: disable=unused-argument
    """None: the gateway chart's Deployment makes the pods (the emulated controller runs them)."""
    return []


# -- routing (pure functions of a snapshot, table-tested) ------------------------------------ #
def host_matches(pattern: str, host: str) -> bool:
    """Istio's host matching: ``*`` anything, ``*.example.com`` any subdomain, else exact."""
    pattern, host = pattern.lower(), host.lower()
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return pattern == host


def _selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def _server_allows(server_host: str, gateway_ns: str, vs_ns: str, host: str) -> bool:
    namespace, sep, dns = server_host.partition("/")
    if not sep:
        namespace, dns = "*", server_host
    if namespace == ".":
        namespace = gateway_ns
    return (namespace == "*" or namespace == vs_ns) and host_matches(dns, host)


def _binds(vs: dict, gateway: dict) -> bool:
    vs_ns = vs["metadata"].get("namespace", "default")
    gw_md = gateway["metadata"]
    for ref in (vs.get("spec") or {}).get("gateways") or []:
        ns, sep, name = ref.partition("/")
        if not sep:
            ns, name = vs_ns, ref
        if ns == gw_md.get("namespace") and name == gw_md["name"]:
            return True
    return False


def _condition_holds(cond: dict, method: str, path: str, headers: dict, port: int) -> bool:
    uri = cond.get("uri") or {}
    plain = path.split("?", 1)[0]
    if "exact" in uri and plain != uri["exact"]:
        return False
    if "prefix" in uri and not plain.startswith(uri["prefix"]):
        return False
    if "regex" in uri and re.fullmatch(uri["regex"], plain) is None:
        return False
    if "exact" in (cond.get("method") or {}) and method != cond["method"]["exact"]:
        return False
    if cond.get("port") and int(cond["port"]) != port:
        return False
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, rule in (cond.get("headers") or {}).items():
        value = lowered.get(name.lower())
        if value is None or ("exact" in rule and value != rule["exact"]) or \
                ("prefix" in rule and not value.startswith(rule["prefix"])):
            return False
    return True


def destination_service(host: str, vs_ns: str) -> Optional[tuple]:
    """(namespace, name) of the Kubernetes Service a destination host names, or None."""
    parts = host.split(".")
    if len(parts) == 1:
        return vs_ns, parts[0]
    if len(parts) >= 3 and parts[2] == "svc":
        return parts[1], parts[0]
    return None


def route(snapshot: dict, gateway: tuple, port: int, method: str, host: str, path: str, headers: dict) -> dict:
    """What the gateway does with one request: ``{"status", "body"}`` (answered here, with
    ``location`` for redirects) or ``{"forward": (namespace, service, port)}``."""
    gw = snapshot["gateways"].get(gateway)
    if gw is None or not gw["ready"]:
        return {"status": 503, "body": f'no endpoints available for service "{gateway[1]}"'}
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    applicable = [g for g in snapshot["gateway_objects"] if _selects((g.get("spec") or {}).get("selector"), gw["labels"])]
    servers = [(g, s) for g in applicable for s in (g.get("spec") or {}).get("servers") or []
               if int((s.get("port") or {}).get("number", -1)) == port]
    if not servers:
        return {"status": 503, "body": f"upstream connect error: nothing listens on port {port}"}
    # Envoy's virtual hosts on this port: the servers whose hosts take the request's host, and
    # the VirtualServices bound to their Gateways for that host (namespace rules applied).
    candidates = []
    for vs in sorted(snapshot["virtual_services"], key=lambda v: (v["metadata"].get("creationTimestamp", ""), v["metadata"]["name"])):
        vs_ns = vs["metadata"].get("namespace", "default")
        if not any(host_matches(h, host) for h in (vs.get("spec") or {}).get("hosts") or []):
            continue
        bound = [s for g, s in servers if _binds(vs, g)
                 and any(_server_allows(h, g["metadata"].get("namespace"), vs_ns, host) for h in s.get("hosts") or [])]
        if bound:
            candidates.append((vs, bound))
    if not candidates:
        return {"status": 404, "body": ""}
    if any((s.get("tls") or {}).get("httpsRedirect") for _vs, bound in candidates for s in bound):
        return {"status": 301, "body": "", "location": f"https://{host}{path}"}
    for vs, _bound in candidates:
        vs_ns = vs["metadata"].get("namespace", "default")
        for rule in (vs.get("spec") or {}).get("http") or []:
            conditions = rule.get("match") or [{}]
            if not any(_condition_holds(c, method, path, headers, port) for c in conditions):
                continue
            if rule.get("directResponse"):
                answer = rule["directResponse"]
                return {"status": int(answer.get("status", 200)), "body": ((answer.get("body") or {}).get("string") or "")}
            if rule.get("redirect"):
                target = rule["redirect"]
                return {"status": int(target.get("redirectCode", 301)), "body": "",
                        "location": f"{target.get('scheme', 'http')}://{target.get('authority', host)}{target.get('uri', path)}"}
            destinations = rule.get("route") or []
            if not destinations:
                return {"status": 404, "body": ""}
            best = max(destinations, key=lambda d: (d.get("weight", 100 if len(destinations) == 1 else 0), -destinations.index(d)))
            dest = best.get("destination") or {}
            service = destination_service(dest.get("host", ""), vs_ns)
            ports = snapshot["services"].get(service) if service else None
            if ports is None:
                return {"status": 503, "body": "no healthy upstream"}
            number = (dest.get("port") or {}).get("number")
            if number is None and len(ports) == 1:
                number = ports[0]
            if number is None or int(number) not in ports:
                return {"status": 503, "body": "no healthy upstream"}
            return {"forward": (service[0], service[1], int(number))}
    return {"status": 404, "body": ""}


# -- the proxy ---------------------------------------------------------------------------- #
class _Proxy(StandInServer):
    def __init__(self, api_url: str):
        super().__init__(_Handler, "istio-gateway-stand-in")
        self.api_url = api_url
        self.snapshot: dict = {"gateways": {}, "gateway_objects": [], "virtual_services": [], "services": {}}


class _Handler(QuietHandler):
    def _handle(self) -> None:
        parts = self.path.split("/", 4)
        if len(parts) < 4 or not parts[3].isdigit():
            return self.answer(404, b"not a gateway port")
        gateway, port = (parts[1], parts[2]), int(parts[3])
        path = "/" + (parts[4] if len(parts) > 4 else "")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
        decision = route(self.server.snapshot, gateway, port, self.command, self.headers.get("Host", ""), path, dict(self.headers))
        if "forward" not in decision:
            return self.answer(decision["status"], decision["body"].encode(), location=decision.get("location", ""))
        namespace, service, target_port = decision["forward"]
        url = f"{self.server.api_url}/api/v1/namespaces/{namespace}/services/{service}:{target_port}/proxy{path}"
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
        request = urllib.request.Request(url, data=body, method=self.command, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return self.answer(answer.status, answer.read(), answer.headers.get("Content-Type", "text/plain"))
        except urllib.error.HTTPError as exc:
            # Envoy passes the upstream's answer on; "no endpoints" of the Service is its 503.
            return self.answer(exc.code, exc.read(), exc.headers.get("Content-Type", "text/plain"))
        except OSError as exc:
            return self.answer(503, f"upstream connect error: {exc}".encode())

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle  # noqa: N815


def _gateway_pod_labels(pod: dict) -> Optional[dict]:
    md = pod.get("metadata") or {}
    if (md.get("annotations") or {}).get(GATEWAY_TEMPLATE_ANNOTATION) != "gateway" or md.get("deletionTimestamp"):
        return None
    return md.get("labels") or {}


def reconcile(ctx) -> None:
    gateway_pods = [(p, labels) for p in ctx.list("v1", "Pod") for labels in [_gateway_pod_labels(p)] if labels is not None]
    services = ctx.list("v1", "Service")
    gateways: dict = {}
    for svc in services:
        md, spec = svc["metadata"], svc.get("spec") or {}
        selector = spec.get("selector") or {}
        backing = [(p, labels) for p, labels in gateway_pods
                   if selector and p["metadata"].get("namespace") == md.get("namespace") and _selects(selector, labels)]
        if backing:
            gateways[(md.get("namespace"), md["name"])] = {
                "labels": backing[0][1], "ready": any(ctx.pod_ready(p) for p, _l in backing),
                "ports": [(p.get("port"), p.get("targetPort", p.get("port"))) for p in spec.get("ports") or []]}
    proxy = _PROXIES.get(ctx, create=bool(gateways))
    if proxy is None:
        return
    proxy.snapshot = {
        "gateways": gateways,
        "gateway_objects": ctx.list("networking.istio.io/v1", "Gateway"),
        "virtual_services": ctx.list("networking.istio.io/v1", "VirtualService"),
        "services": {(s["metadata"].get("namespace"), s["metadata"]["name"]):
                     [int(p["port"]) for p in (s.get("spec") or {}).get("ports") or []] for s in services},
    }
    for (namespace, name), gw in gateways.items():
        for port, target in gw["ports"]:
            if isinstance(target, int) or str(target).isdigit():
                ctx.serve(namespace, name, port, f"{proxy.url}/{namespace}/{name}/{int(target)}")


def shutdown(ctx) -> None:
    _PROXIES.close(ctx)
