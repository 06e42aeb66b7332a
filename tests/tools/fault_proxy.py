#!/usr/bin/env python3
"""A fault-injecting HTTP proxy in front of a local DynamoDB-compatible server, for tests.

Usage: fault_proxy.py UPSTREAM_URL PORT_FILE STATS_FILE [--throttle P] [--unprocessed P] [--seed N]

Listens on 127.0.0.1 (a free port, written to PORT_FILE once listening) and forwards every
request to UPSTREAM_URL. A share of BatchWriteItem requests is answered with faults:
  --throttle P     answer HTTP 400 ProvisionedThroughputExceededException (nothing written)
  --unprocessed P  forward only part of the items and return the rest as UnprocessedItems
STATS_FILE receives, after each fault, a JSON object with the running counts:
  {"requests": N, "throttled": N, "unprocessed_items": N, "written_items": N}
"""
import http.client
import http.server
import json
import random
import sys
import threading
import urllib.parse
import zlib

upstream = urllib.parse.urlparse(sys.argv[1])
port_file, stats_file = sys.argv[2], sys.argv[3]
opts = dict(zip(sys.argv[4::2], sys.argv[5::2]))
p_throttle = float(opts.get("--throttle", "0"))
p_unprocessed = float(opts.get("--unprocessed", "0"))
rng = random.Random(int(opts.get("--seed", "7")))
lock = threading.Lock()
stats = {"requests": 0, "throttled": 0, "unprocessed_items": 0, "written_items": 0}


def save():
    with open(stats_file + ".tmp", "w") as f:
        json.dump(stats, f)
    import os
    os.replace(stats_file + ".tmp", stats_file)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, status, headers, body):
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in ("content-length", "x-amz-crc32", "transfer-encoding", "connection", "server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        # DynamoDB clients check this checksum of the body.
        self.send_header("x-amz-crc32", str(zlib.crc32(body) & 0xFFFFFFFF))
        self.end_headers()
        self.wfile.write(body)

    def forward(self, body):
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("content-length", "host")}
        headers["Content-Length"] = str(len(body))
        headers["Host"] = upstream.netloc
        conn.request(self.command, self.path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, r.getheaders(), data

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        target = self.headers.get("X-Amz-Target", "")
        if not target.endswith(".BatchWriteItem"):
            self.reply(*self.forward(body))
            return
        req = json.loads(body)
        with lock:
            stats["requests"] += 1
            roll = rng.random()
            cut = None
            if roll < p_throttle:
                stats["throttled"] += 1
                save()
            elif roll < p_throttle + p_unprocessed:
                cut = rng.random()
        if roll < p_throttle:
            err = json.dumps({
                "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "message": "The level of configured provisioned throughput for the table was exceeded (injected by fault_proxy)",
            }).encode()
            self.reply(400, [("Content-Type", "application/x-amz-json-1.0")], err)
            return
        unprocessed = {}
        if cut is not None:
            kept = {}
            for table, writes in req["RequestItems"].items():
                k = max(0, min(len(writes) - 1, int(len(writes) * cut)))
                if writes[k:]:
                    unprocessed[table] = writes[k:]
                if writes[:k]:
                    kept[table] = writes[:k]
            req["RequestItems"] = kept
        n_unprocessed = sum(len(v) for v in unprocessed.values())
        n_sent = sum(len(v) for v in req["RequestItems"].values())
        if n_sent == 0:
            status, headers, data = 200, [("Content-Type", "application/x-amz-json-1.0")], b'{"UnprocessedItems": {}}'
        else:
            status, headers, data = self.forward(json.dumps(req).encode())
        if status == 200:
            out = json.loads(data)
            merged = out.get("UnprocessedItems") or {}
            for t, w in unprocessed.items():
                merged.setdefault(t, []).extend(w)
            out["UnprocessedItems"] = merged
            data = json.dumps(out).encode()
            with lock:
                stats["unprocessed_items"] += n_unprocessed
                stats["written_items"] += n_sent
                save()
        self.reply(status, headers, data)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
save()
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.replace(port_file + ".tmp", port_file)
server.serve_forever()
