"""Console for central sync administrators (Django templates, session login, role-restricted).

Boundary: a presentation layer. Reads through selectors here and writes through the owning
services (accounts.services, sync.review / sync.registry_bridge.services), auditing each action.
"""
