"""Dagster's production topology, run for real on one machine (`make topology`, test_topology.py).

Separate processes, as a deployment runs them: the project database and Dagster's instance on PostgreSQL
(dagster-postgres), the local QuickBooks sandbox, a code server (`dagster code-server start`) serving the
project's definitions, `dagster-webserver` and `dagster-daemon run` reaching it over gRPC (workspace.yaml's
grpc_server entry). Orders are pushed by the new-orders sensor while the daemon and a run process are
SIGKILLed mid-push; afterwards duplicates and lost orders are counted per company from the sandbox's dump
and the project database, not through the code under test.

processes.py starts and stops the processes, companies.py says which companies the sandbox serves,
scenario.py is what happens to them, reckoning.py counts.
"""
