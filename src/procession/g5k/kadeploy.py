"""kadeploy3 deployments: ``Deployment``, ``Kadeployer`` and ``deploy``.

Execo's ``execo_g5k.kadeploy`` names and semantics. ``Kadeployer`` runs one
``kadeploy3`` per site, on that site's frontend (through ``SshProcess``, or
locally for the local frontend), and reads the nodes that kadeploy reports
as deployed or not in its summary::

    The deployment is successful on nodes
    dahu-1.grenoble.grid5000.fr
    The deployment failed on nodes
    dahu-2.grenoble.grid5000.fr (Deployment error: ...)

(kadeploy3 >= 3.2; the "Nodes correctly deployed on cluster X" form of older
versions is read too). :func:`deploy` first checks, with a command over
ssh, which nodes already run the environment, deploys the others, checks
again, and retries up to ``num_tries`` times.

With ``g5k_configuration['kadeploy_backend'] == 'api'``, ``Kadeployer``
submits one deployment per site to the Grid'5000 REST API instead
(``POST /sites/{site}/deployments``), polls it until its status is final,
and reads each node's ``result`` (``OK`` or ``KO``): no ssh to a frontend,
so a script runs from outside Grid'5000. :func:`deploy` works the same on
top of either backend.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shlex
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from procession import (
    Action,
    ActionLifecycleHandler,
    Host,
    ProcessBase,
    ProcessOutputHandler,
    expand_hosts,
    format_duration,
    get_remote,
)

from .api_utils import APIConnection, APIException, get_host_shortname
from .config import g5k_configuration
from .utils import (
    Frontend,
    frontend_process,
    get_default_frontend,
    get_kavlan_host_name,
    process_message,
)

__all__ = [
    "Deployment",
    "KadeployOutputParser",
    "Kadeployer",
    "deploy",
    "get_host_frontend",
]

logger = logging.getLogger("procession.g5k.kadeploy")

HostsArg = Iterable[Host | str] | str | Host


@dataclass(slots=True)
class Deployment:
    """What to deploy where: the options of one kadeploy3 run.

    Give either ``env_name`` or ``env_file``; with neither,
    ``g5k_configuration['default_env_name']`` (or ``default_env_file``) is
    used.

    Attributes:
        hosts: the nodes to deploy (hosts, names, or a node set such as
            ``"dahu-[1-4].grenoble.grid5000.fr"``).
        env_file: ``kadeploy3 -a``: an environment description file.
        env_name: ``kadeploy3 -e``: the name of a registered environment.
        user: ``kadeploy3 -u``: the owner of the environment.
        other_options: a string put as it is on kadeploy3's command line.
        vlan: ``kadeploy3 --vlan``: the KaVLAN the nodes are put in after
            the deployment (:func:`deploy` then reaches them by their
            KaVLAN names).
        key: API backend only: the public key put in root's
            ``authorized_keys`` (the key's text, an http(s) URL, or a local
            file whose text is sent); None: the first of
            ``~/.ssh/id_ed25519.pub``, ``id_ecdsa.pub``, ``id_rsa.pub``
            that exists. The ssh backend's ``kadeploy3_options`` (``-k``)
            does this instead.

    With the API backend (``g5k_configuration['kadeploy_backend'] ==
    'api'``), ``env_name`` with ``user`` becomes the API's
    ``"name@user"``, ``env_file`` must be an http(s) URL (the API fetches
    the description), and ``other_options`` is ignored with a warning.

    .. versionadded:: 0.1
    """

    hosts: HostsArg = ()
    env_file: str | None = None
    env_name: str | None = None
    user: str | None = None
    other_options: str | None = None
    vlan: int | str | None = None
    key: str | None = None

    def _environment(self) -> tuple[str | None, str | None]:
        """``(env_name, env_file)``, one of them set, defaults applied."""
        if self.env_file and self.env_name:
            raise ValueError(f"{self!r}: give env_file or env_name, not both")
        env_name, env_file = self.env_name, self.env_file
        if not env_name and not env_file:
            env_name = g5k_configuration.get("default_env_name")
            env_file = g5k_configuration.get("default_env_file")
            if env_name and env_file:
                raise ValueError("g5k_configuration has both default_env_name and default_env_file")
            if not env_name and not env_file:
                raise ValueError(
                    f"{self!r}: no environment (env_name, env_file, or "
                    "g5k_configuration['default_env_name'])"
                )
        return env_name, env_file

    def api_body(self, nodes: Iterable[str]) -> dict[str, Any]:
        """The API's deployment document (``POST /sites/{site}/deployments``)
        for *nodes* (full names).

        Raises:
            ValueError: no environment, both, or an ``env_file`` that is
                not an http(s) URL.
        """
        env_name, env_file = self._environment()
        if env_name:
            environment = f"{env_name}@{self.user}" if self.user else str(env_name)
        else:
            environment = str(env_file)
            if not re.match(r"^https?://", environment):
                raise ValueError(
                    f"{self!r}: the API backend takes env_file as an http(s) URL "
                    f"(the API fetches the description), not {environment!r}"
                )
        body: dict[str, Any] = {"nodes": list(nodes), "environment": environment}
        key = _api_key(self.key)
        if key:
            body["key"] = key
        if self.vlan is not None:
            body["vlan"] = int(self.vlan) if str(self.vlan).isdigit() else self.vlan
        if self.other_options:
            logger.warning("other_options are ignored by the API backend: %r", self.other_options)
        return body

    def command_line(self) -> str:
        """kadeploy3's command line without the nodes (``-m``).

        ``g5k_configuration['kadeploy3']`` and ``['kadeploy3_options']``
        come first, then the environment, user, vlan and other options.

        Raises:
            ValueError: both or none of ``env_name`` and ``env_file`` (and
                no default in ``g5k_configuration``).
        """
        words = [str(g5k_configuration["kadeploy3"])]
        if g5k_configuration.get("kadeploy3_options"):
            words.append(str(g5k_configuration["kadeploy3_options"]))
        env_name, env_file = self._environment()
        if env_name:
            words += ["-e", shlex.quote(str(env_name))]
        else:
            words += ["-a", shlex.quote(str(env_file))]
        if self.user is not None:
            words += ["-u", shlex.quote(self.user)]
        if self.vlan is not None:
            words += ["--vlan", shlex.quote(str(self.vlan))]
        if self.other_options:
            words.append(self.other_options)
        return " ".join(words)

    def __repr__(self) -> str:
        shown = [
            f"{f.name}={getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)
            if getattr(self, f.name) not in (None, ())
        ]
        return f"Deployment({', '.join(shown)})"


_DEFAULT_KEYS = ("id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub")


def _api_key(key: str | None) -> str | None:
    """The ``key`` of an API deployment: a URL or a key's text as given, a
    file's text, or the user's default public key (None: no key found)."""
    if key is None:
        for name in _DEFAULT_KEYS:
            path = os.path.join(os.path.expanduser("~"), ".ssh", name)
            if os.path.isfile(path):
                return _read_key(path)
        return None
    if re.match(r"^https?://", key) or " " in key.strip():
        return key
    return _read_key(os.path.expanduser(key))


def _read_key(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read().strip()


def use_api_kadeploy() -> bool:
    """Whether :class:`Kadeployer` goes through the REST API
    (``g5k_configuration['kadeploy_backend'] == 'api'``)."""
    backend = g5k_configuration.get("kadeploy_backend", "ssh")
    if backend not in ("ssh", "api"):
        raise ValueError(
            f"g5k_configuration['kadeploy_backend'] must be 'ssh' or 'api': {backend!r}"
        )
    return bool(backend == "api")


# ---------------------------------------------------------------- kadeploy output

_DEPLOYED_HEADERS = (
    re.compile(r"^Nodes correctly deployed on cluster \S+\s*$"),  # kadeploy3 < 3.2
    re.compile(r"^The \w+ is successful on nodes\s*$"),  # kadeploy3 >= 3.2
)
_UNDEPLOYED_HEADERS = (
    re.compile(r"^Nodes not correctly deployed on cluster \S+\s*$"),
    re.compile(r"^The \w+ failed on nodes\s*$"),
)
_DEPLOYED_NODE = re.compile(r"^(\S+)\s*$")
_UNDEPLOYED_NODE = re.compile(r"^(\S+)(?:\s+\(.*\))?\s*$")


class KadeployOutputParser:
    """Reads kadeploy3's stdout line by line (pure, no I/O).

    Attributes:
        deployed: node names reported as deployed, in order.
        undeployed: node names reported as not deployed, in order.
    """

    def __init__(self) -> None:
        self.deployed: list[str] = []
        self.undeployed: list[str] = []
        self._section: list[str] | None = None

    def feed(self, line: str) -> tuple[bool, str] | None:
        """One line of output, without its line ending.

        Returns:
            ``(deployed, node)`` when the line reports a node, else None.
        """
        if any(r.match(line) for r in _DEPLOYED_HEADERS):
            self._section = self.deployed
            return None
        if any(r.match(line) for r in _UNDEPLOYED_HEADERS):
            self._section = self.undeployed
            return None
        if self._section is None:
            return None
        deployed = self._section is self.deployed
        node = (_DEPLOYED_NODE if deployed else _UNDEPLOYED_NODE).match(line)
        if node is None:
            self._section = None  # the node list has ended
            return None
        self._section.append(node.group(1))
        return deployed, node.group(1)

    def reset(self) -> None:
        """Forget everything read."""
        self.__init__()  # type: ignore[misc]


# ---------------------------------------------------------------- Kadeployer

_SITE_IN_G5K_NAME = re.compile(r"^[^\s.]+\.([^\s.]+)\.grid5000\.fr$")
_SITE_IN_SHORT_NAME = re.compile(r"^[^\s.]+\.([^\s.]+)$")
_BARE_NAME = re.compile(r"^[^\s.]+$")


def get_host_frontend(host: Host | str) -> str | None:
    """The frontend (site) that deploys a node: ``dahu-1.grenoble.grid5000.fr``
    and ``dahu-1.grenoble`` give ``"grenoble"``; a bare name gives the
    default frontend.

    Raises:
        ValueError: a name of another form (an address, ...).
    """
    address = host.address if isinstance(host, Host) else str(host)
    for pattern in (_SITE_IN_G5K_NAME, _SITE_IN_SHORT_NAME):
        match = pattern.match(address)
        if match:
            return match.group(1)
    if _BARE_NAME.match(address):
        return get_default_frontend()
    raise ValueError(f"no frontend known for host {address!r} (expected node.site.grid5000.fr)")


@dataclass
class _FrontendRun:
    """One kadeploy3 process (or API deployment): its frontend, nodes and
    parsed output (or per-node result)."""

    frontend: Frontend
    hosts: dict[str, Host]
    parser: KadeployOutputParser
    process: ProcessBase | None = None
    # the API backend: the site, the deployment's uid, the error message
    site: str | None = None
    uid: str | None = None
    error: str | None = None

    def host(self, reported: str) -> Host | None:
        """The given Host that kadeploy's name for a node stands for:
        kadeploy prints full names, the deployment may use short ones."""
        return self.hosts.get(get_host_shortname(reported))

    def deployed(self) -> set[Host]:
        return {h for a in self.parser.deployed if (h := self.host(a)) is not None}

    def undeployed(self) -> set[Host]:
        return {h for a in self.parser.undeployed if (h := self.host(a)) is not None}


class _ParseKadeployStdout(ProcessOutputHandler):
    """Feeds a frontend's kadeploy3 stdout to its parser (conductor thread)."""

    def __init__(self, kadeployer: Kadeployer, run: _FrontendRun) -> None:
        super().__init__()
        self.kadeployer = kadeployer
        self.run = run

    def read_line(self, process: ProcessBase, stream: int, line: str) -> None:
        reported = self.run.parser.feed(line)
        host = self.run.host(reported[1]) if reported is not None else None
        if reported is not None and host is not None:
            k = self.kadeployer
            (k.deployed_hosts if reported[0] else k.undeployed_hosts).add(host)


