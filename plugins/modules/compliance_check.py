#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to sovereign.datacenter
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: compliance_check
short_description: Evaluate every host hardening control, read-only, with evidence
version_added: "0.1.0"
description:
  - Evaluates the hardening control catalogue of the collection (the same control ids and expected
    values as the C(sovereign.datacenter.hardening) role) in one call on one host.
  - Every control returns C(pass), C(fail), C(not_applicable) or C(waived), the evidence
    (file, value found, value expected) and its mapping to the CIS Debian Linux 12 Benchmark v1.1.0
    section, the SOC 2 trust services criteria, the PCI DSS 4.0 requirements and, where one maps,
    the ANSSI BP-028 v2.0 recommendation.
  - Reads files and runs a few read-only commands (C(systemctl is-active), C(auditctl -l/-s),
    C(aa-status)); it never changes the host, so it behaves the same in check mode.
  - In a container, controls the container cannot have (kernel sysctls under a read-only
    C(/proc/sys), the kernel audit subsystem, kernel modules, AppArmor, clock control, mounts) are
    reported C(not_applicable) with the reason, never as passed.
author:
  - Sovereign Platform Team (@sovereign-datacenter)
options:
  settings:
    description:
      - Expected values, keyed like the role's variables without the C(hardening_) prefix
        (for example C(ssh_ciphers), C(sysctls), C(file_permissions)).
      - Keys not given keep the catalogue defaults, which equal the role's defaults.
      - The role passes its effective values (after the tier profile) here.
    type: dict
    default: {}
  waivers:
    description:
      - Accepted deviations. A failing or not applicable control with a valid waiver is reported
        C(waived); once the expiry date has passed it is reported C(fail) again.
    type: list
    elements: dict
    default: []
    suboptions:
      control:
        description: Control id.
        type: str
        required: true
      justification:
        description: Why the deviation is accepted.
        type: str
        required: true
      owner:
        description: Who accepted it.
        type: str
        required: true
      expires:
        description: Last day the waiver is valid, C(YYYY-MM-DD).
        type: str
        required: true
      compensating_control:
        description: What reduces the risk while the control is not met (shown in the result and reports).
        type: str
  controls:
    description: Evaluate only these control ids (default all).
    type: list
    elements: str
    default: []
  container:
    description:
      - Whether the host is a container. C(auto) detects C(/run/.containerenv), C(/.dockerenv) or
        C(container=) in the environment of PID 1.
    type: str
    choices: [auto, 'yes', 'no']
    default: auto
  root:
    description:
      - Directory to read the host's files from. Only for tests against a copy of a file tree;
        commands still run on the real host.
    type: path
    default: /
  fail_on_findings:
    description: Fail the task when at least one control has status C(fail).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Read-only; the same evaluation runs in check mode.
  diff_mode:
    support: none
    description: Read-only; nothing to show a diff of.
notes:
  - Timing on a lab container is returned in RV(summary).
seealso:
  - name: docs/compliance.md
    description: Control catalogue, waivers and the audit playbook.
    link: https://github.com/sovereign/datacenter/blob/main/docs/compliance.md
"""

EXAMPLES = r"""
- name: Audit this host with the role's defaults
  sovereign.datacenter.compliance_check:
  register: audit

- name: Audit an AI-tier host (ip forwarding allowed) with a waiver
  sovereign.datacenter.compliance_check:
    settings:
      sysctls: "{{ __hardening_sysctls }}"
    waivers:
      - control: apparmor_enforcing
        justification: GPU driver profile pending vendor fix
        owner: platform-security
        expires: "2026-12-31"

- name: Fail when anything fails
  sovereign.datacenter.compliance_check:
    controls: [ssh_permit_root_login, perm_etc_shadow]
    fail_on_findings: true
"""

RETURN = r"""
results:
  description: One entry per control, in catalogue order.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Control id (also the role's tag).
      type: str
      sample: ssh_permit_root_login
    title:
      description: What the control requires.
      type: str
    area:
      description: Group of the control (ssh, kernel, network, audit, auth, files, services, mac, time, updates, filesystem).
      type: str
    status:
      description: pass, fail, not_applicable or waived.
      type: str
      sample: fail
    message:
      description: Short explanation, including the reason for not_applicable and the waiver.
      type: str
    evidence:
      description: Where the value was read, what was found and what is expected.
      type: dict
      sample: {file: /etc/ssh/sshd_config, found: PermitRootLogin yes, expected: PermitRootLogin no}
    frameworks:
      description: Mapping to CIS Debian 12 section, SOC 2 criteria, PCI DSS 4.0 requirements and ANSSI BP-028
        v2.0 recommendations (empty list where none maps).
      type: dict
      sample: {cis: "5.1.20", soc2: [CC6.1], pci: ["2.2.2", "8.2.2"], anssi: [R33]}
    waiver:
      description: The waiver applied (with C(expired)), or null.
      type: dict
summary:
  description: Counts per status, score (pass / (pass + fail), in percent), failed ids and duration.
  returned: always
  type: dict
  sample: {total: 80, counts: {pass: 60, fail: 2, not_applicable: 18, waived: 0}, score: 96.8,
           failed: [perm_etc_shadow], duration_seconds: 0.4}
container:
  description: Whether the host was treated as a container, and why.
  returned: always
  type: dict
  sample: {detected: true, evidence: /run/.containerenv exists}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sovereign.datacenter.plugins.module_utils._compliance import (
    FAIL,
    Host,
    WaiverError,
    evaluate,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            settings=dict(type="dict", default={}),
            waivers=dict(type="list", elements="dict", default=[], options=dict(
                control=dict(type="str", required=True),
                justification=dict(type="str", required=True),
                owner=dict(type="str", required=True),
                expires=dict(type="str", required=True),
                compensating_control=dict(type="str"),
            )),
            controls=dict(type="list", elements="str", default=[]),
            container=dict(type="str", choices=["auto", "yes", "no"], default="auto"),
            root=dict(type="path", default="/"),
            fail_on_findings=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    params = module.params
    forced = None if params["container"] == "auto" else params["container"] == "yes"
    host = Host(root=params["root"], container=forced)
    try:
        results, summary = evaluate(host, settings=params["settings"], waivers=params["waivers"],
                                    only=params["controls"] or None)
    except WaiverError as exc:
        module.fail_json(msg="compliance_check: invalid input: %s" % exc)

    out = dict(
        changed=False,
        results=results,
        summary=summary,
        container={"detected": host.container, "evidence": host.container_evidence},
    )
    if params["fail_on_findings"] and summary["counts"][FAIL]:
        module.fail_json(msg="compliance_check: %d control(s) failed: %s"
                         % (summary["counts"][FAIL], ", ".join(summary["failed"])), **out)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
