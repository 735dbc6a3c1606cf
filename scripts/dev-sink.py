#!/usr/bin/env python3
"""A throwaway stand-in for the collector, for the quick start only: accepts POST /v1/batches on loopback, answers
200 (an empty body is a valid, all-defaults vigil.v1.Ack) and counts what arrived. The real collector is
`vigil-collector`; this exists so the agent can be shown end to end before it is built. Usage: dev-sink.py PORTFILE"""
import http.server, json, sys, threading, gzip

stats = {"requests": 0, "bytes": 0, "gzip_bytes": 0}
lock = threading.Lock()

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(body)
        else:
            raw = body
        with lock:
            stats["requests"] += 1; stats["bytes"] += len(raw); stats["gzip_bytes"] += len(body)
        self.send_response(200); self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0"); self.end_headers()
    def do_GET(self):
        data = json.dumps(stats).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data))); self.end_headers(); self.wfile.write(data)
    def log_message(self, *args): pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1], "w") as f: f.write(str(server.server_address[1]))
server.serve_forever()