class _FrontendPrefix(ProcessOutputHandler):
    """Gives a user handler each line prefixed with ``"<frontend>: "`` (as Execo)."""

    def __init__(self, frontend: Frontend, handler: Any) -> None:
        super().__init__()
        self.prefix = f"{frontend or 'localhost'}: "
        self.handler = handler

    def read_line(self, process: ProcessBase, stream: int, line: str) -> None:
        if isinstance(self.handler, ProcessOutputHandler):
            self.handler.read_line(process, stream, self.prefix + line)
        else:
            self.handler.write(self.prefix + line + "\n")


def _prefixed(frontend: Frontend, handlers: Iterable[Any] | None) -> list[Any]:
    """User handlers: output handlers and text files get prefixed lines;
    other kinds (file descriptors, file names) get the raw output."""
    out = []
    for h in handlers or ():
        if isinstance(h, ProcessOutputHandler) or (hasattr(h, "write") and not _is_binary(h)):
            out.append(_FrontendPrefix(frontend, h))
        else:
            out.append(h)
    return out


def _is_binary(f: Any) -> bool:
    return "b" in str(getattr(f, "mode", ""))


class _LogOutcome(ActionLifecycleHandler):
    def end(self, action: Action) -> None:
        assert isinstance(action, Kadeployer)
        action._log_outcome()


