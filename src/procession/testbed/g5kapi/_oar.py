"""Jobs and status of a site, read and written through OAR's REST API.

The real Grid'5000 API reads each site's OAR database and posts jobs to the
site's OAR REST API; the stand-in does both through the OAR REST API
(``oar-restful-api``), which trusts the ``X-Remote-Ident`` header for the
user, as Grid'5000's front proxy sets it.

One OAR server may stand for several sites: a resource belongs to the site
named by its ``site`` property (all of them when OAR has no such property),
a job to the site of its resources, or, before it has any, to the site
named in its properties (``site='lyon'``, which the stand-in adds to every
job submitted through ``/sites/lyon/jobs``).
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any

from ._reference import JSON, HttpError

CURRENT_STATES = (
    "Waiting,Hold,toLaunch,toAckReservation,Launching,Running,Suspended,Resuming,Finishing"
)
"""The OAR states of current jobs (those that hold or will hold resources)."""


class OarApi:
    """A client of one OAR REST API (``http://host:port/oarapi``)."""

    def __init__(self, base: str, timeout: float = 60) -> None:
        self.base = base.rstrip("/")
        self.timeout = timeout

    def call(
        self, method: str, path: str, user: str | None = None, body: JSON | None = None
    ) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if user:
            req.add_header("X-Remote-Ident", user)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            text = e.read().decode(errors="replace")
            try:  # OAR's error document: pass its message on, not the document
                text = str(json.loads(text).get("message", text))
            except (ValueError, AttributeError):
                pass
            raise HttpError(e.code, text) from None
        except (urllib.error.URLError, TimeoutError) as e:
            raise HttpError(502, f"OAR API unreachable: {e}") from None


def _walltime(job: Mapping[str, Any]) -> int | None:
    if isinstance(job.get("walltime"), int):
        return int(job["walltime"])
    m = re.search(r"walltime=(\d+):(\d+):(\d+)", job.get("wanted_resources") or "")
    return int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3]) if m else None


def _link(rel: str, href: str) -> JSON:
    return {"rel": rel, "href": href, "type": "application/vnd.grid5000.item+json"}


