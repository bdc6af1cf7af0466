"""The images labkit builds for itself, since no registry is reachable from a course machine.

Each image is ``FROM scratch`` plus Debian's statically linked busybox (one binary that is ``sh``,
``httpd``, ``wget``, ``sleep`` ...), so the whole set builds offline in a second. Two kinds:

- labkit's own images (``labkit/pause``, ``labkit/hello``): the real thing, nothing stands in;
- stand-ins for public images a lesson names (``busybox``, ``nginx``, and ``python``: this machine's
  interpreter and standard library, :mod:`labkit.images.hostpython`): used only when pulling the real
  image failed, and the runtime says so (``ImageRef.note``) so the kubelet records a Warning event.

Real Kubernetes has nothing like this: its images come from a registry (``registry.k8s.io/pause``
is the sandbox image there). Left out: any image not listed here.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from labkit.images import hostpython

#: where busybox-static is looked for: Debian's package, then the bin folder of the environment labkit runs in
#: (where an offline kit's install.sh puts it, :mod:`labkit.kit`)
BUSYBOX_CANDIDATES = (Path("/bin/busybox"), Path(sys.prefix) / "bin" / "busybox")


def busybox_path() -> Path:
    """The first of :data:`BUSYBOX_CANDIDATES` that exists (the first when none does, for the error)."""
    return next((path for path in BUSYBOX_CANDIDATES if path.is_file()), BUSYBOX_CANDIDATES[0])


#: the image label holding :func:`labkit.images.builder.content_hash`; a changed definition rebuilds
LABEL_CONTENT_HASH = "labkit.image.content-hash"


@dataclasses.dataclass(frozen=True, eq=False)
class ImageDef:
    """How to build one image: a Dockerfile and the files of its build context."""

    tag: str
    dockerfile: str
    #: build-context path -> (text, file mode)
    files: Mapping[str, tuple[str, int]] = dataclasses.field(default_factory=dict)
    base: ImageDef | None = None
    #: the context gets ``busybox`` (the host's /bin/busybox) for ``COPY``
    with_busybox: bool = False
    #: files of this machine for the context (context path -> host file), asked for when building
    host_files: Callable[[], Mapping[str, Path]] | None = None
    #: public repositories (``nginx``, ``busybox``) this image stands in for
    stands_in_for: tuple[str, ...] = ()
    #: what the image really is, for the stand-in warning
    summary: str = ""

    @property
    def repository(self) -> str:
        return self.tag.rsplit(":", 1)[0]


def repository(image: str) -> str:
    """``docker.io/library/nginx:1.25@sha256:..`` -> ``nginx``: the name without registry, tag or digest."""
    name = image.split("@", 1)[0]
    if name.rfind(":") > name.rfind("/"):
        name = name[: name.rfind(":")]
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        name = name.removeprefix(prefix)
    return name.removeprefix("library/")


_ROOTFS_FILES = {
    "rootfs/etc/passwd": ("root:x:0:0:root:/root:/bin/sh\n"
                          "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n", 0o644),
    "rootfs/etc/group": ("root:x:0:\nnogroup:x:65534:\n", 0o644),
    "rootfs/tmp/.keep": ("", 0o644),
    "rootfs/root/.keep": ("", 0o644),
}

BUSYBOX = ImageDef(
    tag="labkit/busybox:1",
    # FROM scratch has no shell: busybox installs its own applet links, run in exec form.
    dockerfile=(
        "FROM scratch\n"
        "COPY busybox /bin/busybox\n"
        "COPY rootfs/ /\n"
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
        'RUN ["/bin/chmod", "1777", "/tmp"]\n'
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
        'CMD ["sh"]\n'
    ),
    files=_ROOTFS_FILES,
    with_busybox=True,
    stands_in_for=("busybox",),
    summary="Debian's busybox-static in an empty image",
)

_PAUSE = """#!/bin/sh
# labkit's pause: holds the pod's network namespace (and /etc/hosts) until told to stop.
trap 'exit 0' TERM INT
sleep inf &
wait
"""

PAUSE = ImageDef(
    tag="labkit/pause:1",
    dockerfile=f"FROM {BUSYBOX.tag}\nCOPY pause /pause\nENTRYPOINT [\"/pause\"]\n",
    files={"pause": (_PAUSE, 0o755)},
    base=BUSYBOX,
    summary="a shell that sleeps until SIGTERM",
)

_NGINX = """#!/bin/sh
# labkit's stand-in for nginx: busybox httpd serving /usr/share/nginx/html on port 80.
# nginx's own arguments (-g 'daemon off;') are accepted and ignored.
root=/usr/share/nginx/html
name=${POD_NAME:-$(hostname)}
ip=${POD_IP:-$(hostname -i)}
if [ ! -e "$root/index.html" ]; then
  mkdir -p "$root" 2>/dev/null
  cat > "$root/index.html" 2>/dev/null <<PAGE