class Kadeployer(Action):
    """Deploy an environment with kadeploy3: one process per site, in parallel.

    The nodes are grouped by site (the second part of
    ``node.site.grid5000.fr``; bare names go to the default frontend), and
    each site's frontend runs ``kadeploy3 ... -m node ...``.

    Args:
        deployment: what to deploy where.
        frontend_connection_params: overrides of
            ``default_frontend_connection_params``.
        stdout_handlers: handlers also given each frontend's kadeploy3
            stdout; output handlers and text files get lines prefixed with
            ``"<frontend>: "``, as in Execo.
        stderr_handlers: same, for stderr.
        timeout: seconds for each kadeploy3 process (for the API
            backend: for the whole deployment, then cancelled); None (the
            default) for none.
        **kwargs: the options of :class:`~procession.Action`.

    Attributes:
        deployment: the deployment.
        deployed_hosts: set of the hosts kadeploy reported as deployed,
            complete once the action has ended (updated on the conductor
            thread while it runs).
        undeployed_hosts: set of the hosts kadeploy reported as not
            deployed.
        frontends: the frontend of each kadeploy3 process, in order.

    At the end, a frontend that failed (unreachable, no kadeploy3, kadeploy
    error) or that reported no deployed node is logged as an error, with
    ssh's or kadeploy's own message, on the ``procession.g5k.kadeploy``
    logger; ``ok`` is then False and ``check()`` raises.

    Raises:
        ValueError: a node name whose site cannot be told, or no
            environment (see :meth:`Deployment.command_line`).

    With ``g5k_configuration['kadeploy_backend'] == 'api'`` (read when the
    Kadeployer is made), each site's deployment goes through the Grid'5000
    REST API instead: ``POST /sites/{site}/deployments`` (see
    :meth:`Deployment.api_body`), then a GET of it every
    ``g5k_configuration['polling_interval']`` seconds until its status is
    final (``terminated``, ``error``, ``canceled``); nodes whose ``result``
    is ``OK`` are deployed, the others undeployed. On ``timeout`` or
    :meth:`kill`, the deployments still running are cancelled (DELETE). An
    API error (unknown site, refused deployment, ...) or a deployment in
    ``error`` fails that site, with the API's message. The action then has
    no processes (``processes`` is empty, the handlers get no output): the
    requests run on a thread of the action, which also runs the end
    handlers.

    Differences from Execo: ``deployed_hosts``/``undeployed_hosts`` hold the
    :class:`~procession.Host` objects given in the deployment (with their
    user, port and key), not address strings; kadeploy runs without a pty;
    the API backend.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        deployment: Deployment,
        frontend_connection_params: Mapping[str, Any] | None = None,
        stdout_handlers: Iterable[Any] | None = None,
        stderr_handlers: Iterable[Any] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        self.deployment = deployment
        self.frontend_connection_params = frontend_connection_params
        self.timeout = timeout
        self.deployed_hosts: set[Host] = set()
        self.undeployed_hosts: set[Host] = set()
        hosts = list(dict.fromkeys(expand_hosts(deployment.hosts)))
        groups: dict[Frontend, dict[str, Host]] = {}
        for host in hosts:
            groups.setdefault(get_host_frontend(host), {})[get_host_shortname(host)] = host
        kwargs.setdefault("name", f"Kadeployer on {len(hosts)} hosts / {len(groups)} frontends")
        handlers = [*(kwargs.pop("lifecycle_handlers", None) or ()), _LogOutcome()]
        super().__init__(lifecycle_handlers=handlers, **kwargs)
        self._runs: list[_FrontendRun] = []
        self._api = use_api_kadeploy()
        self._stop = threading.Event()
        if self._api:
            self._api_bodies: list[dict[str, Any]] = []
            for frontend, group in groups.items():
                site = _site_of(frontend)
                fqdns = [f"{short}.{site}.grid5000.fr" for short in group]
                self._runs.append(_FrontendRun(frontend, group, KadeployOutputParser(), site=site))
                self._api_bodies.append(deployment.api_body(fqdns))
            return
        command = deployment.command_line()
        for frontend, group in groups.items():
            run = _FrontendRun(frontend, group, KadeployOutputParser())
            nodes = " ".join(f"-m {shlex.quote(h.address)}" for h in group.values())
            run.process = frontend_process(
                f"{command} {nodes}",
                frontend,
                frontend_connection_params,
                timeout=timeout,
                stdout_handlers=[
                    _ParseKadeployStdout(self, run),
                    *_prefixed(frontend, stdout_handlers),
                ],
                stderr_handlers=_prefixed(frontend, stderr_handlers),
                nolog_exit_code=True,
                nolog_error=True,
                nolog_timeout=True,
            )
            self._runs.append(run)
        # Action's own way of taking processes as its (as Remote does).
        self._adopt([run.process for run in self._runs if run.process is not None])

    # ------------------------------------------------------------ API backend
    def start(self) -> Kadeployer:
        """Start every kadeploy3 process (or, with the API backend, the
        thread submitting and polling the deployments); returns at once.

        Raises:
            ValueError: the action was already started (reset it first).
        """
        if not self._api:
            super().start()
            return self
        if self.started:
            raise ValueError(f"{self.name} was already started; reset() it to run it again")
        self._stop = threading.Event()
        self.started = True
        self._call_handlers("start")
        threading.Thread(
            target=self._api_deploy, args=(self._stop,), name=self.name, daemon=True
        ).start()
        return self

    def kill(self, sig: int = signal.SIGTERM) -> Kadeployer:
        """Kill the kadeploy3 processes (with the API backend: cancel the
        deployments still running); returns at once."""
        if self._api:
            self._stop.set()
        else:
            super().kill(sig)
        return self

    def _api_deploy(self, stop: threading.Event) -> None:
        """Submit, poll and read the sites' deployments (the action's thread)."""
        start = time.monotonic()
        try:
            api = APIConnection()
            pending: list[_FrontendRun] = []
            for run, body in zip(self._runs, self._api_bodies, strict=True):
                if stop.is_set():
                    run.error = "killed before its submission"
                    run.parser.undeployed.extend(run.hosts)
                    self._api_record(run)
                    continue
                try:
                    answer = api.post(f"sites/{run.site}/deployments", body).json()
                    run.uid = str(answer["uid"])
                    pending.append(run)
                    logger.debug("deployment %s submitted to %s", run.uid, run.site)
                except (APIException, KeyError, ValueError) as exc:
                    run.error = f"the API refused the deployment: {_api_message(exc)}"
                    run.parser.undeployed.extend(run.hosts)
                    self._api_record(run)
            while pending:
                for run in list(pending):
                    try:
                        dep = api.get(f"sites/{run.site}/deployments/{run.uid}").json()
                    except (APIException, ValueError) as exc:
                        code = getattr(exc, "status_code", None)
                        if code is not None and 400 <= code < 500 and code != 429:
                            # the deployment is gone, or not ours: no use polling
                            run.error = f"reading the deployment failed: {_api_message(exc)}"
                            run.parser.undeployed.extend(run.hosts)
                            self._api_record(run)
                            pending.remove(run)
                        else:  # transient (no answer, 5xx): try again at the next poll
                            logger.debug("poll of %s on %s: %s", run.uid, run.site, exc)
                        continue
                    if str(dep.get("status")) in _API_FINAL:
                        self._api_result(run, dep)
                        pending.remove(run)
                if not pending:
                    break
                interval = float(g5k_configuration["polling_interval"])
                if self.timeout is not None:
                    interval = min(interval, self.timeout - (time.monotonic() - start))
                killed = stop.wait(max(interval, 0))
                timed_out = self.timeout is not None and time.monotonic() - start >= self.timeout
                if killed or timed_out:
                    reason = "killed" if killed else f"timed out after {self.timeout:g} s"
                    for run in pending:
                        _api_cancel(api, run, reason)
                        self._api_record(run)
                    break
        except Exception as exc:  # the action must end whatever happens
            logger.exception("%s: unexpected error", self.name)
            for run in self._runs:
                run.error = run.error or f"unexpected error: {exc!r}"
        finally:
            self._set_ended()

    def _api_result(self, run: _FrontendRun, dep: Mapping[str, Any]) -> None:
        """Record a final deployment document of *run*."""
        status = str(dep.get("status"))
        result = dep.get("result") or {}
        for name, node in result.items():
            ok = isinstance(node, Mapping) and str(node.get("state", "")).upper() == "OK"
            (run.parser.deployed if ok else run.parser.undeployed).append(name)
        for short in run.hosts:
            if not any(get_host_shortname(n) == short for n in result):
                run.parser.undeployed.append(short)
        self._api_record(run)
        if status != "terminated":
            message = dep.get("output") or "no message"
            run.error = f"deployment {run.uid} ended in status {status}: {message}"

    def _api_record(self, run: _FrontendRun) -> None:
        self.deployed_hosts |= run.deployed()
        self.undeployed_hosts |= run.undeployed()

    @property
    def frontends(self) -> list[Frontend]:
        """The frontend of each kadeploy3 process, in the order of ``processes``."""
        return [run.frontend for run in self._runs]

    def _problems(self) -> tuple[list[str], list[str]]:
        """(errors, warnings) about the frontends' runs, once ended."""
        errors, warnings = [], []
        for run in self._runs:
            deployed, undeployed = run.deployed(), run.undeployed()
            counts = (
                f"total/deployed/undeployed = {len(run.hosts)}/{len(deployed)}/{len(undeployed)}"
            )
            if self._api:
                where = (
                    f"API deployment {run.uid} on {run.site}"
                    if run.uid
                    else (f"API deployment on {run.site}")
                )
                if run.error:
                    errors.append(f"{where} failed, {counts}: {run.error}")
                elif not deployed:
                    errors.append(f"{where} deployed no node, {counts}")
                elif undeployed:
                    warnings.append(f"{where}: {counts}")
                continue
            p = run.process
            assert p is not None
            where = f"kadeploy3 on {run.frontend or 'localhost'}"
            if not p.ok or deployed & undeployed or len(deployed | undeployed) != len(run.hosts):
                errors.append(f"{where} failed, {counts}: {process_message(p)}")
            elif not deployed:
                errors.append(f"{where} deployed no node, {counts}: {process_message(p)}")
            elif undeployed:
                warnings.append(f"{where}: {counts}")
        return errors, warnings

    def _log_outcome(self) -> None:
        errors, warnings = self._problems()
        for message in warnings:
            logger.warning("%s: %s", self.name, message)
        for message in errors:
            logger.error("%s: %s", self.name, message)

    @property
    def errors(self) -> list[str]:
        """Why the action is not ok, per frontend (site): ssh's, kadeploy's
        or the API's messages; empty while running."""
        return self._problems()[0] if self.ended else []

    @property
    def ok(self) -> bool:
        """Every kadeploy3 ran, reported every node, and deployed some."""
        if not self.ended:
            return super().ok
        return super().ok and not self._problems()[0]

    def reset(self) -> Kadeployer:
        """Make the action startable again, forgetting the reported nodes."""
        super().reset()
        self.deployed_hosts = set()
        self.undeployed_hosts = set()
        for run in self._runs:
            run.parser.reset()
            run.uid = run.error = None
        return self

    def __repr__(self) -> str:
        return f"Kadeployer({self.deployment!r}, name={self.name!r})"


