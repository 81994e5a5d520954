#!/usr/bin/env python3
"""Offline checks of deploy/ for scripts/check-deploy (which renders the kustomizations first).

  check_deploy.py manifests --out DIR RENDERED.yaml...
      Validates rendered manifests: built-in kinds against the Kubernetes OpenAPI schemas
      (kubernetes-validate, strict), ServiceMonitor / PrometheusRule against the strict schemas in
      deploy/schemas/, and keeps every Deployment in step with the config file in its ConfigMap
      (admin port, probes, grace period above shutdown_timeout, writable paths on volumes,
      secrets only through secretKeyRef, hardening; a StatefulSet likewise, and every disk
      buffer on one of its volumeClaimTemplates, within the claim's size). Writes each overlay's config file to
      DIR/config-<name>.toml and the PrometheusRule groups to DIR/entrastream-rules.yml.

  check_deploy.py metrics SCRAPE.txt
      Every metric name used by an alert or a dashboard panel must be in the scrape, or in
      deploy/monitoring/metric-allowlist.txt (which is printed).

Exit status 0 when everything holds, 1 with one line per problem otherwise.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
MONITORING = ROOT / "deploy" / "monitoring"
SCHEMAS = ROOT / "deploy" / "schemas"
OPERATIONS = ROOT / "docs" / "operations.md"
K8S_VERSION = "1.32.0"
CONTAINER = "entrastream"
ENV_SET_BY_WORKLOAD_IDENTITY = {
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_AUTHORITY_HOST",
}
SECRET_LIKE_ENV = re.compile(r"(KEY|SECRET|PASSWORD|TOKEN|CONNECTION_STRING)", re.I)

problems: list[str] = []


def fail(msg: str) -> None:
    problems.append(msg)
    print(f"  FAIL {msg}")


def ok(msg: str) -> None:
    print(f"  ok   {msg}")


def duration_seconds(text: str) -> float:
    """`25s`, `1m30s`, `500ms`, `2h` as the config crate accepts them."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)", text)
    if not parts or "".join(n + u for n, u in parts) != text.replace(" ", ""):
        raise ValueError(f"unrecognised duration {text!r}")
    return sum(float(n) * units[u] for n, u in parts)


