"""Face matching: the pure pipeline (decode, detect, encode, quality gates), the in-memory gallery
index and the evaluation that measures the threshold.

Boundary: ``pipeline``, ``index``, ``evaluation``, ``errors``, ``thresholds`` and ``image_checks`` are
pure Python (numpy, Pillow, dlib through face_recognition) and import nothing from Django or from
other fieldsync packages. The Django app (models, services, api, tasks) builds on them, never the
reverse. Results are candidates, never identifications.
"""
