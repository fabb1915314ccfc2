"""A loopback stand-in for the Cognito user pool's hosted sign-in page, as its OAuth 2.0 endpoints behave
for a public client with PKCE (Cognito's "Authorize endpoint" and "Token endpoint" documentation):

- ``GET /oauth2/authorize?response_type=code&client_id&redirect_uri&state&scope&code_challenge&
  code_challenge_method=S256``: an unknown client or a redirect URI that is not one of the client's
  callback URLs is refused with 400 (nothing is sent back to such a URI); otherwise the person signs in
  (here: at once, as :attr:`HostedSignIn.subject`) and is sent back with ``?code=…&state=…``.
- ``POST /oauth2/token`` (form): ``grant_type=authorization_code``, ``client_id``, ``code``,
  ``redirect_uri``, ``code_verifier``. A code is good once, for the same client and redirect URI, and
  only with the verifier whose S256 digest is the challenge: else 400 ``{"error": "invalid_grant"}``.
  Success: ``{"access_token", "id_token", "token_type": "Bearer", "expires_in"}``, the access token
  minted by ``mint(scopes, subject)`` (the local run's HS256 tokens, so the API accepts it).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from infra.loopback import LoopbackHandler

EXPIRES_IN = 3600


@dataclass
class HostedSignIn:
    client_id: str
    callback_urls: list[str]
    mint: Callable[[list[str], str], str]
    subject: str = "reviewer-1"
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    _codes: dict[str, dict[str, str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> HostedSignIn:
        standin = self

        class Handler(LoopbackHandler):
            def log_message(self, format, *args):  # noqa: A002 - the stdlib's name
                pass

            def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                parts = urlsplit(self.path)
                if parts.path != "/oauth2/authorize":
                    return self._send(404)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                standin.authorize_requests.append(query)
                if (
                    query.get("client_id") != standin.client_id
                    or query.get("redirect_uri") not in standin.callback_urls
                ):
                    return self._send(400, b"invalid_request", {"Content-Type": "text/plain"})
                if (
                    query.get("response_type") != "code"
                    or query.get("code_challenge_method") != "S256"
                    or not query.get("code_challenge")
                ):
                    refusal = urlencode({"error": "invalid_request", "state": query.get("state", "")})
                    return self._send(302, headers={"Location": f"{query['redirect_uri']}?{refusal}"})
                code = secrets.token_urlsafe(16)
                with standin._lock:
                    standin._codes[code] = query
                back = {"code": code, "state": query.get("state", "")}
                return self._send(302, headers={"Location": f"{query['redirect_uri']}?{urlencode(back)}"})

            def do_POST(self):
                if urlsplit(self.path).path != "/oauth2/token":
                    return self._send(404)
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                standin.token_requests.append(form)
                cors = {
                    "Access-Control-Allow-Origin": self.headers.get("Origin", "*"),
                    "Content-Type": "application/json",
                }
                with standin._lock:
                    asked = standin._codes.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "")
                digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                if (
                    form.get("grant_type") != "authorization_code"
                    or asked is None
                    or form.get("client_id") != asked["client_id"]
                    or form.get("redirect_uri") != asked["redirect_uri"]
                    or digest != asked["code_challenge"]
                ):
                    return self._send(400, json.dumps({"error": "invalid_grant"}).encode(), cors)
                scopes = [scope for scope in asked.get("scope", "").split() if scope.startswith("shop/")]
                token = standin.mint(scopes, standin.subject)
                answer = {"access_token": token, "id_token": token, "token_type": "Bearer", "expires_in": EXPIRES_IN}
                return self._send(200, json.dumps(answer).encode(), cors)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
