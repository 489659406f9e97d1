"""Replay tokens: one printable, shell-safe line that names a run.

Format: ``rp1.<scenario digest>.<choices>.<checksum>``

- ``rp1``: format version 1;
- the digest of the canonical scenario (and model version) the token belongs to;
- the choice list (thread picks at non-forced points and data values), as LEB128 varints,
  zlib-compressed, base64url without padding (``-`` stands for an empty list);
- a CRC-32 of everything before it, 8 hex digits.

Decoding never crashes: every failure is a one-line ``TokenError`` saying which part is wrong.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Sequence

from raceproof.errors import TokenError

VERSION = 1
PREFIX = "rp"
MAX_RAW = 1 << 24  # bytes of varints a token may inflate to (no decompression bombs)


def _varints(values: Sequence[int]) -> bytes:
    out = bytearray()
    for v in values:
        if v < 0:
            raise ValueError(f"negative choice {v}")
        while True:
            b = v & 0x7F
            v >>= 7
            if v:
                out.append(b | 0x80)
            else:
                out.append(b)
                break
    return bytes(out)


def _unvarints(data: bytes) -> list[int]:
    out: list[int] = []
    cur = shift = 0
    for b in data:
        cur |= (b & 0x7F) << shift
        if b & 0x80:
            shift += 7
        else:
            out.append(cur)
            cur = shift = 0
    if shift:
        raise TokenError("token choices are truncated")
    return out


def encode(digest: str, choices: Sequence[int]) -> str:
    if choices:
        payload = base64.urlsafe_b64encode(zlib.compress(_varints(choices), 9)).decode().rstrip("=")
    else:
        payload = "-"
    body = f"{PREFIX}{VERSION}.{digest}.{payload}"
    return f"{body}.{zlib.crc32(body.encode()):08x}"


def decode(token: str, expected_digest: str | None = None, source: str = "scenario") -> list[int]:
    """The choice list of `token`; TokenError if it is malformed or for another scenario."""
    token = token.strip()
    if not token.startswith(PREFIX):
        raise TokenError(f"token {token[:20]!r}: not a raceproof token (expected 'rp1.…')")
    parts = token.split(".")
    head = parts[0][len(PREFIX):]
    if not (head.isascii() and head.isdigit()):
        raise TokenError(f"token {token[:20]!r}: not a raceproof token (expected 'rp1.…')")
    if int(head) != VERSION:
        raise TokenError(f"token: unsupported version {head} (this raceproof reads version {VERSION})")
    if len(parts) != 4:
        raise TokenError("token: truncated or malformed (expected 4 dot-separated parts); copy it whole")
    _, digest, payload, crc = parts
    body = ".".join(parts[:3])
    if crc != f"{zlib.crc32(body.encode()):08x}":
        raise TokenError("token: checksum mismatch (truncated or altered copy?)")
    if expected_digest is not None and digest != expected_digest:
        raise TokenError(f"token: it is for scenario digest {digest}, but {source} has digest {expected_digest}; "
                         "it belongs to another scenario (or an edited one)")
    if payload == "-":
        return []
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)), MAX_RAW)
    except (binascii.Error, zlib.error, ValueError):
        raise TokenError("token: the choice list is corrupt") from None
    if inflater.unconsumed_tail or not inflater.eof:
        raise TokenError("token: the choice list is corrupt (incomplete or too long)")
    return _unvarints(raw)
