"""get_file: Keras's cache lookup (``~/.keras/datasets/<fname>``), without the download.

grebe never reaches the network. get_file finds the file in the cache (or at the path given),
checks its hash when one is given, extracts an archive when asked (tar or zip, refusing members
that would land outside the target folder), and otherwise raises FileNotFoundError saying
where to put the file by hand.

>>> import os, tempfile
>>> from grebe.utils import get_file
>>> home = tempfile.mkdtemp(); os.makedirs(os.path.join(home, "datasets"))
>>> _ = open(os.path.join(home, "datasets", "a.txt"), "w").write("hi")
>>> get_file("a.txt", "https://example.com/a.txt", cache_dir=home)[len(home):]
'/datasets/a.txt'
"""
from __future__ import annotations

import hashlib
import os
import tarfile
import urllib.parse
import zipfile

__all__ = ["get_file", "keras_home", "validate_file"]


def keras_home() -> str:
    """$KERAS_HOME, or ~/.keras: where Keras (and grebe) keep cached datasets."""
    return os.path.expanduser(os.environ.get("KERAS_HOME") or os.path.join("~", ".keras"))


def _hash_file(path: str, algorithm: str) -> str:
    h = hashlib.sha256() if algorithm == "sha256" else hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def validate_file(fpath, file_hash: str, algorithm: str = "auto") -> bool:
    """True when the file's sha256 (or md5: 'auto' picks by the hash's length) is file_hash."""
    if algorithm == "auto":
        algorithm = "sha256" if len(file_hash) == 64 else "md5"
    if algorithm not in ("sha256", "md5"):
        raise ValueError(f"get_file: hash_algorithm must be 'auto', 'sha256' or 'md5'. "
                         f"Received: hash_algorithm={algorithm!r}")
    return _hash_file(os.fspath(fpath), algorithm) == str(file_hash)


def _inside(root: str, member: str) -> bool:
    target = os.path.realpath(os.path.join(root, member))
    return os.path.commonpath([os.path.realpath(root), target]) == os.path.realpath(root)


def _extract(archive: str, target: str, archive_format) -> None:
    fmts = ["tar", "zip"] if archive_format in ("auto", None) else (
        [archive_format] if isinstance(archive_format, str) else list(archive_format))
    if "tar" in fmts and tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            bad = [m.name for m in t.getmembers() if not _inside(target, m.name)
                   or m.issym() or m.islnk()]
            if bad:
                raise ValueError(f"get_file: refusing to extract {archive}: members {bad[:3]} "
                                 f"are links or would land outside {target}")
            t.extractall(target, filter="data")
        return
    if "zip" in fmts and zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            bad = [n for n in z.namelist() if not _inside(target, n)]
            if bad:
                raise ValueError(f"get_file: refusing to extract {archive}: members {bad[:3]} "
                                 f"would land outside {target}")
            z.extractall(target)
        return
    raise ValueError(f"get_file: {archive} is not a {' or '.join(fmts)} archive")


def _targets(fname: str, datadir: str, extract: bool, given: bool):
    """(file to look for, folder to extract into or None), as Keras names them."""
    if not extract:
        return os.path.join(datadir, fname), None
    if given and "." in fname:
        return os.path.join(datadir, fname), os.path.join(datadir,
                                                          fname[:fname.find(".")] + "_extracted")
    return os.path.join(datadir, fname + "_archive"), os.path.join(datadir, fname)


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None,
             cache_subdir="datasets", hash_algorithm="auto", extract=False,
             archive_format="auto", cache_dir=None, force_download=False) -> str:
    """The local path of a cached file: ``<cache_dir>/<cache_subdir>/<fname>`` (cache_dir
    defaults to ~/.keras), or `fname` itself when it is an existing path. With extract=True,
    the folder the archive was (or is now) extracted into. Never downloads: a missing file
    raises FileNotFoundError naming the origin and the place to put it."""
    if force_download:
        raise ValueError("get_file: force_download=True needs the network; grebe never "
                         "downloads. Put the file in the cache yourself")
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    fname = os.fspath(fname) if fname is not None else None
    given = bool(fname)
    if not fname:
        fname = os.path.basename(urllib.parse.urlsplit(origin or "").path)
        if not fname:
            raise ValueError(f"get_file: can't parse the file name from the origin provided: "
                             f"{origin!r}. Please specify the `fname` argument.")
    expanded = os.path.expanduser(fname)
    if os.sep in fname or os.path.isabs(expanded):
        datadir, fname = os.path.split(os.path.abspath(expanded))
    else:
        base = os.path.expanduser(cache_dir) if cache_dir is not None else keras_home()
        datadir = os.path.join(base, cache_subdir)
    target, extract_dir = _targets(fname, datadir, extract or untar, given)
    if extract_dir is not None and os.path.isdir(extract_dir) and not os.path.exists(target):
        return extract_dir
    if not os.path.exists(target):
        source = f" from {origin}" if origin else ""
        raise FileNotFoundError(
            f"get_file: {fname!r} is not in the local cache and grebe never downloads. "
            f"Download it{source} yourself and put it at {target}"
            + (f" (or its extracted contents in {extract_dir}/)" if extract_dir else ""))
    if file_hash is not None and os.path.isfile(target) and \
            not validate_file(target, file_hash, hash_algorithm):
        raise ValueError(f"get_file: {target} does not match the expected hash {file_hash} "
                         f"(a corrupted or different file); replace it with the file from "
                         f"{origin or 'its origin'}")
    if extract_dir is None:
        return target
    if not os.path.isdir(extract_dir):
        os.makedirs(extract_dir, exist_ok=True)
        _extract(target, extract_dir, archive_format)
    return extract_dir
