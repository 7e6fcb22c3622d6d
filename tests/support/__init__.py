"""Helpers shared by the unit tests, the Molecule verifiers and the lab tests.

Molecule verifiers (molecule/conftest.py) and tests/lab put the repository's `tests` folder on
sys.path and import `support.<module>`: polling with a deadline (waiting), a scenario's own
playbooks (molecule), firewall probes and the firewall audit (firewall_probes, firewall_audit).
They act only on the containers and inventories of the scenario or lab that called them.
"""