class SiteJobs:
    """The jobs and status of Grid'5000 site *site*, kept by OAR at *oar*."""

    def __init__(self, site: str, oar: OarApi) -> None:
        self.site = site
        self.oar = oar

    # --- ownership of resources and jobs ---------------------------------------
    def _mine(self, resource: Mapping[str, Any]) -> bool:
        return resource.get("site") in (None, self.site)

    def _job_is_mine(self, job: Mapping[str, Any]) -> bool:
        resources = job.get("resources") or []
        if resources:
            return any(self._mine(r) for r in resources)
        props = job.get("properties") or ""
        named = re.findall(r"site\s*=\s*'([^']*)'", props)
        return not named or self.site in named

    # --- Grid'5000 job documents ----------------------------------------------
    def g5k_job(self, prefix: str, job: Mapping[str, Any], nodes: list[str] | None = None) -> JSON:
        """The Grid'5000 API document of OAR job *job*: a ``/jobs/details``
        item, or a ``/jobs/ID`` one and the names of its *nodes*."""
        uid = int(job["id"])
        resources = sorted(job.get("resources") or [], key=lambda r: int(r.get("id", 0)))
        cores = [str(r["network_address"]) for r in resources if self._mine(r)]
        if nodes is None:
            nodes = sorted(set(cores))
        else:
            cores = cores or nodes
        return {
            "uid": uid,
            "user_uid": job.get("owner"),
            "user": job.get("owner"),
            "walltime": _walltime(job),
            "queue": job.get("queue"),
            "state": str(job.get("state") or "").lower(),
            "project": job.get("project"),
            "name": job.get("name"),
            "types": list(job.get("types") or []),
            "mode": job.get("type"),
            "command": job.get("command"),
            "submitted_at": job.get("submission_time"),
            # as the real API: 0 until the job starts
            "started_at": job.get("start_time") or 0,
            "stopped_at": job.get("stop_time") or None,
            "scheduled_at": job.get("scheduled_start") or job.get("start_time") or None,
            "message": job.get("message"),
            "properties": job.get("properties"),
            "directory": job.get("launching_directory"),
            "exit_code": job.get("exit_code"),
            "reservation": job.get("reservation") not in (None, "None"),
            "events": [
                {
                    "uid": e.get("event_id"),
                    "created_at": e.get("date"),
                    "type": e.get("type"),
                    "description": e.get("description"),
                }
                for e in job.get("events") or []
            ],
            "assigned_nodes": nodes,
            "resources_by_type": {"cores": cores},
            "links": [_link("self", f"{prefix}/jobs/{uid}"), _link("parent", prefix)],
        }

    def _details(self, states: str | None, user: str | None) -> list[JSON]:
        params = {"limit": "1000000"}
        if states:
            params["state"] = states
        if user:
            params["user"] = user
        answer = self.oar.call("GET", "/jobs/details.json?" + urllib.parse.urlencode(params))
        items = (answer or {}).get("items", [])
        return [j for j in items if self._job_is_mine(j)]

    def job(self, prefix: str, job_id: str, user: str | None) -> JSON:
        if not job_id.isdigit():
            raise HttpError(404, f"job {job_id} not found")
        job = self.oar.call("GET", f"/jobs/{job_id}.json", user)
        if job.get("state") in ("Waiting", "Hold", "toLaunch", "toAckReservation"):
            return self.g5k_job(prefix, job)
        # /jobs/ID/nodes.json: the nodes' names, in one more call (two calls
        # per job, as the real API's SQL on OAR's database)
        nodes = self.oar.call("GET", f"/jobs/{job_id}/nodes.json", user)
        names = sorted({str(n["network_address"]) for n in (nodes or {}).get("items", [])})
        return self.g5k_job(prefix, job, names)

    def jobs(self, prefix: str, states: Iterable[str] | None, user: str | None) -> list[JSON]:
        """Current jobs (or those in *states*, Grid'5000 lower-case names), newest first."""
        if states:
            names = {x.lower(): x for x in [*CURRENT_STATES.split(","), "Terminated", "Error"]}
            oar_states = ",".join(names.get(x.lower(), x.capitalize()) for x in states)
        else:
            oar_states = CURRENT_STATES
        details = self._details(oar_states, user)
        return [self.g5k_job(prefix, j) for j in sorted(details, key=lambda j: -int(j["id"]))]

    def submit(self, prefix: str, body: Mapping[str, Any], user: str | None) -> JSON:
        if not body.get("command") and not body.get("reservation"):
            raise HttpError(
                400,
                "The job you are trying to submit is not valid: "
                "you must give a :command to execute on launch",
            )
        job: JSON = {"resource": body.get("resources") or "nodes=1"}
        job["command"] = body.get("command") or "sleep 365d"
        properties = f"site='{self.site}'"
        if body.get("properties"):
            properties = f"({body['properties']}) AND {properties}"
        job["property"] = properties
        if isinstance(body.get("reservation"), int | float):
            # As the real API: a UNIX timestamp, or a date in the site's zone
            # (this machine's, where the OAR server runs).
            stamp = time.localtime(float(body["reservation"]))
            body = {**body, "reservation": time.strftime("%Y-%m-%d %H:%M:%S", stamp)}
        for g5k, oar in (
            ("types", "type"),
            ("reservation", "reservation"),
            ("name", "name"),
            ("project", "project"),
            ("queue", "queue"),
            ("directory", "directory"),
            ("stdout", "stdout"),
            ("stderr", "stderr"),
        ):
            if body.get(g5k) not in (None, "", []):
                job[oar] = body[g5k]
        answer = self.oar.call("POST", "/jobs.json", user, job)
        return self.job(prefix, str(answer["id"]), user)

    def delete(self, job_id: str, user: str | None) -> None:
        if not job_id.isdigit():
            raise HttpError(404, f"job {job_id} not found")
        self.oar.call("DELETE", f"/jobs/{job_id}.json", user)

    # --- status ---------------------------------------------------------------
    def resources(self) -> list[JSON]:
        """OAR's resources of this site, with all their properties."""
        answer = self.oar.call("GET", "/resources/full.json?limit=1000000")
        return [r for r in (answer or {}).get("items", []) if self._mine(r)]

    def status(self, prefix: str, cluster: str | None = None) -> JSON:
        """The ``/status`` document: every node's hard and soft state and
        its current reservations."""
        nodes: dict[str, JSON] = {}
        for r in self.resources():
            if cluster and r.get("cluster") not in (None, cluster):
                continue
            nodes.setdefault(
                str(r["network_address"]),
                {
                    "hard": str(r.get("state") or "").lower(),
                    "soft": "free",
                    "comment": "",
                    "reservations": [],
                },
            )
        for job in sorted(self._details(CURRENT_STATES, None), key=lambda j: int(j["id"])):
            doc = self.g5k_job(prefix, job)
            reservation = {
                k: doc[k]
                for k in (
                    "uid",
                    "user_uid",
                    "user",
                    "queue",
                    "state",
                    "walltime",
                    "types",
                    "submitted_at",
                    "scheduled_at",
                    "started_at",
                    "properties",
                )
            }
            for name in doc["assigned_nodes"]:
                if name in nodes:
                    if doc["state"] in ("running", "launching", "finishing"):
                        nodes[name]["soft"] = "busy"
                    nodes[name]["reservations"].append(reservation)
        return {
            "uid": int(time.time()),
            "nodes": nodes,
            "disks": {},
            "vlans": {},
            "links": [_link("self", f"{prefix}/status"), _link("parent", prefix)],
        }
