"""The HTTP server: routes of the Grid'5000 REST API over the reference data,
OAR-backed jobs and status, and an in-memory kadeploy stand-in."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import threading
import time
import urllib.parse
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

from ._oar import OarApi, SiteJobs
from ._reference import JSON, HttpError, Reference

logger = logging.getLogger("procession.testbed.g5kapi")

ITEM = "application/vnd.grid5000.item+json"
COLLECTION = "application/vnd.grid5000.collection+json"
VERSIONS = ("stable", "3.0", "4.0", "sid")
"""Path prefixes served, all with the same documents."""

Answer = tuple[int, JSON | list[JSON] | None, str | None]


def link(rel: str, href: str, mtype: str = ITEM, title: str | None = None) -> JSON:
    d: JSON = {"rel": rel, "href": href, "type": mtype}
    if title:
        d["title"] = title
    return d


def collection(
    items: Sequence[JSON], href: str, query: Mapping[str, list[str]], parent: str | None = None
) -> JSON:
    """A paginated collection (``offset``, ``limit`` query parameters)."""
    offset = int(query.get("offset", ["0"])[0])
    limit = int(query.get("limit", [str(max(len(items), 1))])[0])
    links = [link("self", href, COLLECTION)] + ([link("parent", parent)] if parent else [])
    return {
        "total": len(items),
        "offset": offset,
        "items": list(items[offset : offset + limit]),
        "links": links,
    }


class Api:
    """The documents of the API: reference data, jobs, status, deployments."""

    def __init__(
        self,
        data_dir: Path,
        oar_api: Mapping[str, str],
        default_user: str,
        deploy_seconds: float,
        ko_nodes: Sequence[str],
    ) -> None:
        self.ref = Reference(data_dir)
        self.sites = {site: SiteJobs(site, OarApi(url)) for site, url in oar_api.items()}
        self.default_user = default_user
        self.deploy_seconds = deploy_seconds
        self.ko_nodes = frozenset(ko_nodes)
        self.deployments: dict[str, JSON] = {}
        self.lock = threading.Lock()

    # --- reference ----------------------------------------------------------
    def root(self, v: str) -> JSON:
        return {
            "uid": "grid5000",
            "type": "grid",
            "version": self.ref.version,
            "links": [
                link("self", "/" + v),
                link("collection", f"/{v}/sites", COLLECTION, "sites"),
                link("collection", f"/{v}/network_equipments", COLLECTION, "network_equipments"),
            ],
        }

    def site_item(self, v: str, s: str) -> JSON:
        base = f"/{v}/sites/{s}"
        subs = ("clusters", "network_equipments", "jobs", "deployments", "status")
        return dict(
            self.ref.site(s),
            version=self.ref.version,
            links=[link("self", base), link("parent", "/" + v)]
            + [link("collection", f"{base}/{sub}", COLLECTION, sub) for sub in subs],
        )

    def cluster_item(self, v: str, s: str, c: str) -> JSON:
        base = f"/{v}/sites/{s}/clusters/{c}"
        return dict(
            self.ref.cluster(s, c),
            version=self.ref.version,
            links=[
                link("self", base),
                link("parent", f"/{v}/sites/{s}"),
                link("collection", base + "/nodes", COLLECTION, "nodes"),
                link("collection", base + "/status", COLLECTION, "status"),
            ],
        )

    def node_item(self, v: str, s: str, c: str, n: str) -> JSON:
        base = f"/{v}/sites/{s}/clusters/{c}"
        return dict(
            self.ref.node(s, c, n),
            version=self.ref.version,
            links=[link("self", f"{base}/nodes/{n}"), link("parent", base)],
        )

    def equipments(self, v: str, q: Mapping[str, list[str]], site: str | None) -> JSON:
        items = [dict(e, version=self.ref.version) for e in self.ref.equipments(site)]
        base = f"/{v}/sites/{site}" if site else f"/{v}"
        return collection(items, base + "/network_equipments", q, base)

    # --- jobs -----------------------------------------------------------------
    def jobs_of(self, s: str) -> SiteJobs:
        self.ref.site(s)  # 404 for unknown sites
        if s not in self.sites:
            raise HttpError(503, f"no OAR behind site {s} in this stand-in")
        return self.sites[s]

    # --- deployments (kadeploy stand-in, named as such) -------------------------
    def _deployment_view(self, dep: JSON) -> JSON:
        # The deployment "runs" for deploy_seconds; its state is computed on
        # read, so that no thread outlives a request.
        if dep["status"] == "processing" and time.time() >= dep["created_at"] + self.deploy_seconds:
            dep["status"] = "terminated"
            dep["updated_at"] = int(time.time())
            dep["result"] = {
                n: {"macro": None, "micro": None, "state": "KO" if n in self.ko_nodes else "OK"}
                for n in dep["nodes"]
            }
        return dict(dep)

    def create_deployment(self, v: str, s: str, body: Mapping[str, Any], user: str) -> JSON:
        self.ref.site(s)
        nodes, env = body.get("nodes"), body.get("environment")
        if not isinstance(nodes, list) or not nodes or not env:
            raise HttpError(
                400, "nodes must be a non-empty list of node FQDN and environment is required"
            )
        now = int(time.time())
        uid = "D-" + str(uuid.uuid4())
        dep: JSON = {
            "uid": uid,
            "site_uid": s,
            "user_uid": user,
            "environment": env,
            "status": "processing",
            "nodes": nodes,
            "result": {},
            "created_at": now,
            "updated_at": now,
            "links": [
                link("self", f"/{v}/sites/{s}/deployments/{uid}"),
                link("parent", f"/{v}/sites/{s}"),
            ],
        }
        with self.lock:
            self.deployments[uid] = dep
            return self._deployment_view(dep)

    def deployment(self, uid: str) -> JSON:
        with self.lock:
            if uid not in self.deployments:
                raise HttpError(404, f"deployment {uid} not found")
            return self._deployment_view(self.deployments[uid])

    def site_deployments(self, v: str, s: str, q: Mapping[str, list[str]]) -> JSON:
        with self.lock:
            items = [
                self._deployment_view(d) for d in self.deployments.values() if d["site_uid"] == s
            ]
        items.sort(key=lambda d: -float(d["created_at"]))
        return collection(items, f"/{v}/sites/{s}/deployments", q)

    def cancel_deployment(self, uid: str) -> None:
        with self.lock:
            dep = self.deployments.get(uid)
            if not dep:
                raise HttpError(404, f"deployment {uid} not found")
            if self._deployment_view(dep)["status"] == "processing":
                dep["status"] = "canceled"
                dep["updated_at"] = int(time.time())

    # --- routing --------------------------------------------------------------
    def get(self, v: str, p: list[str], q: Mapping[str, list[str]], user: str) -> JSON | list[JSON]:
        ref = self.ref
        n = len(p)
        if n == 0:
            return self.root(v)
        if p == ["network_equipments"]:
            return self.equipments(v, q, None)
        if p[0] != "sites":
            raise HttpError(404, "not found: /" + "/".join(p))
        if n == 1:
            items = [self.site_item(v, s) for s in ref.sites()]
            return collection(items, f"/{v}/sites", q, "/" + v)
        s = p[1]
        prefix = f"/{v}/sites/{s}"
        if n == 2:
            return self.site_item(v, s)
        what = p[2]
        if n == 3 and what == "network_equipments":
            return self.equipments(v, q, s)
        if n == 3 and what == "clusters":
            items = [self.cluster_item(v, s, c) for c in ref.clusters(s)]
            return collection(items, prefix + "/clusters", q, prefix)
        if n == 4 and what == "clusters":
            return self.cluster_item(v, s, p[3])
        if n == 5 and what == "clusters" and p[4] == "nodes":
            base = f"{prefix}/clusters/{p[3]}"
            items = [self.node_item(v, s, p[3], x) for x in ref.nodes(s, p[3])]
            return collection(items, base + "/nodes", q, base)
        if n == 6 and what == "clusters" and p[4] == "nodes":
            return self.node_item(v, s, p[3], p[5])
        if n == 3 and what == "status":
            return self.jobs_of(s).status(prefix)
        if n == 5 and what == "clusters" and p[4] == "status":
            ref.cluster(s, p[3])
            return self.jobs_of(s).status(prefix, p[3])
        if n == 3 and what == "jobs":
            states = q["state"][0].split(",") if "state" in q else None
            owner = q["user"][0] if "user" in q else None
            jobs = self.jobs_of(s).jobs(prefix, states, owner)
            return collection(jobs, prefix + "/jobs", q, prefix)
        if n == 4 and what == "jobs":
            return self.jobs_of(s).job(prefix, p[3], user)
        if n == 3 and what == "deployments":
            return self.site_deployments(v, s, q)
        if n == 4 and what == "deployments":
            return self.deployment(p[3])
        if n == 3 and what == "metrics":
            return self.metrics(s, q)
        if n >= 5 and p[2:4] == ["internal", "oarapi"]:
            # Execo's planning reads OAR's resources through this proxy
            return self._oarapi_proxy(s, "/".join(p[4:]), q)
        raise HttpError(404, "not found: /" + "/".join(p))

    def metrics(self, s: str, q: Mapping[str, list[str]]) -> list[JSON]:
        """A stand-in of the metrics API (named as such: synthetic values).

        ``?nodes=a,b&metrics=m[,m2]&start_time=T&end_time=T`` (unix or ISO
        dates): one point every 10 s per node and metric, value ``100 + i``
        for the node's i-th point, so that tests can check them."""
        self.ref.site(s)
        nodes = [x for x in q.get("nodes", [""])[0].split(",") if x]
        names = [x for x in q.get("metrics", [""])[0].split(",") if x]
        now = int(time.time())
        start = _timestamp(q.get("start_time", [str(now - 60)])[0])
        end = _timestamp(q.get("end_time", [str(now)])[0])
        return [
            {
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)),
                "device_id": node,
                "metric_id": metric,
                "value": 100.0 + i,
                "labels": {},
            }
            for node in nodes
            for metric in names
            for i, ts in enumerate(range(start, end + 1, 10))
        ]

    def _oarapi_proxy(self, s: str, path: str, q: Mapping[str, list[str]]) -> JSON:
        if path not in ("resources/details", "resources/full", "resources"):
            raise HttpError(404, f"not served by this stand-in: internal/oarapi/{path}")
        items = self.jobs_of(s).resources()
        return {"total": len(items), "offset": 0, "items": items, "links": []}

    def post(self, v: str, p: list[str], body: Mapping[str, Any], user: str) -> Answer:
        if len(p) == 3 and p[0] == "sites":
            prefix = f"/{v}/sites/{p[1]}"
            if p[2] == "jobs":
                job = self.jobs_of(p[1]).submit(prefix, body, user)
                return 201, job, f"{prefix}/jobs/{job['uid']}"
            if p[2] == "deployments":
                dep = self.create_deployment(v, p[1], body, user)
                return 201, dep, f"{prefix}/deployments/{dep['uid']}"
        raise HttpError(405, "no route for POST /" + "/".join(p))

    def delete(self, v: str, p: list[str], user: str) -> Answer:
        if len(p) == 4 and p[0] == "sites":
            if p[2] == "jobs":
                self.jobs_of(p[1]).delete(p[3], user)
                return 202, None, f"/{v}/sites/{p[1]}/jobs/{p[3]}"
            if p[2] == "deployments":
                self.cancel_deployment(p[3])
                return 202, None, f"/{v}/sites/{p[1]}/deployments/{p[3]}"
        raise HttpError(405, "no route for DELETE /" + "/".join(p))


