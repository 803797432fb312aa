"""Renders and checks deploy/kubernetes without a cluster, kubectl or kustomize (for
tests/tests/deploy.rs).

  deploy_check.py render DIR                     the manifests `kubectl apply -k DIR` applies
  deploy_check.py check DIR --secret FILE -k 1.28 [-k 1.37]
                                                 validate them and their references
  deploy_check.py pod DIR --secret FILE --index N --namespace NS --out OUT
                                                 OUT/config.yaml and OUT/env.json as pod N sees them

`render` implements the part of kustomize these kustomizations use, and refuses anything
else rather than render it wrongly: `resources` (files and directories), `configMapGenerator`
with `files` (named with a content hash computed as kustomize's hasher does, checked
against its test vectors, and the pod template's references to it renamed), and `patches` given by `path` as strategic-merge
patches, with merge keys for the lists of a pod spec.

`check` validates every manifest, and the Secret template, with kubernetes-validate's strict
schemas (unknown fields are errors) for each given Kubernetes version. The ServiceMonitor is
a custom resource those schemas do not have: it is checked against SERVICE_MONITOR_SCHEMA
below, a strict subset of the Prometheus Operator's monitoring.coreos.com/v1 CRD. Then the
references between the manifests, the Secret and config.yaml are checked (CROSS CHECKS).
Exit status 1 and one line per problem when anything is wrong.
"""

import argparse
import copy
import hashlib
import json
import os
import re
import sys

import jsonschema
import kubernetes_validate.utils as kv
import yaml


def die(msg):
    raise SystemExit(f"deploy_check: {msg}")


def load_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def ident(d):
    return f"{d.get('kind')}/{d.get('metadata', {}).get('name')}"


# ---------------------------------------------------------------- render

SUPPORTED = {"apiVersion", "kind", "resources", "configMapGenerator", "patches"}


def kustomize_hash(cm):
    """kustomize's api/hasher: sha256 of the ConfigMap encoded as Go's json.Marshal would
    (sorted keys, no spaces, <>& escaped), first 10 hex digits with 0 1 3 a e swapped for
    g h k m t."""
    enc = {"kind": "ConfigMap", "name": cm["metadata"]["name"], "data": cm["data"]}
    text = json.dumps(enc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]
    return digest.translate(str.maketrans("013ae", "ghkmt"))


# kustomize's own test vectors (api/hasher/hasher_test.go): `check` fails if these drift.
HASH_VECTORS = [({"one": ""}, "9g67k2htb6"), ({"two": 2, "one": "", "three": 3}, "7757f9kkct")]


def generate_configmap(kdir, gen):
    extra = set(gen) - {"name", "files"}
    if extra:
        die(f"{kdir}: configMapGenerator keys not supported here: {sorted(extra)}")
    data = {}
    for entry in gen.get("files", []):
        key, _, path = entry.rpartition("=")
        with open(os.path.join(kdir, path), encoding="utf-8") as f:
            data[key or os.path.basename(path)] = f.read()
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": gen["name"]}, "data": data}
    cm["metadata"]["name"] = f"{gen['name']}-{kustomize_hash(cm)}"
    return gen["name"], cm


def rename_configmap_refs(doc, renames):
    """The references kustomize's name-reference transformer fixes in a pod template."""
    spec = doc.get("spec", {}).get("template", {}).get("spec")
    if not spec:
        return
    for vol in spec.get("volumes", []):
        if "configMap" in vol and vol["configMap"].get("name") in renames:
            vol["configMap"]["name"] = renames[vol["configMap"]["name"]]
    for c in spec.get("containers", []) + spec.get("initContainers", []):
        for ef in c.get("envFrom", []):
            ref = ef.get("configMapRef", {})
            if ref.get("name") in renames:
                ref["name"] = renames[ref["name"]]
        for e in c.get("env", []):
            ref = e.get("valueFrom", {}).get("configMapKeyRef", {})
            if ref.get("name") in renames:
                ref["name"] = renames[ref["name"]]


# Strategic merge: lists of these fields merge item by item on the key; any other list in a
# patch is refused (kustomize would replace or merge it depending on the field's schema).
MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name",
              "volumes": "name", "volumeMounts": "mountPath"}


