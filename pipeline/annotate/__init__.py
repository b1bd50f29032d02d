"""Label Studio round trip: labeling configs, chips, task JSON, exports, merge.

Computing modules here (``config``, ``coords``, ``chips``, ``lsjson``,
``exports``, ``merge``) are pure; ``roundtrip`` and ``webhook`` hold the run
functions that talk to a server through :mod:`pipeline.io.labelstudio`.
"""
