"""What the tests' small HTTP servers share: a threaded server that keeps
quiet about clients hanging up, and a JSON answer."""
import http.server
import json
import socketserver


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass    # clients that hang up are part of the tests


def reply_json(handler, code, obj, head=False, extra=None):
    """Answers with obj as JSON (headers only for a HEAD)."""
    body = json.dumps(obj).encode()
    handler.send_response(code)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    for k, v in (extra or {}).items():
        handler.send_header(k, v)
    handler.end_headers()
    if not head:
        handler.wfile.write(body)
