"""Stand-in Horizon Connection Servers, App Volumes Managers and UAGs: small TLS servers.

Run as a script inside the backends' network namespace (the pair fixture does):

    python3 backends.py --cert C --key K --state DIR --ready FILE name=ip:port[,port...] ...

Every listener speaks HTTPS. `/favicon.ico` (GET or HEAD) answers 200, or 503 while
the file DIR/<name>.down exists (how a Connection Server answers when it is
administratively disabled and a UAG when it is quiesced). Any other GET answers
200 with the body "<name> <port>", so a client can tell which server and port it
reached. FILE is written once every listener is bound.
"""

import argparse
import os
import signal
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class TLSServer(ThreadingHTTPServer):
    """A threaded HTTP server whose TLS handshake runs in the handler thread.

    Wrapping the listening socket would handshake inside accept(), so one
    client that connects and sends nothing would stall every other client.
    """

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address, context, name, state_dir):
        self.context = context
        self.backend_name = name
        self.state_dir = state_dir
        super().__init__(address, Handler)

    def get_request(self):
        sock, peer = self.socket.accept()
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), peer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    timeout = 5  # seconds per socket operation, handshake included

    def setup(self):
        super().setup()
        try:
            self.connection.do_handshake()
        except (OSError, ssl.SSLError):
            # A TCP-only probe or a client that gave up: nothing to answer.
            self.rfile = self.wfile = None

    def handle(self):
        if self.rfile is None:
            return
        try:
            super().handle()
        except (OSError, ssl.SSLError):
            pass

    def finish(self):
        if self.rfile is None:
            return
        try:
            super().finish()
        except (OSError, ssl.SSLError):
            pass

    def _answer(self, with_body):
        server = self.server
        port = self.connection.getsockname()[1]
        if self.path.split("?", 1)[0] == "/favicon.ico":
            down = os.path.exists(os.path.join(server.state_dir, server.backend_name + ".down"))
            status, body = (503, b"disabled\n") if down else (200, b"favicon\n")
        else:
            status, body = 200, ("%s %d\n" % (server.backend_name, port)).encode("ascii")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def do_GET(self):
        self._answer(True)

    def do_HEAD(self):
        self._answer(False)

    def log_message(self, fmt, *args):
        pass


def parse_spec(spec):
    """'name=ip:443,8443' -> (name, ip, [443, 8443])."""
    name, _, rest = spec.partition("=")
    host, _, ports = rest.rpartition(":")
    if not name or not host or not ports:
        raise argparse.ArgumentTypeError("expected name=ip:port[,port]: %r" % spec)
    return name, host, [int(port) for port in ports.split(",")]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--state", required=True, help="directory of <name>.down switches")
    parser.add_argument("--ready", required=True, help="file written once all listeners are bound")
    parser.add_argument("servers", nargs="+", type=parse_spec)
    args = parser.parse_args(argv)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    servers = []
    for name, host, ports in args.servers:
        for port in ports:
            servers.append(TLSServer((host, port), context, name, args.state))
    for server in servers:
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    with open(args.ready, "w") as handle:
        handle.write("%d\n" % os.getpid())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
