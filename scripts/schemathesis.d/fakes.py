"""Loopback stand-ins so fuzzing never reaches public DNS or GitHub.

UDP DNS on 127.0.0.1:<dns port>: answers every query NXDOMAIN.
HTTP on 127.0.0.1:<http port>: a GitHub that refuses every code and token.
Prints "<dns port> <http port>" once both listen.
"""
import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def dns(sock):
    while True:
        data, peer = sock.recvfrom(4096)
        if len(data) < 12:
            continue
        # Same id and question; QR=1, RD copied, RA=1, RCODE=3 (NXDOMAIN).
        flags = bytes([0x80 | (data[2] & 0x01), 0x83])
        sock.sendto(data[:2] + flags + data[4:6] + b"\0\0\0\0\0\0" + data[12:], peer)


class GitHub(BaseHTTPRequestHandler):
    def _answer(self, status, body):
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/login/oauth/access_token"):
            self._answer(200, {"error": "bad_verification_code",
                               "error_description": "The code passed is incorrect or expired."})
        else:
            self._answer(404, {"message": "Not Found"})

    def do_GET(self):
        self._answer(401, {"message": "Bad credentials"})

    def log_message(self, *args):
        pass


def main():
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    http = ThreadingHTTPServer(("127.0.0.1", 0), GitHub)
    threading.Thread(target=dns, args=(udp,), daemon=True).start()
    print(udp.getsockname()[1], http.server_address[1], flush=True)
    http.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
