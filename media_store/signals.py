"""Signals other apps connect to (they import media_store; media_store never imports them).

`photo_stored(sender=Photo, photo, upload, is_new_photo)` is sent after the transaction that
completed an upload commits, for every completed upload (also when its bytes were already a Photo).
`upload.metadata` carries the `record_table`/`record_id` the device declared, so the registry can link
the photo to its record, whichever of the record and the photo arrives first.
"""

from __future__ import annotations

from django.dispatch import Signal

photo_stored = Signal()