def _timestamp(value: str) -> int:
    if value.lstrip("-").isdigit():
        return int(value)
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


class _Handler(BaseHTTPRequestHandler):
    api: ClassVar[Api]
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def _user(self) -> str:
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                return base64.b64decode(auth[6:]).decode().split(":", 1)[0]
            except (binascii.Error, UnicodeDecodeError):
                raise HttpError(401, "malformed Authorization header") from None
        return self.headers.get("X-Api-User-Cn") or self.api.default_user

    def _send(
        self, code: int, body: JSON | list[JSON] | None = None, location: str | None = None
    ) -> None:
        data = b"" if body is None else json.dumps(body, indent=2).encode()
        self.send_response(code)
        # the real API answers "application/json; charset=utf-8" (python-grid5000
        # parses a body only when the Content-Type contains application/json)
        ctype = "application/json; charset=utf-8" if body is not None else "text/plain"
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        # One request per connection: no idle keep-alive connection (and
        # its server thread) outlives a client that forgets to close it.
        self.send_header("Connection", "close")
        self.close_connection = True
        if location:
            self.send_header("Location", location)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> JSON:
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if "json" in self.headers.get("Content-Type", "") or raw[:1] in (b"{", b"["):
            data: JSON = json.loads(raw or b"{}")
            return data
        form = urllib.parse.parse_qs(raw.decode())
        return {k: v if len(v) > 1 else v[0] for k, v in form.items()}

    def _route(self, method: str) -> Answer:
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        parts = [urllib.parse.unquote(x) for x in url.path.split("/") if x]
        if parts and parts[-1].endswith(".json"):
            parts[-1] = parts[-1].removesuffix(".json")
        if not parts or parts[0] not in VERSIONS:
            raise HttpError(404, "unknown API version (use /stable)")
        v, p, user = parts[0], parts[1:], self._user()
        if method == "GET":
            return 200, self.api.get(v, p, q, user), None
        if method == "POST":
            return self.api.post(v, p, self._body(), user)
        return self.api.delete(v, p, user)

    def _handle(self, method: str) -> None:
        try:
            code, body, location = self._route(method)
            self._send(code, body, location)
        except HttpError as e:
            self._send(e.code, {"code": e.code, "message": e.message, "title": "error"})
        except (ValueError, KeyError, TypeError) as e:
            self._send(400, {"code": 400, "message": str(e), "title": "error"})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")