def smp(base, patch, where):
    if not isinstance(patch, dict) or not isinstance(base, dict):
        if isinstance(patch, list):
            die(f"patch of the list {where}: no merge key known for it here")
        return copy.deepcopy(patch)
    out = dict(base)
    for k, v in patch.items():
        if k.startswith("$"):
            die(f"patch directive {k} at {where}: not supported here")
        if v is None:
            out.pop(k, None)
        elif isinstance(v, list) and k in MERGE_KEYS:
            key = MERGE_KEYS[k]
            items = [copy.deepcopy(i) for i in out.get(k, [])]
            for item in v:
                hit = [n for n, i in enumerate(items) if i.get(key) == item.get(key)]
                if hit:
                    items[hit[0]] = smp(items[hit[0]], item, f"{where}.{k}")
                else:
                    items.append(copy.deepcopy(item))
            out[k] = items
        elif k in out:
            out[k] = smp(out[k], v, f"{where}.{k}")
        elif isinstance(v, list) and not isinstance(v[0] if v else None, (dict, list)):
            out[k] = list(v)
        elif isinstance(v, list):
            die(f"patch adds the list {where}.{k}: no merge key known for it here")
        else:
            out[k] = copy.deepcopy(v)
    return out


def render(kdir):
    path = os.path.join(kdir, "kustomization.yaml")
    with open(path, encoding="utf-8") as f:
        k = yaml.safe_load(f)
    extra = set(k) - SUPPORTED
    if extra:
        die(f"{path}: fields not supported by this renderer: {sorted(extra)}")
    docs = []
    for r in k.get("resources", []):
        p = os.path.normpath(os.path.join(kdir, r))
        docs += render(p) if os.path.isdir(p) else load_docs(p)
    renames = {}
    for gen in k.get("configMapGenerator", []):
        name, cm = generate_configmap(kdir, gen)
        renames[name] = cm["metadata"]["name"]
        docs.insert(0, cm)
    for d in docs:
        rename_configmap_refs(d, renames)
    for p in k.get("patches", []):
        if set(p) != {"path"}:
            die(f"{path}: only `patches: - path: FILE` (strategic merge) is supported here")
        for patch in load_docs(os.path.join(kdir, p["path"])):
            hits = [n for n, d in enumerate(docs) if ident(d) == ident(patch)]
            if len(hits) != 1:
                die(f"{p['path']}: patch target {ident(patch)} not found in the resources")
            docs[hits[0]] = smp(docs[hits[0]], patch, ident(patch))
    names = [ident(d) for d in docs]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        die(f"{kdir}: resources defined twice: {sorted(dup)}")
    return docs


# ---------------------------------------------------------------- check

DURATION = r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
SERVICE_MONITOR_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {
            "type": "object", "required": ["name"], "additionalProperties": False,
            "properties": {"name": {"type": "string"}, "namespace": {"type": "string"},
                           "labels": LABELS, "annotations": LABELS},
        },
        "spec": {
            "type": "object", "required": ["selector", "endpoints"], "additionalProperties": False,
            "properties": {
                "jobLabel": {"type": "string"},
                "namespaceSelector": {
                    "type": "object", "additionalProperties": False,
                    "properties": {"any": {"type": "boolean"},
                                   "matchNames": {"type": "array", "items": {"type": "string"}}},
                },
                "selector": {
                    "type": "object", "additionalProperties": False,
                    "properties": {"matchLabels": LABELS,
                                   "matchExpressions": {"type": "array"}},
                },
                "endpoints": {
                    "type": "array", "minItems": 1,
                    "items": {
                        "type": "object", "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "targetPort": {"type": ["string", "integer"]},
                            "path": {"type": "string"},
                            "scheme": {"enum": ["http", "https"]},
                            "interval": {"type": "string", "pattern": DURATION},
                            "scrapeTimeout": {"type": "string", "pattern": DURATION},
                            "honorLabels": {"type": "boolean"},
                        },
                    },
                },
            },
        },
    },
}


def schema_problems(doc, versions):
    if doc.get("kind") == "ServiceMonitor":
        v = jsonschema.Draft202012Validator(SERVICE_MONITOR_SCHEMA)
        return [f"{ident(doc)} (ServiceMonitor schema): {'.'.join(map(str, e.path))}: {e.message}"
                for e in v.iter_errors(doc)]
    out = []
    for ver in versions:
        try:
            kv.validate(doc, ver, strict=True)
        except kv.ValidationError as e:
            out.append(f"{ident(doc)} (Kubernetes {e.version}): "
                       f"{'.'.join(map(str, e.path))}: {e.message}")
        except (kv.SchemaNotFoundError, kv.VersionNotSupportedError) as e:
            out.append(f"{ident(doc)} (Kubernetes {ver}): {e.message}")
    return out


def get(d, path, default=None):
    for p in path.split("."):
        if not isinstance(d, dict) or p not in d:
            return default
        d = d[p]
    return d


# Config key of each container port, by port name, with the proxy's defaults.
CONFIG_PORTS = {"kafka": ("server.port", 9092), "health": ("monitoring.health.port", 8080),
                "metrics": ("monitoring.metrics.port", 9090), "admin": ("admin_api.port", 8000),
                "schema-registry": ("schema_registry.port", 8081)}
