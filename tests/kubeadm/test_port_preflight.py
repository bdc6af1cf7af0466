"""kubeadm join's port preflight (``PortOpenCheck``), as Go listens: a listener holds the port, TIME_WAIT does not."""

from __future__ import annotations

import socket

from labkit.kubeadm.join import _port_free


def test_a_listening_port_is_in_use_and_one_left_in_time_wait_is_free() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    assert not _port_free(port)
    client = socket.create_connection(("127.0.0.1", port))
    served, _ = listener.accept()
    served.close()  # the server's side closes first: its end of the connection waits in TIME_WAIT
    client.recv(1)
    client.close()
    listener.close()
    assert _port_free(port)
