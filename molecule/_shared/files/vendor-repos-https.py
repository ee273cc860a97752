"""Serve a folder over HTTPS (test stand-in for the vendors' apt servers).

Usage: vendor-repos-https.py ROOT PORT CERT KEY

HTTP/1.1 with keep-alive (apt reuses the connection), and every connection
ends with a TLS close_notify: apt's OpenSSL takes a bare close for an
error ("unexpected eof while reading").
"""

import functools
import http.server
import ssl
import sys


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        sys.stderr.write("%s %s\n" % (self.address_string(), format % args))


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def shutdown_request(self, request):
        try:
            request.unwrap()  # sends close_notify
        except (OSError, ValueError):
            pass
        super().shutdown_request(request)


def main():
    root, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = Server(("127.0.0.1", port), functools.partial(Handler, directory=root))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