_API_FINAL = frozenset({"terminated", "error", "canceled"})


def _site_of(frontend: Frontend) -> str:
    """The API site of a group of nodes (their frontend)."""
    if frontend is None:
        raise ValueError(
            "a node given by a bare name needs g5k_configuration['default_frontend'] "
            "with the API backend (or give node.site.grid5000.fr)"
        )
    name = frontend.address if isinstance(frontend, Host) else str(frontend)
    labels = name.split(".")
    return labels[1] if len(labels) > 1 and labels[0] in ("frontend", "access", "f") else labels[0]


def _api_message(exc: BaseException) -> str:
    """The API's own message of an error answer, else the exception."""
    response = getattr(exc, "response", None)
    if response is not None:
        try:
            message = response.json().get("message")
        except (ValueError, AttributeError):
            message = None
        if message:
            return f"HTTP {response.status_code}: {message}"
    return str(exc)


def _api_cancel(api: APIConnection, run: _FrontendRun, reason: str) -> None:
    """DELETE a running deployment; its nodes stay undeployed."""
    try:
        api.delete(f"sites/{run.site}/deployments/{run.uid}")
        run.error = f"{reason}; deployment {run.uid} cancelled"
    except APIException as exc:
        run.error = f"{reason}; cancelling deployment {run.uid} failed: {_api_message(exc)}"
    run.parser.undeployed.extend(run.hosts)


