# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter of the incident diagnostics runbook: an incident's deadlines from the severity matrix
(the bundle's redaction is done by playbooks/files/incident_bundle.py on the controller)."""

from __future__ import annotations

import datetime

from ansible.errors import AnsibleFilterError


def _parse(stamp):
    if isinstance(stamp, datetime.datetime):
        value = stamp
    else:
        text = str(stamp).strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            value = datetime.datetime.fromisoformat(text)
        except ValueError as exc:
            raise AnsibleFilterError("incident_deadlines: opened_at %r is not an ISO 8601 time" % stamp) from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value.astimezone(datetime.timezone.utc)


def incident_deadlines(severity, matrix, opened_at):
    """Response and resolution deadlines (UTC, ISO 8601) of an incident of ``severity`` opened at ``opened_at``."""
    if severity not in matrix:
        raise AnsibleFilterError("incident_deadlines: severity %r not in the matrix %s" % (severity, sorted(matrix)))
    row = matrix[severity]
    opened = _parse(opened_at)

    def at(minutes):
        return (opened + datetime.timedelta(minutes=int(minutes))).strftime("%Y-%m-%dT%H:%M:%SZ")

    return {
        "severity": severity,
        "opened_at": opened.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "response_minutes": int(row["response_minutes"]),
        "resolution_minutes": int(row["resolution_minutes"]),
        "response_due": at(row["response_minutes"]),
        "resolution_due": at(row["resolution_minutes"]),
        "status_update_minutes": row.get("status_update_minutes"),
    }


class FilterModule(object):
    """sovereign.datacenter incident filters."""

    def filters(self):
        return {"incident_deadlines": incident_deadlines}