def walk_keys(node, prefix=""):
    """Yields (dotted key, value) for every leaf of a TOML tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk_keys(v, f"{prefix}.{k}" if prefix else k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk_keys(v, f"{prefix}[{i}]")
    else:
        yield prefix, node


# ---------------------------------------------------------------------------------------------
# manifests


def validate_builtin(doc: dict, where: str) -> None:
    import kubernetes_validate

    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        ok(f"{where}: valid for Kubernetes {K8S_VERSION} (strict)")
    except kubernetes_validate.ValidationError as e:
        path = "/".join(str(p) for p in e.path)
        fail(f"{where}: {path}: {e.message}")
    except kubernetes_validate.SchemaNotFoundError as e:
        fail(f"{where}: no Kubernetes schema ({e})")


def validate_crd(doc: dict, where: str) -> None:
    import jsonschema

    schema_file = SCHEMAS / f"{doc['kind'].lower()}.schema.json"
    schema = json.loads(schema_file.read_text())
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(doc), key=lambda e: list(e.path)
    )
    for e in errors:
        fail(f"{where}: {'/'.join(str(p) for p in e.path)}: {e.message} ({schema_file.name})")
    if not errors:
        ok(f"{where}: valid against deploy/schemas/{schema_file.name}")


WORKLOAD_KINDS = ("Deployment", "StatefulSet")


def quantity_bytes(text: str) -> int:
    """A Kubernetes quantity (`25Gi`, `500M`) or a config size (`20GiB`, `1MB`) in bytes."""
    m = re.fullmatch(r"\s*(\d+)\s*([KMGT]i?)?B?\s*", str(text))
    if not m:
        raise ValueError(f"unrecognised size {text!r}")
    n, unit = int(m.group(1)), m.group(2) or ""
    powers = {"": 0, "K": 1, "M": 2, "G": 3, "T": 4}
    base = 1024 if unit.endswith("i") else 1000
    return n * base ** powers[unit.rstrip("i")]


def mount_of(mounts: dict, path: str):
    """The mount a path lies on: the longest mountPath that is a prefix of it."""
    under = [p for p in mounts if path.startswith(p.rstrip("/") + "/")]
    return mounts[max(under, key=len)] if under else None


def check_deployment(docs: list[dict], name: str, out: Path) -> None:
    deps = [d for d in docs if d.get("kind") in WORKLOAD_KINDS]
    if len(deps) != 1:
        fail(f"{name}: expected one Deployment or StatefulSet, found {len(deps)}")
        return
    dep = deps[0]
    pod = dep["spec"]["template"]["spec"]
    containers = [c for c in pod["containers"] if c["name"] == CONTAINER]
    if not containers:
        fail(f"{name}: no container named {CONTAINER}")
        return
    c = containers[0]

    # The config file: the ConfigMap mounted where --config points.
    args = c.get("args", [])
    config_path = args[args.index("--config") + 1] if "--config" in args else None
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    cfg_text = None
    if config_path:
        mdir, fname = config_path.rsplit("/", 1)
        m = mounts.get(mdir)
        cm_name = volumes.get(m["name"], {}).get("configMap", {}).get("name") if m else None
        for d in docs:
            if d.get("kind") == "ConfigMap" and d["metadata"]["name"] == cm_name:
                cfg_text = d.get("data", {}).get(fname)
    if cfg_text is None:
        fail(f"{name}: --config {config_path} is not a file of a mounted ConfigMap")
        return
    cfg_file = out / f"config-{name}.toml"
    cfg_file.write_text(cfg_text)
    cfg = tomllib.loads(cfg_text)
    ok(f"{name}: config {config_path} comes from ConfigMap (written to {cfg_file})")

    # Admin port and probes.
    listen = cfg.get("admin", {}).get("listen", "0.0.0.0:9464")
    port = int(listen.rsplit(":", 1)[1])
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    if ports.get("admin") != port:
        fail(f"{name}: containerPort 'admin' is {ports.get('admin')}, [admin] listen is {listen}")
    else:
        ok(f"{name}: containerPort admin = {port} = [admin] listen")
    if listen.startswith("127.") or listen.startswith("localhost"):
        fail(f"{name}: [admin] listen {listen} is loopback: probes and scrapes cannot reach it")
    for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
        get = c.get(probe, {}).get("httpGet", {})
        if get.get("path") != path or get.get("port") not in ("admin", port):
            fail(f"{name}: {probe} must GET {path} on the admin port, has {get}")
    ok(f"{name}: liveness /livez, readiness /readyz on the admin port")

    # Grace period above the drain on SIGTERM.
    shutdown = duration_seconds(cfg.get("pipeline", {}).get("shutdown_timeout", "30s"))
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if grace <= shutdown:
        fail(f"{name}: terminationGracePeriodSeconds {grace} <= shutdown_timeout {shutdown:g}s")
    else:
        ok(f"{name}: terminationGracePeriodSeconds {grace} > shutdown_timeout {shutdown:g}s")

    # Hardening.
    sc = c.get("securityContext", {})
    psc = pod.get("securityContext", {})
    checks = {
        "runAsNonRoot": sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True,
        "numeric non-root runAsUser": (sc.get("runAsUser", psc.get("runAsUser")) or 0) > 0,
        "readOnlyRootFilesystem": sc.get("readOnlyRootFilesystem") is True,
        "allowPrivilegeEscalation false": sc.get("allowPrivilegeEscalation") is False,
        "capabilities drop ALL": "ALL" in sc.get("capabilities", {}).get("drop", []),
        "seccomp RuntimeDefault": (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        == "RuntimeDefault",
    }
    bad = [k for k, v in checks.items() if not v]
    if bad:
        fail(f"{name}: securityContext lacks {', '.join(bad)}")
    else:
        ok(f"{name}: securityContext {', '.join(checks)}")
    if not pod.get("topologySpreadConstraints"):
        fail(f"{name}: no topologySpreadConstraints")

    # Workload identity.
    labels = dep["spec"]["template"]["metadata"].get("labels", {})
    sa_name = pod.get("serviceAccountName")
    sas = [d for d in docs if d.get("kind") == "ServiceAccount" and d["metadata"]["name"] == sa_name]
    if labels.get("azure.workload.identity/use") != "true":
        fail(f"{name}: pod label azure.workload.identity/use: \"true\" missing")
    elif not sas or "azure.workload.identity/client-id" not in sas[0]["metadata"].get("annotations", {}):
        fail(f"{name}: ServiceAccount {sa_name} lacks azure.workload.identity/client-id")
    else:
        ok(f"{name}: workload identity label and ServiceAccount {sa_name} client-id annotation")

    # Secrets: only from Secrets, never inline; every *_env / *_file the config names exists.
    # The base is not deployed alone: its overlays add the source's secret references.
    env = {e["name"]: e for e in c.get("env", [])}
    deployable = name != "base"
    for e in env.values():
        if SECRET_LIKE_ENV.search(e["name"]) and "value" in e:
            fail(f"{name}: env {e['name']} has an inline value; use valueFrom.secretKeyRef")
    for key, value in walk_keys(cfg):
        if key.endswith("_env") and isinstance(value, str):
            e = env.get(value)
            if value in ENV_SET_BY_WORKLOAD_IDENTITY or not deployable:
                continue
            if not e:
                fail(f"{name}: config {key} = {value!r} but the container sets no such variable")
            elif "secretKeyRef" not in e.get("valueFrom", {}):
                fail(f"{name}: {value} must come from a Secret (valueFrom.secretKeyRef)")
            else:
                ref = e["valueFrom"]["secretKeyRef"]
                ok(f"{name}: {key} = {value} from Secret {ref['name']}/{ref['key']}")
        if key.endswith("_file") and isinstance(value, str):
            under = [m for p, m in mounts.items() if value.startswith(p.rstrip("/") + "/")]
            if not under or "secret" not in volumes.get(under[0]["name"], {}):
                fail(f"{name}: config {key} = {value!r} is not inside a mounted Secret")
        if re.search(r"(^|\.)(connection_string|sasl_password|token|key)$", key):
            fail(f"{name}: config {key} is a secret written inline; use {key}_env or {key}_file")

    # Writable paths: file sinks, the dead-letter file, a file checkpoint store, disk buffers.
    writable = []
    claims = {t["metadata"]["name"]: t for t in dep["spec"].get("volumeClaimTemplates", [])}
    buffers = []
    for i, s in enumerate(cfg.get("sinks", [])):
        if s.get("type") in ("file", "dead_letter") and "path" in s:
            writable.append((f"sinks[{i}].path", s["path"]))
        b = s.get("buffer", {})
        if b.get("type") == "disk" and "path" in b:
            writable.append((f"sinks[{i}].buffer.path", b["path"].rstrip("/") + "/"))
            buffers.append((i, b))
    if "path" in cfg.get("dead_letter", {}):
        writable.append(("dead_letter.path", cfg["dead_letter"]["path"]))
    if cfg.get("checkpoint", {}).get("type") == "file" and "path" in cfg["checkpoint"]:
        writable.append(("checkpoint.path", cfg["checkpoint"]["path"] + "/"))
    for key, path in writable:
        m = mount_of(mounts, path)
        vol = volumes.get(m["name"], {}) if m else {}
        if not m or m.get("readOnly") or not (
            "emptyDir" in vol or "persistentVolumeClaim" in vol or "ephemeral" in vol
            or m["name"] in claims
        ):
            fail(f"{name}: {key} = {path} is not on a writable volume (root is read-only)")
        else:
            ok(f"{name}: {key} = {path} on writable volume {m['name']}")
    # A disk buffer holds records the checkpoint has already passed: it must outlive the pod
    # (a claim of the StatefulSet, or a PersistentVolumeClaim), and its max_size must fit.
    used: dict[str, int] = {}
    for i, b in buffers:
        m = mount_of(mounts, b["path"].rstrip("/") + "/")
        if not m:
            continue
        vol = volumes.get(m["name"], {})
        if m["name"] not in claims and "persistentVolumeClaim" not in vol:
            fail(
                f"{name}: sinks[{i}].buffer.path = {b['path']} is on volume {m['name']}, which dies "
                "with the pod; put disk buffers on a PersistentVolumeClaim (a StatefulSet's "
                "volumeClaimTemplates, see deploy/overlays/buffered)"
            )
            continue
        # A buffer may pass max_size by one segment (64 MiB at most) while a batch is appended.
        need = quantity_bytes(b.get("max_size", "0")) + (64 << 20)
        used[m["name"]] = used.get(m["name"], 0) + need
    for claim, total in used.items():
        if claim not in claims:
            continue
        size = quantity_bytes(claims[claim]["spec"]["resources"]["requests"]["storage"])
        if total > size:
            fail(f"{name}: disk buffers on claim {claim} may take {total} bytes, the claim requests {size}")
        else:
            ok(f"{name}: disk buffers on claim {claim}: max_size + a segment each = {total} bytes <= {size} requested")
    if "/tmp" not in mounts:
        fail(f"{name}: no writable /tmp volume")


def check_runbooks(rules_doc: dict) -> None:
    text = OPERATIONS.read_text() if OPERATIONS.exists() else ""
    anchors = set()
    for line in text.splitlines():
        m = re.match(r"^#{1,6}\s+(.*)$", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            anchors.add(slug)
    for g in rules_doc["spec"]["groups"]:
        for r in g["rules"]:
            if "alert" not in r:
                continue
            url = r.get("annotations", {}).get("runbook_url", "")
            anchor = url.split("#", 1)[1] if "#" in url else ""
            if "docs/operations.md#" not in url or anchor not in anchors:
                fail(f"alert {r['alert']}: runbook_url {url!r} has no section in docs/operations.md")
            else:
                ok(f"alert {r['alert']}: runbook docs/operations.md#{anchor}")
            if "severity" not in r.get("labels", {}):
                fail(f"alert {r['alert']}: no severity label")


def cmd_manifests(args) -> None:
    import kubernetes_validate

    print(f"kubernetes-validate {kubernetes_validate.__version__ if hasattr(kubernetes_validate, '__version__') else ''}".strip())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for rendered in args.rendered:
        name = Path(rendered).stem
        docs = [d for d in yaml.safe_load_all(Path(rendered).read_text()) if d]
        print(f"{name}: {len(docs)} objects")
        for d in docs:
            where = f"{name}: {d['kind']}/{d['metadata']['name']}"
            if d["apiVersion"].startswith("monitoring.coreos.com/"):
                validate_crd(d, where)
            else:
                validate_builtin(d, where)
        if any(d["kind"] in WORKLOAD_KINDS for d in docs):
            check_deployment(docs, name, out)
        for d in docs:
            if d["kind"] == "PrometheusRule":
                rules = out / "entrastream-rules.yml"
                rules.write_text(yaml.safe_dump({"groups": d["spec"]["groups"]}, sort_keys=False))
                ok(f"{name}: rule groups written to {rules}")
                check_runbooks(d)
            if d["kind"] == "ConfigMap" and any(k.endswith(".json") for k in d.get("data", {})):
                for k, v in d["data"].items():
                    try:
                        json.loads(v)
                        ok(f"{name}: dashboard {k} is JSON")
                    except json.JSONDecodeError as e:
                        fail(f"{name}: dashboard {k}: {e}")


# ---------------------------------------------------------------------------------------------
# metrics

PROMQL_WORDS = {
    "and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
    "group_left", "group_right", "inf", "nan", "atan2",
}


def promql_metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (a small lexer, enough for our own expressions):
    selector names plus names inside {__name__=~"a|b"}; label names, label values, functions,
    durations, numbers and Grafana variables are dropped."""
    names: set[str] = set()
    for m in re.finditer(r'__name__\s*=~?\s*"([^"]*)"', expr):
        names |= set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", m.group(1)))
    e = re.sub(r"\{[^}]*\}", " ", expr)
    e = re.sub(r'"[^"]*"', " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\$\{?\w+\}?", " ", e)
    e = re.sub(r"\b\d+(\.\d+)?([eE][+-]?\d+)?\b", " ", e)
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        tok = m.group(0)
        if tok in PROMQL_WORDS or re.match(r"\s*\(", e[m.end():]):
            continue
        names.add(tok)
    return names


