"""A loopback HTTP server for download tests: serves byte strings, honours Range/If-Range, can cut a transfer."""
from __future__ import annotations

import contextlib
import hashlib
import http.server
import re
import socket
import threading


class FileServer:
    """``files`` maps URL paths to bytes. ``cut_after[path] = n`` makes the next full or ranged
    response stop after ``n`` body bytes (once). ``ignore_range`` answers every request with 200.
    ``requests`` records (path, Range header) of every GET. A query string (``?dl=1``, as in
    Dropbox addresses) is ignored: paths are looked up and recorded without it.
    """

    def __init__(self, files: dict[str, bytes]):
        self.files = dict(files)
        self.cut_after: dict[str, int] = {}
        self.ignore_range = False
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                path = self.path.split("?")[0]
                server.requests.append((path, self.headers.get("Range")))
                body = server.files.get(path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                start, status = 0, 200
                ranged = self.headers.get("Range")
                if ranged and not server.ignore_range and self.headers.get("If-Range", etag) == etag:
                    start = int(re.match(r"bytes=(\d+)-", ranged).group(1))
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    status = 206
                self.send_response(status)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body) - start))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.end_headers()
                cut = server.cut_after.pop(path, None)
                if cut is not None:
                    self.wfile.write(body[start:start + cut])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)  # the link drops mid-transfer
                    return
                self.wfile.write(body[start:])

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path


@contextlib.contextmanager
def serve(files: dict[str, bytes]):
    server = FileServer(files)
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


def closed_port_url(path: str = "/kvasir-seg.zip") -> str:
    """An address on this machine where nothing listens: connecting fails at once, like being offline."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"
