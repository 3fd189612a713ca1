"""The output directory of `xpnet train`, from before training to the moment it is in place.

`claim(out)` does everything that can fail before any work: it refuses a dangling symbolic link,
a path under /proc, /sys or /dev, a file in the directory's place, a non-empty directory without
--overwrite, and a parent that cannot be written; it creates the parents, takes the directory's
lock (lock.py: a second writer is refused while the first runs), removes what killed runs left
in the parent, and creates the empty staging directory PARENT/.NAME.XXXXXXXX.xpnet-tmp that the
run writes into. `OutDir.commit()` puts the staging directory in place of NAME with one
renameat2(RENAME_EXCHANGE): at every instant NAME is either the old directory whole or the new one
whole, never missing (a plain rename cannot replace a non-empty directory, and two renames leave
a moment without one). The old directory, now under the staging name, is then removed. Where the
system has no exchange (not Linux, or a file system without it) the old directory is first moved to
.NAME.XXXXXXXX.xpnet-old; a process killed between the two renames leaves it there and the next
run in the same parent moves it back.

What a killed run leaves (its staging directory, or the old directory it was removing) is removed
by the next run in the same parent, once it holds that directory's lock (the lock shows whether
its writer still runs). Everything `claim` created is removed again when the run fails.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from ..errors import ConfigError
from .lock import LOCK_SUFFIX, holder, release, try_lock
from .signals import deferred

STAGING_SUFFIX = ".xpnet-tmp"
OLD_SUFFIX = ".xpnet-old"
_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}(?P<kind>\.xpnet-tmp|\.xpnet-old)$")  # mkdtemp's 8 letters
_KERNEL_FILE_SYSTEMS = ("/proc", "/sys", "/dev")
MAX_NUMBERED = 10_000


class OutDir:
    """A claimed output directory: `path` (as the user named it), `real` (symbolic links
    resolved: where it is written), `staging` (the empty directory the run writes into)."""

    def __init__(self, path: Path, real: Path, staging: Path) -> None:
        self.path, self.real, self.staging = path, real, staging

    @contextlib.contextmanager
    def staged(self):
        """Yield the staging directory to write into; commit it when the block ends without error."""
        yield self.staging
        self.commit()

    def commit(self) -> None:
        """Put the staging directory in place of the output directory (module docstring).
        SIGINT and SIGTERM wait until it is done: a run is either all written or not at all."""
        with deferred():
            if not os.path.lexists(self.real):
                os.rename(self.staging, self.real)
            elif not _exchange(self.staging, self.real):
                old = self.staging.with_name(self.staging.name[: -len(STAGING_SUFFIX)] + OLD_SUFFIX)
                os.rename(self.real, old)
                os.rename(self.staging, self.real)
                shutil.rmtree(old, ignore_errors=True)
            _fsync_dir(self.real.parent)
            shutil.rmtree(self.staging, ignore_errors=True)  # the old directory, after an exchange


def _load_renameat2():
    try:
        return ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError, TypeError):  # no such C function here (macOS, Windows, old glibc)
        return None


_RENAMEAT2 = _load_renameat2()
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap the names of a and b in one step; False where the system cannot."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _fsync_dir(path: Path) -> None:
    """Make the renames in `path` durable (the entries, not only the files' data)."""
    with contextlib.suppress(OSError):  # some systems cannot open a directory for that
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def check_out(out: Path, overwrite: bool) -> Path:
    """The directory's real path, or ConfigError for what can be known wrong before training."""
    if out.is_symlink() and not out.exists():
        raise ConfigError(f"--out {out}: a dangling symbolic link (to {os.readlink(out)})")
    real = Path(os.path.realpath(out))
    if real == real.parent:
        raise ConfigError(f"--out {out}: the root directory cannot be a run directory")
    if any(real == Path(k) or Path(k) in real.parents for k in _KERNEL_FILE_SYSTEMS):
        raise ConfigError(f"--out {out}: {real} is in a kernel file system, not a place for a run directory")
    if real.exists() and not real.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a directory")
    if real.is_dir() and any(real.iterdir()) and not overwrite:
        raise ConfigError(f"--out {out}: directory exists and is not empty; pass --overwrite to replace it")
    if real.is_dir() and overwrite and not os.access(real, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {out}: the directory is not writable, its old run could not be removed")
    ancestor = real.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConfigError(f"--out {out}: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {out}: {ancestor} is not writable")
    return real


def _taken(real: Path) -> bool:
    return real.exists() and (not real.is_dir() or any(real.iterdir()))


def _make_parents(out: Path, parent: Path) -> list[Path]:
    """Create `parent` and what is missing above it; the directories created, deepest first."""
    missing = []
    p = parent
    while not p.exists():
        missing.append(p)
        p = p.parent
    try:
        for p in reversed(missing):
            p.mkdir()
    except OSError as exc:
        _remove_empty(missing)
        raise ConfigError(f"--out {out}: cannot create {p} ({exc.strerror or exc})") from None
    return missing


def _remove_empty(dirs: list[Path]) -> None:
    for p in dirs:  # deepest first
        with contextlib.suppress(OSError):
            p.rmdir()


def remove_leftovers(parent: Path, own: str | None = None) -> None:
    """Remove the staging directories of killed runs in `parent` (and move back a directory a
    killed fallback swap had moved aside). `own`: the name whose lock this process holds."""
    try:
        entries = [e.name for e in os.scandir(parent)]
    except OSError:
        return
    for entry in entries:
        if entry.startswith(".") and entry.endswith(LOCK_SUFFIX) and entry[1 : -len(LOCK_SUFFIX)] != own:
            with contextlib.suppress(OSError):  # a lock file of a killed run: taking it and letting go removes it
                fd = try_lock(parent / entry[1 : -len(LOCK_SUFFIX)])
                if fd is not None:
                    release(parent / entry[1 : -len(LOCK_SUFFIX)], fd)
            continue
        m = _LEFTOVER.match(entry)
        if m is None:
            continue
        name = m["name"]
        fd = None
        if name != own:
            with contextlib.suppress(OSError):
                fd = try_lock(parent / name)
            if fd is None:  # its writer is still running (or the lock cannot be taken): leave it
                continue
        try:
            leftover, target = parent / entry, parent / name
            if m["kind"] == OLD_SUFFIX and not os.path.lexists(target):
                os.rename(leftover, target)  # the previous run, moved aside by a swap that never finished
            else:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            pass
        finally:
            if fd is not None:
                release(parent / name, fd)


def numbered(base: Path):
    """base, base-2, base-3, ...: the names a default --out may take."""
    yield base
    for i in range(2, MAX_NUMBERED):
        yield base.with_name(f"{base.name}-{i}")


def _lock(real: Path) -> int | None:
    """try_lock, waiting a moment: another run may hold the lock only to remove a leftover."""
    for _ in range(3):
        fd = try_lock(real)
        if fd is not None:
            return fd
        time.sleep(0.1)
    return None


@contextlib.contextmanager
def claim(out: Path, overwrite: bool, *, next_free: bool = False):
    """An OutDir for `out` (module docstring). next_free: `out` is the default one, so where it
    holds another run (or another run is writing it) take the first free of out-2, out-3, ...
    Setting up and cleaning up hold SIGINT and SIGTERM back: a signal in the middle of either
    would leave a lock file or a staging directory behind."""
    claimed = None
    try:
        with deferred():  # a signal held back here is raised on leaving it: `claimed` is cleaned up then
            claimed = _claim(out, overwrite, next_free)
        yield claimed[0]
    finally:
        if claimed is not None:
            out_dir, fd, created = claimed
            with deferred():
                shutil.rmtree(out_dir.staging, ignore_errors=True)
                release(out_dir.real, fd)
                if not out_dir.real.exists():
                    _remove_empty(created)


def _claim(out: Path, overwrite: bool, next_free: bool) -> tuple[OutDir, int, list[Path]]:
    candidates = numbered(out) if next_free and not overwrite else iter([out])
    for path in candidates:
        real = check_out(path, overwrite) if not next_free else Path(os.path.realpath(path))
        if next_free and not overwrite and _taken(real):
            continue
        created = _make_parents(path, real.parent)
        fd, claimed = None, False
        try:
            try:
                fd = _lock(real)
            except OSError as exc:
                raise ConfigError(f"--out {path}: cannot write in {real.parent} ({exc.strerror or exc})") from None
            if fd is None:
                if next_free:
                    continue
                raise ConfigError(
                    f"--out {path}: another xpnet train (process {holder(real)}) is writing this directory; "
                    "wait for it to end or choose another --out"
                )
            remove_leftovers(real.parent, own=real.name)
            if next_free and not overwrite and _taken(real):  # filled while we were not holding its lock
                continue
            real = check_out(path, overwrite)  # again, now that nobody else may change it
            try:
                staging = Path(tempfile.mkdtemp(prefix=f".{real.name}.", suffix=STAGING_SUFFIX, dir=real.parent))
            except OSError as exc:
                raise ConfigError(f"--out {path}: cannot write in {real.parent} ({exc.strerror or exc})") from None
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(staging, 0o777 & ~umask)  # mkdtemp's 0700 is for the temporary name, not the result
            claimed = True
            return OutDir(path, real, staging), fd, created
        finally:
            if not claimed:
                if fd is not None:
                    release(real, fd)
                if not real.exists():
                    _remove_empty(created)
    raise ConfigError(f"--out {out}: {out}-2 to {out}-{MAX_NUMBERED - 1} are all taken; choose an --out")