# ---------------------------------------------------------------- deploy


def _check_deployed(
    hosts: Iterable[Host],
    command: str,
    node_connection_params: Mapping[str, Any],
    vlan: int | str | None,
    timeout: float | None,
) -> set[Host]:
    """The hosts on which ``command`` exits 0 (over ssh, in parallel)."""
    by_name = {
        Host(get_kavlan_host_name(h, vlan), h.user, h.keyfile, h.port) if vlan else h: h
        for h in hosts
    }
    if not by_name:
        return set()
    check = get_remote(
        command,
        list(by_name),
        node_connection_params,
        process_args={
            "timeout": timeout,
            "nolog_exit_code": True,
            "nolog_timeout": True,
            "nolog_error": True,
        },
    )
    check.run()
    deployed = set()
    for p in check.processes:
        assert p.host is not None
        ok = p.ok
        logger.debug("deployment check on %s: %s", p.host, "OK" if ok else process_message(p))
        if ok:
            deployed.add(by_name[Host(p.host)])
    return deployed


def _address(host: Host) -> str:
    return host.address


def _all_deployed(deployed: set[Host], undeployed: set[Host]) -> bool:
    return not undeployed


def deploy(
    deployment: Deployment,
    check_deployed_command: str | bool | None = True,
    node_connection_params: Mapping[str, Any] | None = None,
    num_tries: int = 1,
    check_enough_func: Callable[[set[Host], set[Host]], bool] | None = None,
    frontend_connection_params: Mapping[str, Any] | None = None,
    deploy_timeout: float | None = None,
    check_timeout: float | None = 30,
    stdout_handlers: Iterable[Any] | None = None,
    stderr_handlers: Iterable[Any] | None = None,
    timeout: float | None = None,
) -> tuple[set[Host], set[Host]]:
    """Deploy nodes, skipping those already deployed, retrying the others.

    1. With a ``check_deployed_command``, run it on every node over ssh (in
       parallel): the nodes where it exits 0 are already deployed.
    2. While ``check_enough_func(deployed, undeployed)`` is false (by
       default: while some node is undeployed), at most ``num_tries``
       times: run a :class:`Kadeployer` on the undeployed nodes, then tell
       which are deployed, by the check command again, or else by
       kadeploy's report.

    Args:
        deployment: what to deploy where.
        check_deployed_command: a shell command exiting 0 on a deployed node
            (``{{{host}}}`` is replaced by the node's name); True for
            ``g5k_configuration['check_deployed_command']``; False or None
            to trust kadeploy's report and check nothing.
        node_connection_params: how to reach the nodes for the check;
            default ``{"user": "root"}`` (a deployed node is reached as
            root), as in Execo. With ``deployment.vlan``, the nodes are
            reached by their KaVLAN names.
        num_tries: at most this many kadeploy runs.
        check_enough_func: ``fn(deployed, undeployed)`` (two sets of
            hosts), called before each try: True stops.
        frontend_connection_params: overrides of
            ``default_frontend_connection_params``.
        deploy_timeout: seconds for each kadeploy3 run; None for none.
        check_timeout: seconds for each node's check.
        timeout: the name older Execo versions gave ``deploy_timeout``
            (giving both is an error).
        stdout_handlers: given to each kadeploy3 process (see
            :class:`Kadeployer`).
        stderr_handlers: same, for stderr.

    Returns:
        ``(deployed_hosts, undeployed_hosts)``: two sets of the hosts of the
        deployment.

    Calls block the calling thread; not meant for handlers. A frontend that
    fails is logged as an error (see :class:`Kadeployer`); its nodes stay
    undeployed.

    Differences from Execo: the sets hold :class:`~procession.Host` objects,
    not address strings.

    .. versionadded:: 0.1
    """
    if timeout is not None:
        if deploy_timeout is not None:
            raise ValueError("give deploy_timeout or timeout (its older name), not both")
        deploy_timeout = timeout
    enough = check_enough_func or _all_deployed
    command = (
        g5k_configuration["check_deployed_command"]
        if check_deployed_command is True
        else check_deployed_command or None
    )
    params = {"user": "root"} if node_connection_params is None else node_connection_params
    start = time.monotonic()
    undeployed: set[Host] = set(expand_hosts(deployment.hosts))
    deployed: set[Host] = set()
    if command:
        deployed = _check_deployed(undeployed, command, params, deployment.vlan, check_timeout)
        undeployed -= deployed
        logger.debug("already deployed: %s", sorted(h.address for h in deployed))
    tries = 0
    while not enough(set(deployed), set(undeployed)) and tries < num_tries:
        tries += 1
        logger.debug("try %d: deploying %s", tries, sorted(h.address for h in undeployed))
        remaining: list[Host] = sorted(undeployed, key=_address)
        kadeployer = Kadeployer(
            dataclasses.replace(deployment, hosts=remaining),
            frontend_connection_params,
            stdout_handlers,
            stderr_handlers,
            timeout=deploy_timeout,
        )
        kadeployer.run()
        if command:
            newly = _check_deployed(undeployed, command, params, deployment.vlan, check_timeout)
        else:
            newly = kadeployer.deployed_hosts & undeployed
        deployed |= newly
        undeployed -= newly
        logger.debug(
            "try %d: kadeploy reported %d deployed, %d newly deployed, %d still undeployed",
            tries,
            len(kadeployer.deployed_hosts),
            len(newly),
            len(undeployed),
        )
    logger.info(
        "deploy finished in %d tries, %s: %d deployed, %d undeployed",
        tries,
        format_duration(time.monotonic() - start),
        len(deployed),
        len(undeployed),
    )
    return deployed, undeployed
