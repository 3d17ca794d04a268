"""Photos: tus 1.0 uploads, content-addressed blobs, image sanitising and derivatives.

Boundary: imports only `mobile_contract` and `backend.core` (import-linter enforces it). The calling
device reaches the views through the `FIELDSYNC_DEVICE_AUTHENTICATOR` setting, never by importing
`backend.accounts`.
"""
