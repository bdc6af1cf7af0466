"""Seedable identifiers: uids and generateName suffixes.

kube-apiserver draws uids from ``uuid.NewUUID`` and name suffixes from
``k8s.io/apimachinery/pkg/util/rand.String`` (consonants and digits that spell no words). labkit
draws both from one ``random.Random`` so that a notebook run with a seed produces the same names and
uids every time.
"""

from __future__ import annotations

import random
import uuid

# The alphabet of k8s.io/apimachinery/pkg/util/rand: no vowels, no look-alike characters.
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


class IdSource:
    """Where uids and random name suffixes come from; deterministic when ``seed`` is given."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)

    def uid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def suffix(self, n: int = 5) -> str:
        return "".join(self._rng.choice(_ALPHANUMS) for _ in range(n))

    def token(self, nbytes: int = 24) -> str:
        return self._rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big").hex()
