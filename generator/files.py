"""Files queuedash writes and reads: written whole or not at all, read as JSON.

Every file queuedash writes goes through here. A write lands in a temporary
file beside its final place, then is renamed over it, so a reader (Grafana's
provisioning, a deploy reading `--from`) never sees half a file, and a failed
write leaves the previous file as it was. Files and folders get the modes the
user's umask gives (0644 and 0755 under the usual 022), not the private ones
temporary files start with: a Grafana running as another user must read them.

An output folder (`replace_folder`, `add_to_folder`) is queuedash's only when
queuedash wrote everything in it: it lists what it wrote in `OUTPUT_RECORD`
inside the folder. A folder holding anything else (a README, a folder of the
user's) is refused, never emptied; so is a file in its place.

Imports `errors`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from queuedash.errors import InputError, QueuedashError

#: The record of an output folder: the files queuedash wrote there, one per line. Not
#: *.json, so neither Grafana's provisioning nor `--from` nor `validate` reads it.
OUTPUT_RECORD = ".queuedash-output"
_RECORD_HEAD = "# written by queuedash build: these files are replaced by the next build\n"


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


def replace_folder(folder: Path, texts: dict[str, str], *, legacy: Callable[[Path], bool] | None = None,
                   remedy: str | None = None) -> list[Path]:
    """Make `folder` hold exactly `texts` (file name -> content), all or nothing.

    The new folder is written beside the old one and swapped in only once
    every file is written: a failure leaves the old folder as it was. A folder
    holding files queuedash did not write is refused, untouched (`owned_files`,
    which `legacy` and `remedy` go to).
    """
    folder = Path(folder)
    owned_files(folder, legacy=legacy, remedy=remedy)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.new-", dir=folder.parent))
    except OSError as exc:
        raise QueuedashError(f"{folder}: cannot write: {exc.strerror}") from None
    try:
        _public(staging, directory=True)
        for name, text in {**texts, OUTPUT_RECORD: _record(texts)}.items():
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


def add_to_folder(folder: Path, texts: dict[str, str], *, legacy: Callable[[Path], bool] | None = None,
                  remedy: str | None = None) -> list[Path]:
    """Write `texts` into the output folder `folder` (the others stay), all or nothing,
    and record them; a folder holding files queuedash did not write is refused."""
    folder = Path(folder)
    ours = owned_files(folder, legacy=legacy, remedy=remedy)
    paths = write_files(folder, texts)
    write_files(folder, {OUTPUT_RECORD: _record(ours | set(texts))})
    return paths


def _record(names) -> str:
    return _RECORD_HEAD + "".join(f"{name}\n" for name in sorted(names))


#: What to do about a folder holding files queuedash did not write, unless the caller knows better.
BUILD_REMEDY = "move them, or build into an empty or new folder"


def owned_files(folder: Path, *, legacy: Callable[[Path], bool] | None = None, remedy: str | None = None) -> set[str]:
    """The files of `folder` queuedash wrote; an error naming anything else in it, ending
    with `remedy`. Checked before writing, so that a refusal writes nothing.

    Without a record (a folder from before queuedash kept one) its files are ours when
    `legacy(path)` says so: by default, dashboard JSON named by its uid."""
    folder = Path(folder)
    legacy = legacy or _is_dashboard_file
    if not folder.exists():
        return set()
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder: choose another output folder")
    try:
        entries = sorted(entry.name for entry in folder.iterdir())
        record = folder / OUTPUT_RECORD
        ours = (set(line for line in record.read_text(encoding="utf-8").splitlines() if not line.startswith("#"))
                if record.is_file() else {name for name in entries if legacy(folder / name)})
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{folder}: cannot read the output folder: {getattr(exc, 'strerror', None) or exc}") from None
    foreign = [name for name in entries if name not in ours and name != OUTPUT_RECORD]
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise InputError(f"{folder}: holds files queuedash did not write ({shown}); queuedash replaces only "
                         f"a folder it wrote whole: {remedy or BUILD_REMEDY}")
    return ours & set(entries)


def _is_dashboard_file(path: Path) -> bool:
    """A dashboard JSON file named by its uid: what queuedash build wrote before it kept a record."""
    if path.suffix != ".json" or not path.is_file() or path.is_symlink():
        return False
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("uid") == path.stem
    except (OSError, ValueError, AttributeError):
        return False


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
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: not a dashboard (expected a JSON object)")
    return data
