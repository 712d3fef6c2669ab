"""Uploaded files and archives turned into (path, bytes) members, refusing anything unsafe.

Nothing is written to disk: members are read into memory under the configured
limits, so a refused upload leaves no trace. Test reports are never parsed here.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")
# A small member may compress very well (a file of blank lines); below this size the
# ratio is not a sign of a bomb and the absolute limits are enough.
RATIO_FLOOR = 1024 * 1024
ARCHIVE_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    tarfile.TarError,
    gzip.BadGzipFile,
    zlib.error,
    EOFError,
    OSError,
    NotImplementedError,
    UnicodeDecodeError,
)


class Readable(Protocol):
    """Anything with ``read``: an upload's stream, a GzipFile."""

    def read(self, size: int = -1, /) -> bytes:
        """Read up to SIZE bytes."""
        ...


class Refused(Exception):
    """An upload that is refused as a whole, with its HTTP status and a clear message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True, slots=True)
class Limits:
    """How much one upload may hold."""

    max_bytes: int
    max_file_bytes: int
    max_files: int
    max_ratio: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Limits:
        """The limits an app is configured with."""
        return cls(
            config["UPLOAD_MAX_BYTES"],
            config["UPLOAD_MAX_FILE_BYTES"],
            config["UPLOAD_MAX_FILES"],
            config["UPLOAD_MAX_RATIO"],
        )


def clean_path(name: str, what: str = "path") -> str:
    """A relative POSIX path without ``.``/``..`` parts; absolute or escaping paths are refused."""
    if any(ord(c) < 32 for c in name):
        raise Refused(400, "bad_path", f"{what} {name!r} contains control characters")
    if "\\" in name:
        raise Refused(400, "bad_path", f"{what} {name!r} uses backslashes; use /")
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        raise Refused(400, "absolute_path", f"{what} {name!r} is absolute")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise Refused(400, "path_traversal", f"{what} {name!r} escapes its directory (zip-slip)")
    if not parts:
        raise Refused(400, "bad_path", f"{what} {name!r} is empty")
    if len(parts) > 32 or any(len(part) > 255 for part in parts) or len(name) > 512:
        raise Refused(400, "bad_path", f"{what} {name[:80]!r}... is too long or too deep")
    return "/".join(parts)


@dataclass(slots=True)
class Collector:
    """Members gathered from one upload's files, the limits enforced as they arrive."""

    limits: Limits
    members: dict[str, bytes] = field(default_factory=dict)
    total: int = 0

    def add(self, path: str, content: bytes) -> None:
        """Keep one member."""
        if path in self.members:
            raise Refused(400, "duplicate_path", f"{path!r} appears twice in this upload")
        if len(self.members) >= self.limits.max_files:
            raise Refused(413, "too_many_files", f"more than {self.limits.max_files} files")
        if len(content) > self.limits.max_file_bytes:
            raise Refused(413, "file_too_large", f"{path!r} is over {self._mib('file')} MiB")
        self.total += len(content)
        if self.total > self.limits.max_bytes:
            raise Refused(413, "upload_too_large", f"the files are over {self._mib('all')} MiB")
        self.members[path] = content

    def add_upload(self, filename: str, stream: IO[bytes]) -> None:
        """A plain result file, or an archive (chosen by name, checked by content)."""
        lower = filename.lower()
        try:
            if lower.endswith(".zip"):
                self._zip(filename, stream)
            elif lower.endswith((".tar.gz", ".tgz")):
                if stream.read(2) != b"\x1f\x8b":
                    raise Refused(400, "bad_archive", f"{filename!r} is not gzip-compressed")
                stream.seek(0)
                self._tar(filename, gzip.GzipFile(fileobj=stream, mode="rb"), stream)
            elif lower.endswith(".tar"):
                self._tar(filename, stream, stream)
            else:
                content = stream.read(self.limits.max_file_bytes + 1)
                self.add(clean_path(filename, "file name"), content)
        except ARCHIVE_ERRORS as exc:
            raise Refused(400, "bad_archive", f"{filename!r} cannot be read: {exc}") from None

    def _zip(self, filename: str, stream: IO[bytes]) -> None:
        with zipfile.ZipFile(stream) as archive:
            infos = archive.infolist()
            if len(infos) > 2 * self.limits.max_files:
                raise Refused(413, "too_many_files", f"{filename!r} has {len(infos)} entries")
            if sum(info.file_size for info in infos) > self.limits.max_bytes:
                raise Refused(413, "upload_too_large", f"{filename!r} expands beyond the limit")
            for info in infos:
                if info.is_dir():
                    continue
                # Unix tools store the file type above the permissions; zipfile stores none.
                kind = stat.S_IFMT(info.external_attr >> 16)
                where = f"{filename}:{info.filename}"
                if kind == stat.S_IFLNK:
                    raise Refused(400, "link_in_archive", f"{where} is a symbolic link")
                if kind not in (0, stat.S_IFREG):
                    raise Refused(400, "special_file", f"{where} is not a regular file")
                if info.flag_bits & 0x1:
                    raise Refused(400, "encrypted", f"{where} is encrypted")
                path = clean_path(info.filename, "archive member")
                self._check_size(where, info.file_size, info.compress_size)
                with archive.open(info) as member:
                    content = member.read(info.file_size + 1)
                if len(content) != info.file_size:
                    raise Refused(413, "archive_bomb", f"{where} is not the size it declares")
                self.add(path, content)

    def _tar(self, filename: str, source: Readable, raw: IO[bytes]) -> None:
        compressed = raw.seek(0, 2) or 1
        raw.seek(0)
        # Headers are 512-byte blocks: allow them on top of the content limit.
        budget = self.limits.max_bytes + 1024 * (2 * self.limits.max_files + 20)
        capped = Capped(source, filename, budget, compressed, self.limits.max_ratio)
        entries = 0
        with tarfile.open(fileobj=capped, mode="r|") as archive:  # type: ignore[call-overload]
            for info in archive:
                entries += 1
                where = f"{filename}:{info.name}"
                if entries > 2 * self.limits.max_files:
                    raise Refused(413, "too_many_files", f"{filename!r} has too many entries")
                if info.isdir():
                    continue
                if info.issym() or info.islnk():
                    raise Refused(400, "link_in_archive", f"{where} is a link")
                if not info.isreg() or info.type == tarfile.GNUTYPE_SPARSE:
                    raise Refused(400, "special_file", f"{where} is not a regular file")
                path = clean_path(info.name, "archive member")
                self._check_size(where, info.size, None)
                member = archive.extractfile(info)
                content = member.read() if member is not None else b""
                if len(content) != info.size:
                    raise Refused(400, "bad_archive", f"{where} is truncated")
                self.add(path, content)

    def _check_size(self, where: str, size: int, compressed: int | None) -> None:
        if size > self.limits.max_file_bytes:
            raise Refused(413, "file_too_large", f"{where} is over {self._mib('file')} MiB")
        ratio = self.limits.max_ratio
        if compressed is not None and size > RATIO_FLOOR and size > ratio * max(compressed, 1):
            raise Refused(413, "archive_bomb", f"{where} expands over {ratio} times")

    def _mib(self, which: str) -> int:
        limit = self.limits.max_file_bytes if which == "file" else self.limits.max_bytes
        return limit // (1024 * 1024)


class Capped:
    """A read-only stream that refuses to expand beyond BUDGET bytes or RATIO x its input."""

    def __init__(self, source: Readable, name: str, budget: int, compressed: int, ratio: int):
        self.source, self.name, self.budget = source, name, budget
        self.compressed, self.ratio, self.count = compressed, ratio, 0

    def read(self, size: int = -1) -> bytes:
        """Read at most SIZE bytes, never past the budget."""
        left = self.budget - self.count
        data = self.source.read(left + 1 if size < 0 or size > left else size)
        self.count += len(data)
        if self.count > self.budget:
            raise Refused(413, "archive_bomb", f"{self.name!r} expands beyond the upload limit")
        if self.count > RATIO_FLOOR and self.count > self.ratio * self.compressed:
            raise Refused(413, "archive_bomb", f"{self.name!r} expands over {self.ratio} times")
        return data


def sha256(content: bytes) -> str:
    """Hex SHA-256 of a member."""
    return hashlib.sha256(content).hexdigest()
