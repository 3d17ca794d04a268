"""The bridge to the provincial central registry (a separate SQL database with a legacy schema).

Boundary: part of the sync engine. Imports only Django, SQLAlchemy, mobile_contract, backend.core,
backend.accounts and sync — never a domain app. The registry app plugs in through
`register_mapping` (see `port.py`); the registry database is reached through a `RegistrySource`
(`source.SqlRegistrySource`, SQLAlchemy 2 Core, any URL).

Facade (import from the modules: this package is also a Django app, so its __init__ imports
nothing):
    port.register_mapping      the registry app plugs in its mapping
    registry_source_default()  the source for settings.FIELDSYNC_REGISTRY_URL
    bridge_sync(...)           one run (pull by watermark, then write-back); see engine.py
    bridge_review_apply(...)   apply an administrator's choice on a bridge conflict
    bridge_quarantine_replay(...)  fix a quarantined registry row at the source and import it
"""

from __future__ import annotations
