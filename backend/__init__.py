"""fieldsync backend: the Django project and its domain apps."""
