"""Fixtures for the corpus tests: writable dev_set clones and a local HTTP file server.

The mini corpora themselves are tests/conftest.py's ``mini_corpus`` and ``small_corpus``."""
from __future__ import annotations

import hashlib
import http.server
import sys
import shutil
import threading
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest


@pytest.fixture
def clone_dev(tmp_path):
    """clone(src_dev_set, *mutable) -> a dev_set whose ``mutable`` top folders are real copies
    (safe to break) and whose other folders are symlinks to ``src_dev_set``."""

    def clone(src: Path, *mutable: str) -> Path:
        dst = tmp_path / "dev_set"
        dst.mkdir()
        for entry in sorted(src.iterdir()):
            if entry.name in mutable:
                shutil.copytree(entry, dst / entry.name)
            else:
                (dst / entry.name).symlink_to(entry)
        return dst

    return clone


class FileServer:
    """Files served over HTTP on 127.0.0.1 (Range requests, optional mid-file cuts)."""

    def __init__(self):
        self.files: Dict[str, bytes] = {}
        self.cut_once: Dict[str, int] = {}        # path -> bytes sent before dropping once
        self.requests: List[Tuple[str, Optional[str]]] = []   # (path, Range header)
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                path = self.path.split("?")[0]
                server.requests.append((path, self.headers.get("Range")))
                if path not in server.files:
                    self.send_error(404)
                    return
                data = server.files[path]
                start = 0
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes="):
                    start = int(rng[6:].split("-")[0])
                    if start >= len(data):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                cut = server.cut_once.pop(path, None)
                if cut is not None:
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        class QuietServer(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                """A client killed mid-download (what the interruption tests do) is expected:
                say nothing; anything else is reported as usual."""
                if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
                    super().handle_error(request, client_address)

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def add(self, path: str, data: bytes) -> str:
        """Serve ``data`` at ``path``; return its md5."""
        self.files[path] = data
        return hashlib.md5(data).hexdigest()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def file_server():
    server = FileServer()
    yield server
    server.close()


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (offline case)."""
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"
