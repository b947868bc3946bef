#!/usr/bin/env python3
"""A device in Python (standard library only) talking to outpost-ems over its Unix socket.

Sets a property, emits an event, then answers the calls of one service by long-polling.

    python3 device.py --socket /etc/outpost-ems/run/local.sock --thing pump-1 [--service reset] [--once]

Exit codes: 0 done, 1 the EMS refused a request or is not running, 2 usage.
"""
import argparse
import http.client
import json
import socket
import sys


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a Unix socket: http.client with its connect() replaced."""

    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def call(sock_path, method, path, body=None, timeout=60):
    """One request; returns (status, parsed JSON body or None)."""
    conn = UnixHTTPConnection(sock_path, timeout=timeout)
    try:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers=headers)
        res = conn.getresponse()
        raw = res.read()
        return res.status, (json.loads(raw) if raw else None)
    finally:
        conn.close()


def must(status, body, what):
    if status >= 300:
        print(f"ems-python: {what} failed: {status} {body}", file=sys.stderr)
        sys.exit(1)
    return body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", default="/etc/outpost-ems/run/local.sock")
    ap.add_argument("--thing", required=True)
    ap.add_argument("--service", default="reset")
    ap.add_argument("--once", action="store_true", help="answer one call, then exit")
    a = ap.parse_args()
    base = f"/things/{a.thing}"

    # 200 means the value is on the EMS's disk: it reaches the server even if the EMS restarts.
    must(*call(a.socket, "PUT", f"{base}/properties/temperature", {"value": 21.5}), "set temperature")
    must(*call(a.socket, "PUT", f"{base}/properties", {"values": {"rpm": 1200, "mode": "auto"}}), "set batch")
    must(*call(a.socket, "POST", f"{base}/events/started", {"data": {"by": "python"}}), "emit started")
    print(json.dumps({"ready": True}), flush=True)

    while True:
        status, body = call(a.socket, "GET", f"{base}/services/{a.service}/calls?timeout=25", timeout=40)
        if status == 204:
            continue  # no call within the timeout: poll again
        body = must(status, body, "wait for a call")
        params = body["params"]
        print(json.dumps({"call": body["id"], "params": params}), flush=True)
        if "x" in params:
            answer = {"result": {"doubled": params["x"] * 2}}
        else:
            answer = {"error": {"status": 400, "message": "x is required"}}
        must(*call(a.socket, "POST", f"/calls/{body['id']}", answer), "answer the call")
        if a.once:
            return


if __name__ == "__main__":
    try:
        main()
    except (ConnectionRefusedError, FileNotFoundError) as e:
        print(f"ems-python: the EMS is not running: {e}", file=sys.stderr)
        sys.exit(1)