def used_metric_names() -> dict[str, set[str]]:
    """name -> where it is used (alert names, dashboard panel titles)."""
    used: dict[str, set[str]] = {}
    rule_doc = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    for g in rule_doc["spec"]["groups"]:
        for r in g["rules"]:
            for n in promql_metric_names(r["expr"]):
                used.setdefault(n, set()).add(f"alert {r.get('alert') or r.get('record')}")
    dash = json.loads((MONITORING / "entrastream-dashboard.json").read_text())

    def panels(ps):
        for p in ps:
            yield p
            yield from panels(p.get("panels", []))

    for p in panels(dash.get("panels", [])):
        for t in p.get("targets", []):
            for n in promql_metric_names(t.get("expr", "")):
                used.setdefault(n, set()).add(f"panel {p['title']!r}")
    for v in dash.get("templating", {}).get("list", []):
        q = v.get("query")
        q = q.get("query", "") if isinstance(q, dict) else (q or "")
        for m in re.finditer(r"label_values\(\s*([a-zA-Z_:][\w:]*)", q):
            used.setdefault(m.group(1), set()).add(f"variable ${v['name']}")
    return used


def read_allowlist() -> dict[str, tuple[str, str]]:
    """name -> (section, reason)."""
    allow: dict[str, tuple[str, str]] = {}
    section = ""
    for line in (MONITORING / "metric-allowlist.txt").read_text().splitlines():
        body, _, reason = line.partition("#")
        body = body.strip()
        if not body:
            continue
        if body.startswith("["):
            section = body.strip("[]")
            continue
        allow[body] = (section, reason.strip())
    return allow