DATA_DIR = Path(__file__).with_name("data") / "grid5000"
"""The reference data shipped with procession (three sites; see its README)."""


class G5kApiServer:
    """A local stand-in for the Grid'5000 REST API, on a thread of this process.

    It serves, under ``/stable`` (and ``/3.0``, ``/4.0``, ``/sid``), the
    reference data of *data_dir* (sites, clusters, nodes, network
    equipments; paginated collections with ``links``), each site's
    ``/status`` and ``/jobs`` from the OAR REST API given for it in
    *oar_api* (``{"grenoble": "http://127.0.0.1:6668/oarapi"}``; other sites
    answer 503 there), and ``/deployments`` from an in-memory stand-in of
    kadeploy that "deploys" in *deploy_seconds* and fails the *ko_nodes*.
    The user is taken from HTTP Basic auth (any password), else the
    ``X-Api-User-Cn`` header, else *default_user*.

    Args:
        data_dir: the ``grid5000`` directory of the reference data.
        host: the address to listen on.
        port: the port; 0 picks a free one (see :attr:`url`).
        oar_api: site name to OAR REST API base URL.
        default_user: the user of unauthenticated requests.
        deploy_seconds: how long a deployment takes, in seconds.
        ko_nodes: nodes whose deployments fail.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.
    Requests are served on threads of this process, one per connection.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] = DATA_DIR,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        oar_api: Mapping[str, str] | None = None,
        default_user: str | None = None,
        deploy_seconds: float = 3.0,
        ko_nodes: Sequence[str] = (),
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port
        self.oar_api = dict(oar_api or {})
        self.default_user = default_user or os.environ.get("USER", "nobody")
        self.deploy_seconds = deploy_seconds
        self.ko_nodes = tuple(ko_nodes)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The API's base URL, ``http://HOST:PORT/stable/`` (the value for
        ``g5k_configuration['api_uri']``)."""
        return f"http://{self.host}:{self.port}/stable/"

    def start(self) -> G5kApiServer:
        """Load the data and listen; returns once connections are accepted."""
        if self._server is not None:
            return self
        api = Api(
            self.data_dir, self.oar_api, self.default_user, self.deploy_seconds, self.ko_nodes
        )
        handler = type("Handler", (_Handler,), {"api": api})
        server = ThreadingHTTPServer((self.host, self.port), handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="g5k-api-standin"
        )
        self._thread.start()
        logger.debug("Grid'5000 API stand-in on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop listening and close the socket; idempotent."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join()

    def serve_forever(self) -> None:
        """Serve on the calling thread until interrupted (the ``python -m`` entry)."""
        self.start()
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(1)
        finally:
            self.stop()

    def __enter__(self) -> G5kApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._server else "stopped"
        return f"<G5kApiServer {self.url} {state} oar={sorted(self.oar_api)}>"
