#!/usr/bin/env python3
"""A static file server for the test bed's local mirrors (the Debian repository and the
PEP 503 wheel index), bound to the engine's bridge address so that build containers reach it.

With --token-file, every request must carry the token, either as the password of HTTP basic
auth (any user name: what pip sends from a ~/.netrc or from credentials in the index URL) or as
`Authorization: Bearer <token>`; anything else gets 401 with a Basic challenge, which is what
makes pip retry with its netrc credentials. One log line per request goes to stderr, with the
status, so that tests can see which files a build fetched and through which client.
"""
import argparse
import base64
import functools
import hmac
import http.server
import sys


class Handler(http.server.SimpleHTTPRequestHandler):
    token = None  # bytes, set from --token-file

    def authorized(self):
        if self.token is None:
            return True
        header = self.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer":
            return hmac.compare_digest(value.encode(), self.token)
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value, validate=True)
            except ValueError:
                return False
            _, _, password = decoded.partition(b":")
            return hmac.compare_digest(password, self.token)
        return False

    def refuse(self):
        body = b"401: this index needs the test bed's token (see scripts/testbed.sh)\n"
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="docker-repro-testbed"')
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        if not self.authorized():
            return self.refuse()
        super().do_GET()

    def do_HEAD(self):
        if not self.authorized():
            return self.refuse()
        super().do_HEAD()

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s %s\n" % (self.log_date_time_string(), self.address_string(), fmt % args))
        sys.stderr.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", required=True, help="address to listen on, e.g. 172.17.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--directory", required=True, help="the directory served")
    parser.add_argument("--token-file", help="a file whose first line is the token to require")
    args = parser.parse_args()
    if args.token_file:
        with open(args.token_file, "rb") as f:
            token = f.readline().strip()
        if not token:
            parser.error("the token file is empty")
        Handler.token = token
    handler = functools.partial(Handler, directory=args.directory)
    # apt opens several connections at once; http.server's default backlog is 5.
    http.server.ThreadingHTTPServer.request_queue_size = 64
    server = http.server.ThreadingHTTPServer((args.bind, args.port), handler)
    server.daemon_threads = True
    sys.stderr.write("serving %s on http://%s:%d/%s\n"
                     % (args.directory, args.bind, args.port, " (token required)" if args.token_file else ""))
    sys.stderr.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
