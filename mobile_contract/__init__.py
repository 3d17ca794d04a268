"""The wire contract with the phones: pydantic schemas, error codes, feature level, reference client.

Boundary: imports only pydantic and httpx (never Django), so app developers and tests can use it alone.
"""
