"""The request handler every loopback HTTP server here builds on (local API, OpenAI stand-ins, tests).

``http.server`` writes the status line and headers in one send and the body in another. On a
keep-alive connection Nagle's algorithm then holds the body back until the client acknowledges the
headers, which the client delays by up to 40 ms: every request costs ~44 ms however fast the answer
is. Here the reply is buffered and leaves in one send when the handler returns (``http.server``
flushes ``wfile`` after each request), and TCP_NODELAY sends whatever is written at once.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler


class LoopbackHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # socketserver.StreamRequestHandler sets TCP_NODELAY on the connection when this is true.
    disable_nagle_algorithm = True
    # A buffered wfile: headers and body are written together by the flush that ends each request.
    wbufsize = 64 * 1024
