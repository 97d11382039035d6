"""Every Redis structure confrec writes: key names, the Lua that changes them atomically,
and the classes that read them back. Nothing here knows Celery or kombu."""
