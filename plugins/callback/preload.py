# -*- coding: utf-8 -*-
# Copyright: sovereign.datacenter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: preload
author: Sovereign Platform Team (@sovereign-datacenter)
version_added: 0.2.0
type: aggregate
short_description: Load the filter, test and lookup plugins of named collections once, before any task worker starts
description:
  - Ansible runs every task of every host in a new worker process, forked from C(ansible-playbook). A worker that
    resolves a filter or test of a collection loads every filter (or test) file of that collection, unless the
    process it was forked from already holds them, and a worker that runs a lookup loads the lookup and parses its
    documentation. Done again in each of thousands of workers, that loading was about 15% of the controller's CPU in
    a C(--check) run of the lab's C(site.yml) (profiled with py-spy; C(benchmarks/converge/README.md)).
  - At the start of the playbook this callback loads those plugins of O(collections), and Ansible's own, in the
    C(ansible-playbook) process itself, so that every worker inherits them. It loads the same plugins Ansible would
    load and changes no task, no result and no output.
  - A collection that is not installed, or a lookup that fails to load, is skipped (shown with C(-vvv)); a task that
    uses it fails as it would without this callback. A filter or test file that fails to load gets Ansible's own
    warning, at the start of the playbook instead of at the first task that resolves a filter of its collection.
requirements:
  - Enabled in C(callbacks_enabled) (the project's C(ansible.cfg) enables it).
options:
  collections:
    description:
      - The collections whose filter, test and lookup plugins are loaded at the start of the playbook.
      - Each one makes C(ansible-playbook) larger, and every fork a little dearer; name the collections whose filters
        many tasks use (measured on the lab, adding ansible.utils, community.crypto and community.general, used by a
        few tasks of the roles, cost more than it saved).
    type: list
    elements: str
    default: [sovereign.datacenter]
    ini:
      - section: callback_sovereign_preload
        key: collections
    env:
      - name: SOVEREIGN_PRELOAD_COLLECTIONS
"""

import importlib
import pkgutil

from ansible.plugins.callback import CallbackBase
from ansible.plugins.loader import filter_loader, lookup_loader, test_loader
from ansible.utils.display import Display

display = Display()

# Ansible's own plugins that the collection's roles use: resolving one loads all of Ansible's filters (or tests).
_BUILTIN = (
    (filter_loader, "ansible.builtin.to_json"),
    (test_loader, "ansible.builtin.match"),
    (lookup_loader, "ansible.builtin.env"),
    (lookup_loader, "ansible.builtin.file"),
    (lookup_loader, "ansible.builtin.template"),
    (lookup_loader, "ansible.builtin.vars"),
)


def _plugin_modules(collection, plugin_type):
    """The module names of a collection's plugins of one type ([] when it has none or is not installed)."""
    try:
        package = importlib.import_module("ansible_collections.%s.plugins.%s" % (collection, plugin_type))
    except ImportError:
        return []
    return [name for dummy, name, ispkg in pkgutil.iter_modules(package.__path__) if not ispkg]


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "sovereign.datacenter.preload"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loaded = []

    def _load(self, loader, name, label=None):
        try:
            loader.get_with_context(name)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # the task that uses the plugin reports it, as it would without this callback
            display.vvv("sovereign.datacenter.preload: %s %s not loaded: %s" % (loader.type, name, exc))
            return
        self.loaded.append("%s %s" % (loader.type, label or name))

    def preload(self):
        """Load the plugins in this process; returns what was loaded ("<type> <name>")."""
        for loader, name in _BUILTIN:
            self._load(loader, name)
        for collection in self.get_option("collections") or []:
            # A name no file defines: the filter and test loaders then load every file of the collection once.
            for loader, plugin_type in ((filter_loader, "filter"), (test_loader, "test")):
                if _plugin_modules(collection, plugin_type):
                    self._load(loader, "%s.sovereign_preload" % collection, label="%s.*" % collection)
            for module in _plugin_modules(collection, "lookup"):
                self._load(lookup_loader, "%s.%s" % (collection, module))
        return self.loaded

    def v2_playbook_on_start(self, playbook):
        self.preload()
        display.vvv("sovereign.datacenter.preload: %s" % ", ".join(self.loaded))
