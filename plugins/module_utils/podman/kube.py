# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to fedmesh.cluster (not a public API: other collections must not import it).

Kubernetes Pod (or Deployment) YAML: parsing, validation of the supported subset, canonical rendering.

The subset is what ``podman kube play`` (4.2+) runs and what a Kubernetes cluster accepts unchanged: one
Pod (``v1``) or Deployment (``apps/v1``, 1 replica) with containers (image, command, args, env values, ports,
volume mounts, working dir, resources, securityContext), ``hostPath``/``emptyDir``/``persistentVolumeClaim``
volumes, ``restartPolicy`` and ``hostNetwork``.  Anything else is refused naming its path, so nothing is
silently dropped.  The rendered text is JSON (valid YAML, accepted by kube play and kubectl alike), with
sorted keys: the same input always renders to the same bytes, which the change detection hashes.
"""

# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional

from ..common.errors import FedmeshError

FIELD = "definition"
GPU_RESOURCE = "nvidia.com/gpu"
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
POD_KEYS = {"containers", "volumes", "restartPolicy", "hostNetwork", "hostname", "securityContext",
            "initContainers", "terminationGracePeriodSeconds"}
CONTAINER_KEYS = {"name", "image", "command", "args", "env", "ports", "volumeMounts", "workingDir",
                  "resources", "securityContext", "imagePullPolicy", "stdin", "tty"}
VOLUME_KINDS = {"hostPath", "emptyDir", "persistentVolumeClaim"}
MAX_TEXT = 1 << 20


def _fail(path: str, problem: str, fix: Optional[str] = None) -> FedmeshError:
    return FedmeshError(f"{path}: {problem}" if path else problem, field=FIELD, fix=fix)


def load(definition: Any) -> Dict[str, Any]:
    """A mapping from a mapping, or from YAML/JSON text (one document)."""
    if isinstance(definition, dict):
        return definition
    if not isinstance(definition, str) or not definition.strip():
        raise _fail("", "must be a Pod or Deployment as a mapping or as YAML text")
    if len(definition) > MAX_TEXT:
        raise _fail("", f"is {len(definition)} characters; at most {MAX_TEXT}")
    try:
        doc = json.loads(definition)
    except ValueError:
        try:
            import yaml  # python3-yaml; the role installs it
        except ImportError:
            raise _fail("", "is not JSON and PyYAML is missing on the node",
                        fix="install python3-yaml or pass the definition as a mapping") from None
        try:
            docs = [d for d in yaml.safe_load_all(definition) if d is not None]
        except yaml.YAMLError as exc:
            raise _fail("", f"is not valid YAML ({str(exc).splitlines()[0]})") from None
        if len(docs) != 1:
            raise _fail("", f"holds {len(docs)} YAML documents; give exactly one Pod or Deployment") from None
        doc = docs[0]
    if not isinstance(doc, dict):
        raise _fail("", "must be a mapping (a Pod or Deployment)")
    return doc


def _check_keys(obj: Any, allowed: set, path: str) -> Dict[str, Any]:
    if not isinstance(obj, dict):
        raise _fail(path, "must be a mapping")
    extra = sorted(set(obj) - allowed)
    if extra:
        raise _fail(f"{path}.{extra[0]}", "is not in the supported Pod subset",
                    fix="see docs/podman.md for the fields supported on Podman and Kubernetes alike")
    return obj


def _check_list(obj: Any, path: str) -> List[Any]:
    if not isinstance(obj, list):
        raise _fail(path, "must be a list")
    return obj


def _check_container(c: Any, path: str, volumes: set) -> None:
    _check_keys(c, CONTAINER_KEYS, path)
    for key in ("name", "image"):
        if not isinstance(c.get(key), str) or not c[key].strip():
            raise _fail(f"{path}.{key}", "is required (a non-empty string)")
    if not NAME_RE.match(c["name"]):
        raise _fail(f"{path}.name", f"{c['name']!r} is not a DNS-1123 label (a-z, 0-9, '-')")
    for key in ("command", "args"):
        if key in c and not all(isinstance(a, (str, int, float)) for a in _check_list(c[key], f"{path}.{key}")):
            raise _fail(f"{path}.{key}", "must be a list of strings")
    for i, env in enumerate(c.get("env") or []):
        _check_keys(env, {"name", "value"}, f"{path}.env[{i}]")
        if not isinstance(env.get("name"), str) or not env["name"]:
            raise _fail(f"{path}.env[{i}].name", "is required")
    for i, port in enumerate(_check_list(c.get("ports", []), f"{path}.ports")):
        _check_keys(port, {"containerPort", "hostPort", "protocol", "name", "hostIP"}, f"{path}.ports[{i}]")
        for key in ("containerPort", "hostPort"):
            if key in port and (not isinstance(port[key], int) or isinstance(port[key], bool)
                                or not 1 <= port[key] <= 65535):
                raise _fail(f"{path}.ports[{i}].{key}", f"must be a port number 1-65535, got {port[key]!r}")
        if "containerPort" not in port:
            raise _fail(f"{path}.ports[{i}].containerPort", "is required")
        if port.get("protocol", "TCP") not in ("TCP", "UDP"):
            raise _fail(f"{path}.ports[{i}].protocol", "must be TCP or UDP")
    for i, mount in enumerate(_check_list(c.get("volumeMounts", []), f"{path}.volumeMounts")):
        _check_keys(mount, {"name", "mountPath", "readOnly", "subPath"}, f"{path}.volumeMounts[{i}]")
        if mount.get("name") not in volumes:
            raise _fail(f"{path}.volumeMounts[{i}].name", f"{mount.get('name')!r} is not a volume of the pod")
        if not str(mount.get("mountPath", "")).startswith("/"):
            raise _fail(f"{path}.volumeMounts[{i}].mountPath", "must be an absolute path")
    resources = c.get("resources") or {}
    _check_keys(resources, {"limits", "requests"}, f"{path}.resources")


def pod_spec(doc: Dict[str, Any]) -> Dict[str, Any]:
    """Validate ``doc`` (Pod or Deployment) and return its pod spec."""
    kind, api = doc.get("kind"), doc.get("apiVersion")
    _check_keys(doc, {"apiVersion", "kind", "metadata", "spec"}, "")
    name = (doc.get("metadata") or {}).get("name") if isinstance(doc.get("metadata"), dict) else None
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise _fail("metadata.name", f"must be a DNS-1123 name (a-z, 0-9, '-'), got {name!r}")
    spec: Any
    if (kind, api) == ("Pod", "v1"):
        spec, path = doc.get("spec"), "spec"
    elif (kind, api) == ("Deployment", "apps/v1"):
        dspec = _check_keys(doc.get("spec"), {"replicas", "selector", "template", "strategy"}, "spec")
        if dspec.get("replicas", 1) != 1:
            raise _fail("spec.replicas", "must be 1 (one pod per user and node under systemd)")
        template = _check_keys(dspec.get("template"), {"metadata", "spec"}, "spec.template")
        spec, path = template.get("spec"), "spec.template.spec"
    else:
        raise _fail("kind", f"must be Pod (apiVersion v1) or Deployment (apiVersion apps/v1), got {kind!r} {api!r}")
    spec = _check_keys(spec, POD_KEYS, path)
    volumes = set()
    for i, vol in enumerate(_check_list(spec.get("volumes", []), f"{path}.volumes")):
        _check_keys(vol, {"name"} | VOLUME_KINDS, f"{path}.volumes[{i}]")
        if len(set(vol) & VOLUME_KINDS) != 1:
            raise _fail(f"{path}.volumes[{i}]", "needs exactly one of " + ", ".join(sorted(VOLUME_KINDS)))
        if "hostPath" in vol and not str((vol["hostPath"] or {}).get("path", "")).startswith("/"):
            raise _fail(f"{path}.volumes[{i}].hostPath.path", "must be an absolute path")
        volumes.add(vol.get("name"))
    containers = _check_list(spec.get("containers"), f"{path}.containers")
    if not containers:
        raise _fail(f"{path}.containers", "needs at least one container")
    for i, c in enumerate(containers):
        _check_container(c, f"{path}.containers[{i}]", volumes)
    for i, c in enumerate(spec.get("initContainers") or []):
        _check_container(c, f"{path}.initContainers[{i}]", volumes)
    if spec.get("restartPolicy", "Always") not in ("Always", "OnFailure", "Never"):
        raise _fail(f"{path}.restartPolicy", "must be Always, OnFailure or Never")
    return spec


def render(doc: Dict[str, Any]) -> str:
    """The canonical text of the definition (sorted-key JSON: valid YAML for kube play and kubectl)."""
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def images(spec: Dict[str, Any]) -> List[str]:
    return sorted({c["image"] for c in spec["containers"] + list(spec.get("initContainers") or [])})


def gpu_count(spec: Dict[str, Any]) -> int:
    """GPUs the pod asks for (``resources.limits: nvidia.com/gpu``, summed over containers)."""
    total = 0
    for c in spec["containers"]:
        value = ((c.get("resources") or {}).get("limits") or {}).get(GPU_RESOURCE, 0)
        try:
            total += int(value)
        except (TypeError, ValueError):
            raise _fail(f"{c['name']}.resources.limits.{GPU_RESOURCE}", f"must be an integer, got {value!r}") from None
    return total


def host_ports(spec: Dict[str, Any]) -> List[int]:
    return sorted(p["hostPort"] for c in spec["containers"] for p in c.get("ports") or [] if "hostPort" in p)
