"""Copies the strict Kubernetes JSON schemas shipped in the kubernetes-validate wheel
into a directory kubeconform can read offline, with their references to
"/api/_definitions.json" rewritten to the local copy beside them (absolute file:// URLs:
kubeconform does not resolve relative ones, so regenerate after moving the directory).

    python k8s-local-schemas.py OUT_DIR
writes OUT_DIR/<version>/<kind>-<group>-<version>.json for the newest version the wheel ships.
"""
import json
import pathlib
import sys

import kubernetes_validate

ROOT = pathlib.Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
REMOTE_REF = "/api/_definitions.json"


def rewrite(node, local: str):
    """kubeconform resolves only absolute references: file:///…/_definitions.json#/$defs/…"""
    if isinstance(node, dict):
        return {k: (v.replace(REMOTE_REF, local, 1) if k == "$ref" and isinstance(v, str) else rewrite(v, local)) for k, v in node.items()}
    if isinstance(node, list):
        return [rewrite(v, local) for v in node]
    return node


def remote_refs(node):
    """Every $ref that still points away from the local files."""
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k == "$ref" and isinstance(v, str) and (v.startswith("/") or ("://" in v and not v.startswith("file://")))]
        return found + [r for k, v in node.items() for r in remote_refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in remote_refs(v)]
    return []


def main(out: pathlib.Path) -> None:
    versions = sorted(p for p in ROOT.iterdir() if p.name.endswith("-local-strict"))
    if not versions:
        sys.exit(f"no *-local-strict schemas under {ROOT}")
    for source in versions[-1:]:
        target = out / source.name.removesuffix("-local-strict")
        target.mkdir(parents=True, exist_ok=True)
        count = 0
        for schema in source.glob("*.json"):
            data = rewrite(json.loads(schema.read_text()), (target / "_definitions.json").resolve().as_uri())
            # Its $id (https://kubernetes.io/api/...) would make the references inside it remote again.
            if schema.name == "_definitions.json":
                data.pop("$id", None)
            (target / schema.name).write_text(json.dumps(data))
            count += 1
        left = sum(bool(remote_refs(json.loads(p.read_text()))) for p in target.glob("*.json"))
        if left:
            sys.exit(f"{target}: {left} files still have remote $ref")
        print(f"[kubeconform] {count} strict schemas for {target.name}", file=sys.stderr)


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]))