<!DOCTYPE html>
<html><head><title>Welcome to nginx!</title></head>
<body>
<h1>Welcome to nginx!</h1>
<p>This is labkit's stand-in for nginx (busybox httpd): the real image could not be pulled.</p>
<p>Pod: $name<br>IP: $ip</p>
</body></html>
PAGE
fi
echo "labkit stand-in for nginx: serving $root on port 80 (pod $name, $ip)"
httpd -f -vv -p 80 -h "$root" &
trap 'kill $!; exit 0' TERM INT QUIT
wait
"""

NGINX = ImageDef(
    tag="labkit/nginx:1",
    dockerfile=(
        f"FROM {BUSYBOX.tag}\nCOPY nginx /usr/sbin/nginx\nEXPOSE 80\nSTOPSIGNAL SIGQUIT\n"
        'CMD ["nginx", "-g", "daemon off;"]\n'
    ),
    files={"nginx": (_NGINX, 0o755)},
    base=BUSYBOX,
    stands_in_for=("nginx",),
    summary="busybox httpd on port 80 serving a page with the pod's name and IP",
)

_HELLO = """#!/bin/sh
# labkit/hello: answers every HTTP request with the pod's name and IP, on $PORT (default 8080).
port=${PORT:-8080}
echo "labkit/hello: listening on port $port (pod ${POD_NAME:-$(hostname)}, ${POD_IP:-$(hostname -i)})"
httpd -f -vv -p "$port" -h /www &
trap 'kill $!; exit 0' TERM INT
wait
"""

# busybox httpd runs cgi-bin/index.cgi for a directory without index.html, so "/" lands here.
_HELLO_CGI = """#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
echo "Hello from ${POD_NAME:-$(hostname)} (${POD_IP:-$(hostname -i)})"
"""

HELLO = ImageDef(
    tag="labkit/hello:1",
    dockerfile=(
        f"FROM {BUSYBOX.tag}\nCOPY hello /usr/bin/hello\nCOPY www/ /www/\nEXPOSE 8080\n"
        'CMD ["hello"]\n'
    ),
    files={"hello": (_HELLO, 0o755), "www/cgi-bin/index.cgi": (_HELLO_CGI, 0o755),
           "www/healthz": ("ok\n", 0o644)},
    base=BUSYBOX,
    summary="busybox httpd answering with the pod's name and IP",
)

PYTHON = ImageDef(
    tag="labkit/python:1",
    dockerfile=hostpython.dockerfile(BUSYBOX.tag),
    host_files=lambda: {f"python/{path}": host for path, host in hostpython.image_files().items()},
    base=BUSYBOX,
    stands_in_for=("python",),
    summary=hostpython.summary(),
)

IMAGES = (BUSYBOX, PAUSE, NGINX, HELLO, PYTHON)


def lookup(image: str) -> ImageDef | None:
    """The definition that builds ``image``: labkit's own by repository, or a stand-in."""
    repo = repository(image)
    for definition in IMAGES:
        if repo == definition.repository or repo in definition.stands_in_for:
            return definition
    return None
