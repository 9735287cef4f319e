"""Files queuedash writes and reads: written whole or not at all, read as JSON.

Every file queuedash writes goes through here. A write lands in a temporary
file beside its final place, then is renamed over it, so a reader (Grafana's
provisioning, a deploy reading `--from`) never sees half a file, and a failed
write leaves the previous file as it was. Files and folders get the modes the
user's umask gives (0644 and 0755 under the usual 022), not the private ones
temporary files start with: a Grafana running as another user must read them.

Imports `errors` and `jsontext`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from queuedash import jsontext
from queuedash.errors import InputError, QueuedashError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _public(path: Path, directory: bool = False) -> None:
    """Give a file made by mkstemp/mkdtemp (0600/0700) the modes the umask allows."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def write_files(folder: Path, texts: dict[str, str]) -> list[Path]:
    """Write `texts` (file name -> content) into `folder`, all or nothing.

    Every file is staged first; only when all are written are they renamed into
    place. Other files in the folder are left alone.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise QueuedashError(f"{folder}: cannot create the folder: {exc.strerror}") from None
    staged: list[tuple[str, Path]] = []
    try:
        for name, text in texts.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=folder)
            staged.append((tmp, folder / name))
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            _public(Path(tmp))
    except OSError as exc:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        raise QueuedashError(f"{folder}: cannot write: {exc.strerror}") from None
    for tmp, final in staged:
        os.replace(tmp, final)
    return [final for _, final in staged]


def write_text(path: Path, text: str) -> Path:
    """Replace the file at `path` with `text` in one step."""
    path = Path(path)
    return write_files(path.parent, {path.name: text})[0]


def replace_folder(folder: Path, texts: dict[str, str]) -> list[Path]:
    """Make `folder` hold exactly `texts` (file name -> content), all or nothing.

    The new folder is written beside the old one and swapped in only once
    every file is written: a failure leaves the old folder as it was.
    """
    folder = Path(folder)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.new-", dir=folder.parent))
    except OSError as exc:
        raise QueuedashError(f"{folder}: cannot write: {exc.strerror}") from None
    try:
        _public(staging, directory=True)
        for name, text in texts.items():
            (staging / name).write_text(text, encoding="utf-8")
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise QueuedashError(f"{folder}: cannot write: {exc.strerror}") from None
    old = None
    if folder.exists():
        old = folder.parent / f".{folder.name}.old-{os.getpid()}"
        os.replace(folder, old)
    os.replace(staging, folder)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return [folder / name for name in texts]


# -- reading -------------------------------------------------------------------------------


def json_files(paths, *, recursive: bool = False) -> list[Path]:
    """The JSON files among `paths`: files as given, folders for their *.json (sorted)."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(path.rglob("*.json") if recursive else path.glob("*.json")))
        else:
            found.append(path)
    return found


def read_json_object(path: Path) -> dict:
    """The JSON object in the file at `path`; anything else is one line naming the file."""
    try:
        data = jsontext.loads(Path(path).read_bytes())
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: not a dashboard (expected a JSON object)")
    return data
