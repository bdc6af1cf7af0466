"""Images labkit builds locally (no registry needed): definitions and the builder.

Layout:

- ``definitions``: ``labkit/busybox:1`` (base, and stand-in for ``busybox``), ``labkit/pause:1`` (pod
  sandboxes), ``labkit/nginx:1`` (stand-in for ``nginx``: busybox httpd on port 80),
  ``labkit/hello:1`` (HTTP on 8080 / ``$PORT`` answering with the pod's name and IP);
  ``labkit/python:1`` (stand-in for ``python``: this machine's interpreter, :mod:`.hostpython`);
  :func:`lookup` maps an image reference to its definition.
- ``builder``: :func:`ensure_built` builds an image once per machine (content-hash label).
"""

from labkit.images.builder import BuildError, current_image_id, ensure_built
from labkit.images.definitions import BUSYBOX, HELLO, IMAGES, NGINX, PAUSE, PYTHON, ImageDef, lookup, repository

__all__ = ["BUSYBOX", "HELLO", "IMAGES", "NGINX", "PAUSE", "PYTHON", "BuildError", "ImageDef", "current_image_id",
           "ensure_built", "lookup", "repository"]
