"""Officers, units, jurisdictions, devices and device tokens; authentication for HTTP and WebSocket.

Boundary: may import backend.core, backend.audit and mobile_contract; never sync internals.
"""
