#!/usr/bin/python3
"""Checks Kubernetes manifests offline: every document against tests/data/k8s/schema.json
(the part of the Kubernetes API the manifests use, nothing else allowed), then what a schema
cannot see: selectors that match their pods, Services that reach a named container port,
volume mounts with their volumes, claims that exist, trackday options that exist (from
`trackday CMD --help`), and service names in URLs that exist.

usage: k8s_check.py SCHEMA TRACKDAY FILE.yaml...   (exit 0: valid; 1: the problems, one a line)
"""
import json
import re
import subprocess
import sys
from urllib.parse import urlparse

import jsonschema
import yaml


def main():
    schema_path, trackday, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    schema = json.load(open(schema_path))
    docs, problems = [], []
    for f in files:
        for i, d in enumerate(yaml.safe_load_all(open(f))):
            if d is None:
                continue
            kind = d.get("kind") if isinstance(d, dict) else None
            where = "%s#%d (%s %s)" % (f, i + 1, kind, (d.get("metadata") or {}).get("name"))
            if kind not in schema["$defs"] or kind[0].islower():
                problems.append("%s: kind %s is not one of %s" % (where, kind, [k["$ref"].split("/")[-1] for k in schema["oneOf"]]))
                continue
            # The document's kind picks its schema, so errors name the field at fault.
            validator = jsonschema.Draft202012Validator({"$ref": "#/$defs/" + kind, "$defs": schema["$defs"]})
            for e in sorted(validator.iter_errors(d), key=lambda e: list(e.absolute_path)):
                path = "/".join(str(p) for p in e.absolute_path)
                problems.append("%s: %s: %s" % (where, path or "(top)", e.message))
            docs.append((where, d))
    by_kind = {}
    for where, d in docs:
        by_kind.setdefault(d["kind"], []).append((where, d))
    services = {d["metadata"]["name"] for _, d in by_kind.get("Service", [])}
    claims = {d["metadata"]["name"] for _, d in by_kind.get("PersistentVolumeClaim", [])}
    helps = {}

    def options_of(cmd):
        if cmd not in helps:
            out = subprocess.run([trackday, cmd, "--help"], capture_output=True, text=True)
            helps[cmd] = set(re.findall(r"(--[a-z][a-z0-9-]*)", out.stdout)) if out.returncode == 0 else None
        return helps[cmd]

    pod_labels = []
    for where, d in by_kind.get("Deployment", []):
        spec = d.get("spec", {})
        sel = spec.get("selector", {}).get("matchLabels", {})
        tpl = spec.get("template", {})
        labels = tpl.get("metadata", {}).get("labels", {})
        if not sel or any(labels.get(k) != v for k, v in sel.items()):
            problems.append("%s: selector %s does not match the pod labels %s" % (where, sel, labels))
        pod = tpl.get("spec", {})
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        ports = set()
        for c in pod.get("containers", []):
            for p in c.get("ports", []):
                ports |= {p.get("name"), p.get("containerPort")}
            for m in c.get("volumeMounts", []):
                if m["name"] not in volumes:
                    problems.append("%s: container %s mounts volume %s, which the pod does not have" % (where, c["name"], m["name"]))
            args = c.get("args", [])
            if not args:
                problems.append("%s: container %s has no trackday command in args" % (where, c["name"]))
                continue
            opts = options_of(args[0])
            if opts is None:
                problems.append("%s: 'trackday %s' is not a command" % (where, args[0]))
                continue
            for a in args[1:]:
                if a.startswith("--") and a.split("=")[0] not in opts:
                    problems.append("%s: 'trackday %s' has no option %s" % (where, args[0], a))
            for i, a in enumerate(args):
                if a == "--hub" and i + 1 < len(args):
                    host = urlparse(args[i + 1]).hostname
                    if host not in services:
                        problems.append("%s: --hub %s names no Service of these manifests" % (where, args[i + 1]))
            for e in c.get("env", []):
                if e["name"] == "TRACKDAY_HUB_DB" and "value" in e:
                    host = urlparse(e["value"]).hostname
                    if host not in services:
                        problems.append("%s: TRACKDAY_HUB_DB host %s is no Service of these manifests" % (where, host))
            for probe in ("readinessProbe", "livenessProbe"):
                port = c.get(probe, {}).get("httpGet", {}).get("port")
                if port is not None and port not in ports:
                    problems.append("%s: %s port %s is not a container port" % (where, probe, port))
        for name, v in volumes.items():
            claim = v.get("persistentVolumeClaim", {}).get("claimName")
            if claim and claim not in claims:
                problems.append("%s: volume %s claims %s, which these manifests do not define" % (where, name, claim))
        pod_labels.append((labels, ports))
    for where, d in by_kind.get("Service", []):
        spec = d.get("spec", {})
        if spec.get("type") == "ExternalName":
            continue
        sel = spec.get("selector", {})
        reached = [ports for labels, ports in pod_labels if all(labels.get(k) == v for k, v in sel.items())]
        if not reached:
            problems.append("%s: selector %s matches no pod of these manifests" % (where, sel))
            continue
        for p in spec.get("ports", []):
            target = p.get("targetPort", p.get("port"))
            if not any(target in ports for ports in reached):
                problems.append("%s: targetPort %s is no port of the pods it selects" % (where, target))
    for p in problems:
        print(p)
    print("%d documents, %d problems" % (len(docs), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
