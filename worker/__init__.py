"""The runtime: the processes confrec runs (Celery app and task, serve, Flower, metrics),
built from the settings. Subpackages: ``broker`` (the kombu extension and our Redis
clients), ``batches`` (bulk files and following a batch), ``local`` (local stacks and the
demo), ``cli`` (the ``confrec`` command). See docs/architecture.md."""
