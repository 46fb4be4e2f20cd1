"""``tfstyle serve``: a local web app (FastAPI + a plain page) in front of the stylization engines.

* :mod:`tfstyle.web.config`: the server's options and limits (a dataclass the CLI fills).
* :mod:`tfstyle.web.uploads`: uploads checked on the server (size, type, pixels) with one-line
  messages the page shows.
* :mod:`tfstyle.web.engines`: engines loaded once and shared by every request.
* :mod:`tfstyle.web.jobs`: the bounded job queue (worker threads, progress, cancel, temp folders).
* :mod:`tfstyle.web.app`: the FastAPI app: the page, ``/api/info``, ``/api/jobs``.

Importing this package imports neither FastAPI nor TensorFlow; :func:`tfstyle.web.app.create_app` does.
"""