CONFIG_PATH = "/etc/kafkatwin/config.yaml"  # the image's ENTRYPOINT reads it


def cross_problems(docs, secret):
    """CROSS CHECKS: what no schema sees, but would leave pods unscheduled, unready,
    unreachable or unscraped."""
    p = []
    of = lambda kind: [d for d in docs if d["kind"] == kind]  # noqa: E731
    sts = of("StatefulSet")
    if len(sts) != 1:
        return [f"expected one StatefulSet, found {len(sts)}"]
    sts = sts[0]
    pod_labels = get(sts, "spec.template.metadata.labels", {})
    selects = lambda sel: bool(sel) and all(pod_labels.get(k) == v for k, v in sel.items())  # noqa: E731
    pod = sts["spec"]["template"]["spec"]
    c = pod["containers"][0]
    ports = {pt["name"]: pt["containerPort"] for pt in c.get("ports", [])}

    if not selects(get(sts, "spec.selector.matchLabels")):
        p.append("StatefulSet selector does not match its pod template's labels")
    services = {s["metadata"]["name"]: s for s in of("Service")}
    for name, s in services.items():
        if not selects(get(s, "spec.selector")):
            p.append(f"Service/{name} selects no pod of the StatefulSet")
        for sp in s["spec"].get("ports", []):
            if sp.get("targetPort") not in ports and sp.get("targetPort") not in ports.values():
                p.append(f"Service/{name} port {sp.get('name')}: targetPort "
                         f"{sp.get('targetPort')} is no container port")
    headless = services.get(sts["spec"].get("serviceName"))
    if not headless or headless["spec"].get("clusterIP") != "None":
        p.append(f"StatefulSet serviceName {sts['spec'].get('serviceName')} is no headless Service")
    if "replicas" in sts["spec"] and of("HorizontalPodAutoscaler"):
        p.append("StatefulSet sets replicas while an HPA owns the count: apply would reset it")
    for h in of("HorizontalPodAutoscaler"):
        ref = h["spec"]["scaleTargetRef"]
        if (ref.get("kind"), ref.get("name")) != ("StatefulSet", sts["metadata"]["name"]):
            p.append(f"HPA/{h['metadata']['name']} targets {ref}, not the StatefulSet")
    for b in of("PodDisruptionBudget"):
        if not selects(get(b, "spec.selector.matchLabels")):
            p.append(f"PodDisruptionBudget/{b['metadata']['name']} selects no pod")
    for m in of("ServiceMonitor"):
        want = get(m, "spec.selector.matchLabels", {})
        hit = [s for s in services.values()
               if all(get(s, "metadata.labels", {}).get(k) == v for k, v in want.items())]
        if len(hit) != 1:
            p.append(f"ServiceMonitor/{m['metadata']['name']} selects {len(hit)} Services, "
                     "not one (pods would be scraped 0 or several times)")
        for e in m["spec"]["endpoints"]:
            if hit and e.get("port") not in [sp.get("name") for sp in hit[0]["spec"]["ports"]]:
                p.append(f"ServiceMonitor endpoint port {e.get('port')} is not a port of "
                         f"Service/{hit[0]['metadata']['name']}")
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        port = get(c, f"{probe}.httpGet.port")
        if port is not None and port not in ports and port not in ports.values():
            p.append(f"{probe} port {port} is no container port")

    # config.yaml: mounted where the image reads it, and its ports are the container's.
    cms = {d["metadata"]["name"]: d for d in of("ConfigMap")}
    mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
    config = None
    for vol in pod.get("volumes", []):
        if "configMap" not in vol:
            continue
        cm = cms.get(vol["configMap"]["name"])
        if cm is None:
            p.append(f"volume {vol['name']} names ConfigMap {vol['configMap']['name']}, "
                     "which is not rendered")
        elif mounts.get(vol["name"]) and "config.yaml" in cm.get("data", {}):
            if os.path.join(mounts[vol["name"]], "config.yaml") == CONFIG_PATH:
                config = yaml.safe_load(cm["data"]["config.yaml"])
    if config is None:
        p.append(f"no ConfigMap with config.yaml is mounted at {CONFIG_PATH}")
    else:
        for name, (key, default) in CONFIG_PORTS.items():
            want = get(config, key, default)
            if ports.get(name) != want:
                p.append(f"container port {name} is {ports.get(name)}, config {key} is {want}")

    # Secrets: every reference names the Secret template and one of its keys.
    keys = set(secret.get("stringData", {})) | set(secret.get("data", {}))
    for e in c.get("env", []):
        ref = get(e, "valueFrom.secretKeyRef")
        if ref and (ref.get("name") != secret["metadata"]["name"] or ref.get("key") not in keys):
            p.append(f"env {e['name']} reads {ref}, not a key of Secret/"
                     f"{secret['metadata']['name']} ({sorted(keys)})")
    host = [e.get("value", "") for e in c.get("env", [])
            if e["name"] == "KAFKATWIN_SERVER__ADVERTISED_HOST"]
    if not host or f".{sts['spec'].get('serviceName')}." not in host[0]:
        p.append("KAFKATWIN_SERVER__ADVERTISED_HOST does not name the pod under the "
                 "StatefulSet's headless Service")
    return p


