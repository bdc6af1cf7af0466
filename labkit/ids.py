"""Seedable identifiers: uids and generateName suffixes.

kube-apiserver draws uids from ``uuid.NewUUID`` and name suffixes from
``k8s.io/apimachinery/pkg/util/rand.String`` (consonants and digits that spell no words). With a
seed, labkit derives each one from the seed, the object it is for and how many times that name was
used before, so a notebook run with a seed gets the same names and uids every time, however the
cluster's background work interleaves with it. Without a seed they are random.
"""

from __future__ import annotations

import collections
import hashlib
import secrets
import uuid

# The alphabet of k8s.io/apimachinery/pkg/util/rand: no vowels, no look-alike characters.
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


class IdSource:
    """Where uids and random name suffixes come from; deterministic per ``scope`` when seeded."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self._uses: collections.Counter[str] = collections.Counter()

    def _digest(self, kind: str, scope: str) -> bytes:
        if self.seed is None:
            return secrets.token_bytes(32)
        n = self._uses[f"{kind}:{scope}"]
        self._uses[f"{kind}:{scope}"] += 1
        return hashlib.sha256(f"{self.seed}\0{kind}\0{scope}\0{n}".encode()).digest()

    def uid(self, scope: str = "") -> str:
        """A uid for the object ``scope`` names (e.g. ``pods/default/web``)."""
        return str(uuid.UUID(bytes=self._digest("uid", scope)[:16], version=4))

    def suffix(self, scope: str = "", n: int = 5) -> str:
        """A ``generateName`` suffix for names starting with ``scope``."""
        digest = self._digest("suffix", scope)
        return "".join(_ALPHANUMS[b % len(_ALPHANUMS)] for b in digest[:n])
