"""The reference-repository tree on disk, as the Reference API serves it."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

JSON = dict[str, Any]


class HttpError(Exception):
    """An HTTP error answer: status code and message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _natural_key(name: str) -> list[int | str]:
    # dahu-2 before dahu-10, as the real API sorts nodes
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


class Reference:
    """The tree ``grid5000/sites/<s>/clusters/<c>/nodes/<n>.json`` under *root*.

    Its :attr:`version` stands for the reference-repository commit that every
    item of the real API carries: a digest of the files' names, sizes and
    modification times, so that editing the data changes the version.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        if not (self.root / "sites").is_dir():
            raise FileNotFoundError(f"no reference data (sites/) under {self.root}")
        self.version = self._digest()

    def _digest(self) -> str:
        h = hashlib.sha1(usedforsecurity=False)
        for d, _, files in sorted(os.walk(self.root)):
            for f in sorted(files):
                st = os.stat(os.path.join(d, f))
                rel = os.path.relpath(os.path.join(d, f), self.root)
                h.update(f"{rel} {st.st_size} {st.st_mtime_ns}\n".encode())
        return h.hexdigest()

    def _load(self, *parts: str) -> JSON:
        path = self.root.joinpath(*parts)
        if ".." in parts or not path.is_file():
            raise HttpError(404, "not found: " + "/".join(parts))
        data: JSON = json.loads(path.read_text())
        return data

    def _names(self, *parts: str, suffix: str = "") -> list[str]:
        path = self.root.joinpath(*parts)
        if ".." in parts or not path.is_dir():
            raise HttpError(404, "not found: " + "/".join(parts))
        names = [p.name.removesuffix(suffix) for p in path.iterdir() if p.name.endswith(suffix)]
        return sorted(names, key=_natural_key)

    def sites(self) -> list[str]:
        return self._names("sites")

    def site(self, site: str) -> JSON:
        return self._load("sites", site, site + ".json")

    def clusters(self, site: str) -> list[str]:
        self.site(site)
        return self._names("sites", site, "clusters")

    def cluster(self, site: str, cluster: str) -> JSON:
        return self._load("sites", site, "clusters", cluster, cluster + ".json")

    def nodes(self, site: str, cluster: str) -> list[str]:
        return self._names("sites", site, "clusters", cluster, "nodes", suffix=".json")

    def node(self, site: str, cluster: str, node: str) -> JSON:
        return self._load("sites", site, "clusters", cluster, "nodes", node + ".json")

    def equipments(self, site: str | None = None) -> list[JSON]:
        """The backbone's network equipments, or those of *site*."""
        parts = ("sites", site, "network_equipments") if site else ("network_equipments",)
        if site:
            self.site(site)
        if not self.root.joinpath(*parts).is_dir():
            return []
        return [self._load(*parts, n + ".json") for n in self._names(*parts, suffix=".json")]
