#!/usr/bin/python3
"""A STAND-IN for the kadeploy3 client (3.x command line), for procession's tests.

kadeploy3 reboots bare-metal nodes into an OS image: that cannot happen on
the loopback testbed. This script keeps kadeploy3's command-line contract as
procession.g5k.Kadeployer (and Execo) use it, and nothing more:

- the options Execo-like callers pass: ``-m NODE`` (repeatable), ``-f FILE``,
  ``-e ENV`` / ``-a ENVFILE`` (or the env name alone), ``-u USER``,
  ``--vlan``, ``-k [KEYFILE]``, ``-d``, ``-o OKFILE`` / ``-n KOFILE`` and the
  usual tuning options, which it accepts and ignores;
- the kadeploy >= 3.2 summary on stdout, that callers parse::

      The deployment is successful on nodes
      <node>
      The deployment failed on nodes
      <node> (<error>)

- the ``-o``/``-n`` files (appended, one node a line);
- exit status 0 when the deployment workflow ran (even with failed nodes), 1
  on usage errors (no node, no environment, unknown option or environment),
  with kadeploy's "ERROR: ..." message on stderr.

"Deploying" a node marks it: a file named after the node in the marker
directory, holding the environment name, which a check command such as
``test -e MARKERS/{{{host}}}`` tests over ssh. A failed node loses its mark.

It runs on the testbed's frontend as the test user, through ssh, so it is
configured by a JSON file rather than by the environment:
``$KADEPLOY_STANDIN_CONF``, else ``kadeploy3.json`` beside this script::

    {"seconds": 0.2,                 # simulated duration
     "markers": "/path/deployed",    # marker directory (default: beside the script)
     "fail": {"node": 1},            # node fails its first N deployments (-1: always)
     "envs": ["debian12-min"],       # known environment names (default: any)
     "site": "grenoble"}             # this frontend's site (default: none)

As the real kadeploy3, it prints full node names: ``dahu-1`` (with a
``site``) and ``dahu-1.grenoble`` become ``dahu-1.grenoble.grid5000.fr``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path


def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="kadeploy3")
    ap.add_argument("-m", "--machine", action="append", default=[])
    ap.add_argument("-f", "--file", action="append", default=[])
    ap.add_argument("-e", "--env-name")
    ap.add_argument("-a", "--env-file")
    ap.add_argument("-u", "--env-user")
    ap.add_argument("--env-version")
    ap.add_argument("-k", "--key", nargs="?", const="~/.ssh/authorized_keys")
    ap.add_argument("-o", "--output-ok-nodes")
    ap.add_argument("-n", "--output-ko-nodes")
    ap.add_argument("--vlan")
    ap.add_argument("-p", "--partition-number")
    ap.add_argument("-b", "--block-device")
    ap.add_argument("-r", "--reformat-tmp")
    ap.add_argument("-c", "--boot-partition")
    ap.add_argument("-V", "--verbose-level")
    ap.add_argument("-d", "--debug-mode", action="store_true")
    ap.add_argument("-s", "--script")
    ap.add_argument("--write-workflow-id")
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--no-kexec", action="store_true")
    ap.add_argument("--disable-bootloader-install", action="store_true")
    ap.add_argument("--disable-disk-partitioning", action="store_true")
    ap.add_argument("--reboot-classical-timeout")
    ap.add_argument("--reboot-kexec-timeout")
    ap.add_argument("positional_env", nargs="?")
    return ap.parse_args(argv)


def load_config() -> tuple[dict[str, object], Path]:
    here = Path(os.path.realpath(__file__)).parent
    path = Path(os.environ.get("KADEPLOY_STANDIN_CONF") or here / "kadeploy3.json")
    config = json.loads(path.read_text()) if path.exists() else {}
    markers = Path(str(config.get("markers") or here / "deployed"))
    markers.mkdir(parents=True, exist_ok=True)
    return config, markers


def fails_now(node: str, config: dict[str, object], markers: Path) -> bool:
    """Whether this deployment of ``node`` fails (counted in the marker dir)."""
    fail = config.get("fail") or {}
    assert isinstance(fail, dict)
    times = int(fail.get(node, 0))
    tries_file = markers / f".tries-{node}"
    tries = int(tries_file.read_text()) if tries_file.exists() else 0
    tries_file.write_text(str(tries + 1))
    return times < 0 or tries < times


def full_name(node: str, site: object) -> str:
    """kadeploy's name of a node: fully qualified in Grid'5000's domain."""
    if node.endswith(".grid5000.fr"):
        return node
    if "." in node:
        return f"{node}.grid5000.fr"
    return f"{node}.{site}.grid5000.fr" if site else node


def main(argv: list[str]) -> int:
    try:
        o = parse(argv)
    except SystemExit as e:
        return 1 if e.code else 0
    config, markers = load_config()
    nodes = list(o.machine)
    for name in o.file:
        lines = sys.stdin if name == "-" else Path(name).read_text().splitlines()
        nodes += [line.strip() for line in lines if line.strip()]
    nodes = list(dict.fromkeys(full_name(n, config.get("site")) for n in nodes))
    # (an OAR node file repeats hosts)
    env = o.env_name or o.env_file or o.positional_env
    if not nodes:
        print("ERROR: No node is chosen", file=sys.stderr)
        return 1
    if not env:
        print("ERROR: You must choose an environment", file=sys.stderr)
        return 1
    known = config.get("envs")
    if isinstance(known, list) and env not in known and not o.env_file:
        print(f"ERROR: The environment {env} does not exist", file=sys.stderr)
        return 1
    wid = "D-" + str(uuid.uuid4())
    if o.write_workflow_id:
        Path(o.write_workflow_id).write_text(wid + "\n")
    print(f"Deployment #{wid} started", flush=True)
    print(f"Launching a deployment on {','.join(nodes)}", flush=True)
    t0 = time.time()
    time.sleep(float(str(config.get("seconds", 0.5))))
    ko = [n for n in nodes if fails_now(n, config, markers)]
    ok = [n for n in nodes if n not in ko]
    for n in ok:
        (markers / n).write_text(f"{env}\n")
    for n in ko:
        (markers / n).unlink(missing_ok=True)
    print(f"End of deployment on cluster after {round(time.time() - t0)}s")
    print(f"Deployment #{wid} done")
    print()
    if ok:
        print("The deployment is successful on nodes")
        print("\n".join(ok))
        if o.output_ok_nodes:
            with open(o.output_ok_nodes, "a") as f:
                f.write("\n".join(ok) + "\n")
    if ko:
        print("The deployment failed on nodes")
        for n in ko:
            print(f"{n} (Deployment error: simulated failure)")
        if o.output_ko_nodes:
            with open(o.output_ko_nodes, "a") as f:
                f.write("\n".join(ko) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