def cmd_metrics(args) -> None:
    scraped = set()
    for line in Path(args.scrape).read_text().splitlines():
        if line and not line.startswith("#"):
            scraped.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    print(f"scrape: {len(scraped)} sample names ({', '.join(sorted(scraped))})")
    allow = read_allowlist()
    print("allow-list (deploy/monitoring/metric-allowlist.txt): names not required in the scrape")
    for n, (section, reason) in allow.items():
        print(f"  [{section}] {n}: {reason}")
        if section == "pending" and not n.startswith("entrastream_"):
            fail(f"allow-list: pending name {n} lacks the entrastream_ prefix")
        if section == "external" and n.startswith("entrastream_"):
            fail(f"allow-list: {n} is ours; list it under [pending], not [external]")
    used = used_metric_names()
    for n in sorted(used):
        where = ", ".join(sorted(used[n]))
        if n in scraped:
            ok(f"{n} in the scrape ({where})")
            if n in allow:
                print(f"  NOTE {n} is now in the scrape: remove it from metric-allowlist.txt")
        elif n in allow:
            print(f"  allow {n} [{allow[n][0]}: {allow[n][1]}] ({where})")
        else:
            fail(f"{n} is used by {where} but is neither in a /metrics scrape nor allow-listed")
    for n in allow:
        if n not in used:
            fail(f"allow-list: {n} is not used by any alert or panel; drop it")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("manifests")
    m.add_argument("--out", required=True)
    m.add_argument("rendered", nargs="+")
    s = sub.add_parser("metrics")
    s.add_argument("scrape")
    args = ap.parse_args()
    {"manifests": cmd_manifests, "metrics": cmd_metrics}[args.cmd](args)
    if problems:
        print(f"{len(problems)} problem(s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
