"""The sync engine: change log and cursor, pull, push, field-level conflicts, scopes, tombstones,
quarantine and review; `sync.registry_bridge` links to the central registry.

Boundary: knows no domain app. Domain apps register their syncable tables with `sync.registry`
and write through `sync.writer.sync_transaction`. Imports only mobile_contract, backend.core and
backend.accounts.
"""
