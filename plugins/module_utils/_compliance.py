# -*- coding: utf-8 -*-
# Copyright: contributors to sovereign.datacenter
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host hardening controls (private helper): waivers, evaluation and the summary; the facade of the
compliance helpers, which live in layers below it (each imports only the ones above it in this list):

* ``_compliance_host``: statuses, ``DEFAULT_SETTINGS``, ``Host`` (read-only host access), parsers;
* ``_compliance_eval_system``, ``_compliance_eval_access``, ``_compliance_eval_audit``: the evaluators;
* ``_compliance_catalogue``: every control, its evaluator and its framework mapping;
* this module: waivers, ``evaluate()`` and ``summarise()``, the names callers import.

One source of truth for the ``hardening`` role and the ``compliance_check`` module:

* ``DEFAULT_SETTINGS`` holds the expected values. They are the same as the role's
  ``defaults/main.yml`` (key ``x`` here is ``hardening_x`` there; a unit test fails on drift).
  The role passes its effective values (after the tier profile) to the module as ``settings``.
* ``CATALOGUE`` lists every control: id (also the role's tag), title, mapping to the CIS Debian
  Linux 12 Benchmark v1.1.0 section, SOC 2 (2017 TSC) criteria, PCI DSS 4.0 requirements and,
  where the ANSSI guide has one, the ANSSI BP-028 v2.0 recommendation (R1..R80), and whether a
  container can have it at all.
* ``evaluate()`` runs every evaluator against a ``Host`` (file reads under ``root``; a few
  commands) and applies waivers.

Nothing here writes to the host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import time

from ansible_collections.sovereign.datacenter.plugins.module_utils._compliance_host import (
    CONTAINER_REASONS,
    DEFAULT_SETTINGS,
    FAIL,
    Host,
    NA,
    PASS,
    STATUSES,
    SYSCTL_PREFIX,
    WAIVED,
    _ev,
    empty_counts,
    parse_key_values,
    parse_sshd_config,
    score,
    sysctl_control_id,
)
from ansible_collections.sovereign.datacenter.plugins.module_utils._compliance_catalogue import (
    _frameworks,
    catalogue,
    control_ids,
    merge_settings,
    public_catalogue,
)

__all__ = [
    "empty_counts",
    "score",
    "CONTAINER_REASONS",
    "DEFAULT_SETTINGS",
    "FAIL",
    "Host",
    "NA",
    "PASS",
    "STATUSES",
    "SYSCTL_PREFIX",
    "WAIVED",
    "WaiverError",
    "catalogue",
    "control_ids",
    "evaluate",
    "merge_settings",
    "parse_key_values",
    "parse_sshd_config",
    "parse_waivers",
    "public_catalogue",
    "summarise",
    "sysctl_control_id",
]


# --------------------------------------------------------------------------------------------
# Waivers
# --------------------------------------------------------------------------------------------
class WaiverError(ValueError):
    pass


def parse_waivers(waivers, today=None):
    """Validate waivers; returns {control id: waiver dict with `expired` bool}."""
    today = today or datetime.date.today()
    out = {}
    for index, waiver in enumerate(waivers or []):
        if not isinstance(waiver, dict):
            raise WaiverError("waiver #%d is not a mapping" % index)
        missing = [k for k in ("control", "justification", "owner", "expires") if not str(waiver.get(k) or "").strip()]
        if missing:
            raise WaiverError("waiver #%d (%s) lacks %s" % (index, waiver.get("control", "?"), ", ".join(missing)))
        expires = waiver["expires"]
        if isinstance(expires, datetime.datetime):
            expires = expires.date()
        if not isinstance(expires, datetime.date):
            try:
                expires = datetime.datetime.strptime(str(expires).strip(), "%Y-%m-%d").date()
            except ValueError:
                raise WaiverError("waiver #%d (%s): expires %r is not YYYY-MM-DD" % (index, waiver["control"], expires))
        out[str(waiver["control"])] = {
            "control": str(waiver["control"]),
            "justification": str(waiver["justification"]),
            "owner": str(waiver["owner"]),
            "expires": expires.isoformat(),
            "expired": expires < today,
            "compensating_control": str(waiver.get("compensating_control") or "") or None,
        }
    return out


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------
def evaluate(host, settings=None, waivers=None, only=None, today=None):
    """Evaluate every control (or the ids in ``only``); returns (results, summary)."""
    started = time.time()
    settings = merge_settings(settings)
    parsed = parse_waivers(waivers, today=today)
    controls = catalogue(settings)
    known = set(c["id"] for c in controls)
    unknown = sorted(set(parsed) - known) + sorted(set(only or []) - known)
    if unknown:
        raise WaiverError("unknown control id(s): %s" % ", ".join(unknown))
    results = []
    for control in controls:
        if only and control["id"] not in only:
            continue
        try:
            status, evidence, message = control["evaluator"](host, settings, control["params"])
        except Exception as exc:  # an evaluator bug must show as a failed control, not a crash
            status, evidence, message = FAIL, _ev(None, None, None), "evaluator error: %s" % exc
        waiver = parsed.get(control["id"])
        if waiver and status != PASS:
            if waiver["expired"]:
                status = FAIL
                message = "waiver expired on %s (owner %s): %s" % (waiver["expires"], waiver["owner"], message)
            else:
                status = WAIVED
                message = "waived until %s by %s: %s%s (%s)" % (
                    waiver["expires"], waiver["owner"], waiver["justification"],
                    "; compensating control: %s" % waiver["compensating_control"] if waiver["compensating_control"] else "",
                    message)
        elif waiver and waiver["expired"]:
            message += " (expired waiver still declared; remove it)"
        results.append({
            "id": control["id"],
            "title": control["title"],
            "area": control["area"],
            "status": status,
            "message": message,
            "evidence": evidence,
            "frameworks": _frameworks(control),
            "waiver": waiver,
        })
    return results, summarise(results, time.time() - started)


def summarise(results, duration=None):
    counts = empty_counts()
    for row in results:
        counts[row["status"]] += 1
    summary = {
        "total": len(results),
        "counts": counts,
        "score": score(counts),
        "failed": [r["id"] for r in results if r["status"] == FAIL],
    }
    if duration is not None:
        summary["duration_seconds"] = round(duration, 3)
    return summary