# ---------------------------------------------------------------- pod

def expand(s, env):
    """Kubernetes' $(VAR) expansion: only variables defined earlier, `$$` escapes, an
    unknown reference stays as written."""
    out, i = [], 0
    while i < len(s):
        j = s.find(")", i)
        if s.startswith("$$", i):
            out.append("$")
            i += 2
        elif s.startswith("$(", i) and j != -1 and s[i + 2:j] in env:
            out.append(env[s[i + 2:j]])
            i = j + 1
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def pod_env(docs, secret, index, namespace):
    """The container's environment in pod `index`, with the downward API as the StatefulSet
    controller and kubelet fill it; secret values are the template's placeholders."""
    sts = next(d for d in docs if d["kind"] == "StatefulSet")
    labels = dict(get(sts, "spec.template.metadata.labels", {}))
    labels["apps.kubernetes.io/pod-index"] = str(index)  # set by the controller (1.28+)
    fields = {"metadata.name": f"{sts['metadata']['name']}-{index}",
              "metadata.namespace": namespace}
    values = dict(secret.get("stringData", {}))
    env, secret_env = {}, []
    for e in sts["spec"]["template"]["spec"]["containers"][0].get("env", []):
        src = e.get("valueFrom", {})
        if "value" in e:
            env[e["name"]] = expand(e["value"], env)
        elif "fieldRef" in src:
            fp = src["fieldRef"]["fieldPath"]
            m = re.fullmatch(r"metadata\.labels\['([^']+)'\]", fp)
            val = labels.get(m.group(1)) if m else fields.get(fp)
            if val is None:
                die(f"env {e['name']}: {fp} has no value in the pod")
            env[e["name"]] = val
        elif "secretKeyRef" in src:
            env[e["name"]] = values[src["secretKeyRef"]["key"]]
            secret_env.append(e["name"])
        else:
            die(f"env {e['name']}: source not simulated here: {sorted(src)}")
    return env, secret_env


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("render")
    r.add_argument("dir")
    c = sub.add_parser("check")
    c.add_argument("dir")
    c.add_argument("--secret", required=True)
    c.add_argument("-k", "--kubernetes-version", action="append", required=True)
    q = sub.add_parser("pod")
    q.add_argument("dir")
    q.add_argument("--secret", required=True)
    q.add_argument("--index", type=int, required=True)
    q.add_argument("--namespace", required=True)
    q.add_argument("--out", required=True)
    a = ap.parse_args()

    docs = render(a.dir)
    if a.cmd == "render":
        # config.yaml as a readable block, not one long quoted line.
        yaml.SafeDumper.add_representer(str, lambda d, s: d.represent_scalar(
            "tag:yaml.org,2002:str", s, style="|" if "\n" in s else None))
        yaml.safe_dump_all(docs, sys.stdout, sort_keys=False)
        return 0
    (secret,) = load_docs(a.secret)
    if a.cmd == "check":
        problems = [f"ConfigMap hash of {data} is {kustomize_hash(cm)}, kustomize's is {want}"
                    for data, want in HASH_VECTORS
                    for cm in [{"metadata": {"name": ""}, "data": data}]
                    if kustomize_hash(cm) != want]
        for d in docs + [secret]:
            problems += schema_problems(d, a.kubernetes_version)
        problems += cross_problems(docs, secret)
        print(f"{a.dir}: {len(docs)} manifests ({', '.join(ident(d) for d in docs)}) "
              f"+ {ident(secret)}; Kubernetes {', '.join(a.kubernetes_version)}; "
              f"kubernetes-validate {kv.__version__}")
        for pr in problems:
            print(f"PROBLEM {pr}")
        return 1 if problems else 0
    env, secret_env = pod_env(docs, secret, a.index, a.namespace)
    cm = next(d for d in docs if d["kind"] == "ConfigMap")
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "config.yaml"), "w", encoding="utf-8") as f:
        f.write(cm["data"]["config.yaml"])
    with open(os.path.join(a.out, "env.json"), "w", encoding="utf-8") as f:
        json.dump({"env": env, "secret_env": secret_env}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
