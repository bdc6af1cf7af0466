"""An extension API server for ``demo.labkit.dev/v1``, as a learner would write one with the standard
library: HTTPS on $PORT with the certificate in $TLS_CERT / $TLS_KEY, discovery of one kind
(``widgets``), a list of one Widget named after the user the aggregator says is asking
(``X-Remote-User``), as a Table when asked for one, and a watch that sends one event and ends."""

import http.server
import json
import os
import ssl
import tempfile

GV = "demo.labkit.dev/v1"
DISCOVERY = {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": GV, "resources": [
    {"name": "widgets", "singularName": "widget", "namespaced": True, "kind": "Widget",
     "verbs": ["get", "list", "watch"], "shortNames": ["wd"]}]}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        user = self.headers.get("X-Remote-User", "")
        widget = {"apiVersion": GV, "kind": "Widget", "metadata": {
            "name": "for-" + user.replace(":", "-"), "namespace": "default", "creationTimestamp": None},
            "spec": {"groups": self.headers.get_all("X-Remote-Group") or []}}
        if path == "/apis/" + GV:
            return self.send(200, DISCOVERY)
        if not path.endswith("/widgets"):
            return self.send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                                   "code": 404, "message": "not found"})
        if "watch=true" in query:
            line = json.dumps({"type": "ADDED", "object": widget}).encode() + b"\n"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(line), line))
            return None
        if "as=Table" in self.headers.get("Accept", ""):
            return self.send(200, {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {},
                                   "columnDefinitions": [{"name": "Name", "type": "string", "format": "name"},
                                                         {"name": "User", "type": "string"}],
                                   "rows": [{"cells": [widget["metadata"]["name"], user],
                                             "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                                        "metadata": widget["metadata"]}}]})
        return self.send(200, {"kind": "WidgetList", "apiVersion": GV, "metadata": {}, "items": [widget]})

    def send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main() -> None:
    directory = tempfile.mkdtemp()
    for name in ("TLS_CERT", "TLS_KEY"):
        with open(os.path.join(directory, name), "w") as f:
            f.write(os.environ[name])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(os.path.join(directory, "TLS_CERT"), os.path.join(directory, "TLS_KEY"))
    server = http.server.ThreadingHTTPServer((os.environ.get("POD_IP", "0.0.0.0"), int(os.environ["PORT"])), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print("serving", flush=True)
    server.serve_forever()


main()
