"""The gateway's own Ed25519 key, for readings of meters wired to the Pi directly.

Like a meter node's key, it is generated on first use and then never changes: the
file holds the raw 32-byte seed, mode 0600, owned by the gateway's user. Its public
key (``python -m edge_gateway --print-public-key``) is registered with the aggregator
for every directly wired meter id. A file of the wrong size or readable by others
stops the start instead of silently becoming a new identity or a leaked one.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from common.envelope import public_key_from_seed
from common.wire import SEED_BYTES
from edge_gateway.errors import ConfigError

__all__ = ["check_signing_key", "load_or_create_signing_key", "public_key_hex"]


def check_signing_key(path: Path) -> bytes | None:
    """The seed if the file exists and is sound, None if it does not exist yet."""
    try:
        info = path.stat()
    except FileNotFoundError:
        if not path.parent.is_dir():
            raise ConfigError(f"signing_key_file {path}: directory {path.parent} does not exist") from None
        return None
    except OSError as exc:
        raise ConfigError(f"signing_key_file {path}: {exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"signing_key_file {path}: not a regular file")
    if info.st_mode & 0o077:
        raise ConfigError(
            f"signing_key_file {path}: mode {stat.S_IMODE(info.st_mode):04o} lets others read the key; chmod 600")
    try:
        seed = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"signing_key_file {path}: {exc}") from None
    if len(seed) != SEED_BYTES:
        raise ConfigError(f"signing_key_file {path}: holds {len(seed)} bytes, expected a {SEED_BYTES}-byte "
                          "Ed25519 seed (a damaged key is not replaced automatically)")
    return seed


def load_or_create_signing_key(path: Path) -> bytes:
    """The seed, generated from the OS RNG and written with mode 0600 if missing."""
    seed = check_signing_key(path)
    if seed is not None:
        return seed
    try:
        _create(path)
    except OSError as exc:
        raise ConfigError(f"signing_key_file {path}: cannot create: {exc}") from None
    seed = check_signing_key(path)
    assert seed is not None
    return seed


def _create(path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, os.urandom(SEED_BYTES))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        # link() fails if another process created the key meanwhile, and a power cut
        # leaves either no key file or a complete one, never a torn one.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def public_key_hex(seed: bytes) -> str:
    """The 64-hex-character public key to register with the aggregator."""
    return public_key_from_seed(seed).hex()
