#!/usr/bin/python
# Copyright: fedmesh.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: files
short_description: Several directories and small text files (owner, group, mode, content) in one call
version_added: 0.2.0
description:
  - Ensures a set of directories and text files in one module call, where C(ansible.builtin.file),
    C(ansible.builtin.copy) and C(ansible.builtin.template) take one call - and on a small node about 0.3 CPU
    seconds of start-up - per path. The fedmesh.cluster roles use it for the configuration, keyrings, unit
    drop-ins and folders a host needs, so a run that changes nothing costs one call.
  - Reads every path first; in check mode it reports what it would create, rewrite, C(chmod) or C(chown).
  - A directory that is a symbolic link to a directory is followed (its target is managed); a file that is a
    symbolic link is refused (writing it would replace the link).
  - Refuses the whole request before anything changes when an entry is wrong - a relative path, a path listed
    twice, a file whose folder neither exists nor is listed, an unknown owner or group, a mode that is not
    octal, a file that is a symbolic link, a path of the other kind - and the message names the entry (for example
    C(files[2].mode)). In check mode an owner or group that does not exist yet is a warning (a package the
    same run installs may create it).
  - A directory's missing parents are created first, as C(mkdir -p) does (root, V(0755)).
  - Files are written whole and atomically - a temporary file in the same folder, created with the final
    owner and mode, then renamed over the target. The content is text, written as UTF-8, exactly as given.
  - Owner, group and mode that are not given are left as they are on an existing path; a new path gets root
    (the user the module runs as) and mode V(0755) (directories), V(0644) (files) or V(0600) (secret files).
  - Not managed here - use C(ansible.builtin.file)/C(ansible.builtin.copy) for them - removal, symbolic links,
    binary content, SELinux contexts, ACLs and backups.
author:
  - fedmesh.cluster contributors (@fedmesh)
extends_documentation_fragment:
  - fedmesh.cluster.attributes
  - fedmesh.cluster.attributes.FULL_SUPPORT
options:
  directories:
    description: Directories, created in the order given (a parent before its children).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute, normalised path.
        type: path
        required: true
      owner:
        description: User name or numeric id.
        type: str
      group:
        description: Group name or numeric id.
        type: str
      mode:
        description: Octal mode as a string, for example V("0750").
        type: raw
  files:
    description: Text files whose content may be shown in the diff.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute, normalised path; its folder must exist or be listed in O(directories).
        type: path
        required: true
      content:
        description: The whole content.
        type: str
        required: true
      owner:
        description: User name or numeric id.
        type: str
      group:
        description: Group name or numeric id.
        type: str
      mode:
        description: Octal mode as a string, for example V("0644").
        type: raw
      diff:
        description: Show the content in the diff (content over 64 KiB is never shown, only its size and hash).
        type: bool
        default: true
  secret_files:
    description:
      - Files whose content is a secret (keyrings, keys, tokens). Their content is never logged
        (C(no_log)), never returned and never shown in the diff, which says only that it changes.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute, normalised path; its folder must exist or be listed in O(directories).
        type: path
        required: true
      content:
        description: The whole content.
        type: str
        required: true
      owner:
        description: User name or numeric id.
        type: str
      group:
        description: Group name or numeric id.
        type: str
      mode:
        description: Octal mode as a string; a new secret file gets V("0600").
        type: raw
notes:
  - The diff is one entry per path that changes (Ansible's list form), with the mode, owner and group on its
    first line.
seealso:
  - module: ansible.builtin.copy
  - module: ansible.builtin.file
"""

EXAMPLES = r"""
- name: Ceph's folders, config, a drop-in and a keyring in one call
  fedmesh.cluster.files:
    directories:
      - {path: /var/lib/ceph/fedmesh, owner: ceph, group: ceph, mode: "0750"}
      - {path: /etc/systemd/system/ceph-mon@.service.d, mode: "0755"}
    files:
      - path: /etc/ceph/ceph.conf
        content: "{{ lookup('ansible.builtin.template', 'ceph.conf.j2') }}"
        mode: "0644"
      - path: /etc/systemd/system/ceph-mon@.service.d/fedmesh-mesh.conf
        content: "[Unit]\nAfter=wg-quick@wg0.service\n"
    secret_files:
      - path: /etc/ceph/ceph.client.admin.keyring
        content: "{{ admin_keyring }}"
        owner: root
        mode: "0600"
  register: ceph_files

- name: Reload systemd when a drop-in changed
  ansible.builtin.systemd_service:
    daemon_reload: true
  when: ceph_files.changed_paths | select('search', '\\.service\\.d/') | list | length > 0
"""

RETURN = r"""
changed_paths:
  description: The paths created or changed (in check mode, that would be), in the order given.
  returned: always
  type: list
  elements: str
  sample: ["/etc/ceph/ceph.conf"]
commands:
  description: What was done (or would be), one line per step; never a secret's content.
  returned: always
  type: list
  elements: str
  sample: ["write /etc/ceph/ceph.conf", "chmod 0600 /etc/ceph/ceph.client.admin.keyring"]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fedmesh.cluster.plugins.module_utils.common.module import run_module
from ansible_collections.fedmesh.cluster.plugins.module_utils.files.backend import FilesBackend

_ENTRY = dict(path=dict(type="path", required=True), owner=dict(type="str"), group=dict(type="str"),
              mode=dict(type="raw"))

ARGUMENT_SPEC = dict(
    directories=dict(type="list", elements="dict", default=[], options=dict(_ENTRY)),
    files=dict(type="list", elements="dict", default=[],
               options=dict(_ENTRY, content=dict(type="str", required=True), diff=dict(type="bool", default=True))),
    # no_log on the content only: on the whole list it would mask every path, owner and mode in the output too.
    secret_files=dict(type="list", elements="dict", default=[], no_log=False,
                      options=dict(_ENTRY, content=dict(type="str", required=True, no_log=True))),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, FilesBackend(module.params, module.check_mode))


if __name__ == "__main__":
    main()
