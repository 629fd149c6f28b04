"""Downloads the Speech Commands dataset and extracts it into the project's data layout.

Command line:

    python download_dataset.py --version v0.01 --out data/
    python download_dataset.py --version v0.02 --out data/ --sha256 <hex digest>
    python download_dataset.py --version v0.01 --out data/ --archive ~/speech_commands_v0.01.tar.gz

What it does, in order:
1. If `OUT/train/` already holds a completed extraction of this version (the marker file
   `OUT/train/.download_complete.json`), it says so and stops: nothing is downloaded again.
2. Downloads the official archive (v0.01: 1.4 GB, v0.02: 2.3 GB; `--url` overrides) to
   `OUT/<archive name>`, through `OUT/<archive name>.part`. An interrupted download resumes where
   it stopped (HTTP Range request), also in a later run; a server that ignores Range (answers 200
   instead of 206) makes it restart from the beginning. Connection errors are retried
   (`--retries` times in a row without progress, waiting `--retry_wait_s` longer each time).
   With `--archive FILE` an already-downloaded archive is used instead and nothing is fetched.
3. Computes the archive's SHA-256 and compares it with `--sha256`, or else with the table
   `KNOWN_SHA256`. The official digests are not recorded there (they could not be checked when
   this was written), so without `--sha256` the digest is printed and reported as NOT verified.
   A mismatch is an error; a downloaded archive that fails it is deleted (a `--archive` is kept).
4. Extracts safely: only regular files and directories are accepted, and a member with an
   absolute path or a `..` component is rejected before anything lands outside `OUT/`
   (`tarfile`'s "data" filter is used as well where the Python version has it). The archive's
   top level is rearranged into the Kaggle layout that docs/ARCHITECTURE.md fixes:

       archive ./<word>/*.wav         ->  OUT/train/audio/<word>/*.wav
       archive ./_background_noise_/  ->  OUT/train/audio/_background_noise_/
       archive ./validation_list.txt, ./testing_list.txt, ./LICENSE, ./README.md  ->  OUT/train/

   Extraction happens in `OUT/.train.extracting/`; the marker is written there and the folder is
   renamed to `OUT/train` in one step, so `OUT/train` never looks complete when it is not.
   An existing `OUT/train` without a marker of this version is left alone (an error says so).

The Kaggle challenge's own download (`train.7z`, `test.7z` unpacked into `data/`) already has
this layout (`data/train/audio/<word>/`, `data/test/audio/clip_*.wav`) and is used as it is;
this script is not needed for it.

Writes: `OUT/train/...` as above, `OUT/train/.download_complete.json` (version, source, SHA-256,
whether it was verified, file count), and keeps the archive in `OUT/` unless `--delete_archive`.
"""

import argparse
import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from kws import cli

log = logging.getLogger("download_dataset")

URLS = {
    "v0.01": "http://download.tensorflow.org/data/speech_commands_v0.01.tar.gz",
    "v0.02": "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz",
}
# SHA-256 of the official archives. None = not known here (never invent one): the digest is then
# computed, printed and reported as unverified. Fill in a value once checked against a trusted copy.
KNOWN_SHA256 = {"v0.01": None, "v0.02": None}

MARKER_NAME = ".download_complete.json"
STAGING_NAME = ".train.extracting"
LIST_FILES = ("validation_list.txt", "testing_list.txt")
CHUNK_BYTES = 1 << 20


class DatasetError(cli.UserError):
    """A download, checksum or archive problem; the message names the file or URL and the fault."""


class _TransientError(Exception):
    """A failed attempt worth retrying (the connection broke, the server had a bad moment)."""


# Errors of one attempt that a retry can cure. HTTPError is sorted out before these are caught.
_RETRYABLE = (_TransientError, urllib.error.URLError, http.client.HTTPException,
              ConnectionError, TimeoutError)


# ----------------------------------------------------------------------------- download

def _content_range(header):
    """Parses "bytes START-END/TOTAL" or "bytes */TOTAL" into (start, total); None = unknown."""
    match = re.fullmatch(r"bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)", (header or "").strip())
    if not match:
        return None, None
    start = int(match.group(1)) if match.group(1) is not None else None
    total = int(match.group(2)) if match.group(2) != "*" else None
    return start, total


def _open(url, offset_bytes, part, timeout_s):
    """Sends the GET (with a Range header when resuming); returns the response or None if done."""
    headers = {"Range": f"bytes={offset_bytes}-"} if offset_bytes else {}
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                      timeout=timeout_s)
    except urllib.error.HTTPError as err:
        err.close()
        if err.code == 416 and offset_bytes:
            _, total_bytes = _content_range(err.headers.get("Content-Range"))
            if total_bytes == offset_bytes:
                return None  # the .part file already holds the whole archive
            part.unlink()  # the .part is longer than the file, or unknowable: start clean
            raise _TransientError(f"server refused to resume at byte {offset_bytes} (HTTP 416)")
        if err.code in (408, 429) or err.code >= 500:
            raise _TransientError(f"HTTP {err.code} {err.reason}") from err
        raise DatasetError(f"{url}: HTTP {err.code} {err.reason}") from err


def _fetch_once(url, part, timeout_s, progress):
    """One attempt: appends the rest of the file to `part`; raises _TransientError if cut short.

    Adds the bytes written to `progress["bytes"]`, so the caller knows whether a failed attempt
    still progressed (the size of `part` cannot say that after a restart from zero).
    """
    offset_bytes = part.stat().st_size if part.exists() else 0
    response = _open(url, offset_bytes, part, timeout_s)
    if response is None:
        return
    with response:
        length_header = response.headers.get("Content-Length")
        body_bytes = int(length_header) if length_header and length_header.isdigit() else None
        if offset_bytes and response.status == 206:
            start, total_bytes = _content_range(response.headers.get("Content-Range"))
            if start != offset_bytes:
                part.unlink()
                raise _TransientError(f"server resumed at byte {start}, not {offset_bytes}")
            mode = "ab"
        else:
            if offset_bytes:
                log.warning("%s: server ignored the Range request (HTTP %d); restarting the "
                            "download from the beginning", url, response.status)
            offset_bytes, mode = 0, "wb"
            total_bytes = body_bytes
        received_bytes = 0
        with open(part, mode) as out, tqdm(total=total_bytes, initial=offset_bytes, unit="B",
                                           unit_scale=True, unit_divisor=1024,
                                           desc=part.name[:-len(".part")]) as bar:
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                received_bytes += len(chunk)
                progress["bytes"] += len(chunk)
                bar.update(len(chunk))
    # urllib returns an empty read, not an error, when the server closes the connection early.
    if body_bytes is not None and received_bytes < body_bytes:
        raise _TransientError(f"connection closed after {received_bytes} of {body_bytes} bytes")


def download(url, dest, retries=5, retry_wait_s=2.0, timeout_s=60.0):
    """Downloads `url` to `dest` via `dest.part`, resuming and retrying; returns `dest`.

    `retries` counts consecutive failed attempts that brought no new bytes, so a long download
    over a flaky line keeps going as long as it progresses.
    """
    part = dest.with_name(dest.name + ".part")
    failures = 0
    while True:
        progress = {"bytes": 0}
        try:
            _fetch_once(url, part, timeout_s, progress)
            break
        except _RETRYABLE as err:
            failures = 1 if progress["bytes"] else failures + 1
            if failures > retries:
                resume = f"; run again to resume from {part}" if part.exists() else ""
                raise DatasetError(f"{url}: download failed after {failures} attempts without "
                                   f"progress ({err}){resume}") from err
            wait_s = retry_wait_s * failures
            log.warning("%s: %s; retrying in %.1f s (attempt %d of %d)",
                        url, err, wait_s, failures + 1, retries + 1)
            time.sleep(wait_s)
    os.replace(part, dest)
    return dest


def sha256_of(path):
    """Hex SHA-256 of a file, read in chunks so a 2 GB archive does not fill the memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def check_sha256(path, expected):
    """Returns (digest, verified); raises DatasetError when `expected` is given and differs."""
    digest = sha256_of(path)
    if expected is None:
        log.warning("%s: SHA-256 %s NOT verified (no expected checksum known; pass --sha256)",
                    path, digest)
        return digest, False
    if digest != expected.strip().lower():
        raise DatasetError(f"{path}: SHA-256 checksum mismatch: expected {expected}, got {digest}")
    return digest, True


# ----------------------------------------------------------------------------- extraction

def _target_name(member, archive):
    """Checks one archive member; returns its path in the Kaggle layout (or None to skip it)."""
    name = member.name
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name) or ".." in parts:
        raise DatasetError(f"{archive}: unsafe member {name!r} (absolute path or '..'); "
                           "refusing to extract this archive")
    if not (member.isfile() or member.isdir()):
        raise DatasetError(f"{archive}: member {name!r} is not a regular file or directory "
                           "(links and devices are not expected in Speech Commands); refusing")
    parts = [part for part in parts if part != "."]
    if not parts:
        return None  # the archive's own "./" entry
    if len(parts) == 1 and member.isfile():
        return "/".join(["train", *parts])  # list files, LICENSE, README at the top level
    return "/".join(["train", "audio", *parts])


def _extract_members(archive, staging):
    """Extracts `archive` into `staging` in the Kaggle layout; returns the number of files."""
    has_data_filter = hasattr(tarfile, "data_filter")  # Python 3.12, 3.11.4+, 3.10.12+
    file_count = 0
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tqdm(tar, desc=f"extracting {archive.name}", unit=" files"):
                target = _target_name(member, archive)
                if target is None:
                    continue
                member.name = target
                if has_data_filter:
                    tar.extract(member, staging, filter="data")
                else:
                    tar.extract(member, staging)
                file_count += member.isfile()
    except (tarfile.TarError, EOFError, OSError) as err:  # FilterError is a TarError
        raise DatasetError(f"{archive}: cannot extract ({type(err).__name__}: {err})") from err
    return file_count


def _check_layout(train_dir, archive):
    """Raises unless the extracted tree looks like Speech Commands (word folders, list files)."""
    audio_dir = train_dir / "audio"
    word_dirs = [d for d in audio_dir.iterdir() if d.is_dir()] if audio_dir.is_dir() else []
    missing = [name for name in LIST_FILES if not (train_dir / name).is_file()]
    if not word_dirs or missing:
        problem = "no word folders" if not word_dirs else f"no {', '.join(missing)}"
        raise DatasetError(f"{archive}: not a Speech Commands archive ({problem} at its top level)")


def read_marker(train_dir):
    """The completed-extraction record in `train_dir`, or None if there is none."""
    marker = train_dir / MARKER_NAME
    if not marker.is_file():
        return None
    with open(marker, encoding="utf-8") as source:
        return json.load(source)


def extract(archive, out_dir, record):
    """Extracts `archive` to `out_dir/train` (see the module docstring); returns the record."""
    staging = out_dir / STAGING_NAME
    train_dir = out_dir / "train"
    if train_dir.exists():
        raise DatasetError(f"{train_dir} already exists but holds no completed extraction of "
                           f"{record['version']}; remove it or choose another --out")
    shutil.rmtree(staging, ignore_errors=True)  # left over from an interrupted run
    staging.mkdir(parents=True)
    try:
        record["file_count"] = _extract_members(archive, staging)
        _check_layout(staging / "train", archive)
        marker = staging / "train" / MARKER_NAME
        marker.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        os.replace(staging / "train", train_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return record


# ----------------------------------------------------------------------------- command line

def build_parser():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", required=True, choices=sorted(URLS),
                        help="dataset version: v0.01 (30 words) or v0.02 (35 words)")
    parser.add_argument("--out", type=Path, default=Path("data"),
                        help="output folder; the dataset lands in OUT/train (default: data)")
    parser.add_argument("--url", help="download from this URL instead of the official one")
    parser.add_argument("--archive", type=Path,
                        help="extract this already-downloaded .tar.gz instead of downloading")
    parser.add_argument("--sha256", help="expected SHA-256 of the archive (hex); overrides the "
                                         "built-in table, which knows no official digest yet")
    parser.add_argument("--retries", type=int, default=5,
                        help="failed attempts in a row without progress before giving up "
                             "(default: 5)")
    parser.add_argument("--retry_wait_s", type=float, default=2.0,
                        help="wait before the n-th retry: n times this many seconds (default: 2)")
    parser.add_argument("--timeout_s", type=float, default=60.0,
                        help="socket timeout of the download in seconds (default: 60)")
    parser.add_argument("--delete_archive", action="store_true",
                        help="delete the downloaded archive after a successful extraction")
    return parser


def _archive_name(url, version):
    """File name for the download: the URL's last path component, or a name from the version."""
    name = PurePosixPath(urllib.parse.urlparse(url).path).name
    return name or f"speech_commands_{version}.tar.gz"


def run(args):
    """Downloads (or takes --archive), verifies and extracts; returns the completion record."""
    out_dir = args.out
    train_dir = out_dir / "train"
    record = read_marker(train_dir)
    if record is not None:
        if record.get("version") != args.version:
            raise DatasetError(f"{train_dir} already holds Speech Commands {record.get('version')}"
                               f", not {args.version}; choose another --out")
        print(f"{train_dir}: Speech Commands {args.version} already extracted; nothing to do")
        return record
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.archive is not None:
        if not args.archive.is_file():
            raise DatasetError(f"{args.archive}: archive not found")
        archive, source = args.archive, str(args.archive)
    else:
        source = args.url or URLS[args.version]
        archive = out_dir / _archive_name(source, args.version)
        if archive.is_file():
            log.info("%s: already downloaded; checking it", archive)
        else:
            download(source, archive, args.retries, args.retry_wait_s, args.timeout_s)
    try:
        digest, verified = check_sha256(archive, args.sha256 or KNOWN_SHA256[args.version])
    except DatasetError:
        if args.archive is None:
            archive.unlink()  # a corrupt download must not be resumed or reused next time
        raise
    record = {"version": args.version, "source": source, "archive": archive.name,
              "sha256": digest, "sha256_verified": verified}
    extract(archive, out_dir, record)
    if args.delete_archive and args.archive is None:
        archive.unlink()
    state = "verified" if verified else "NOT verified (no expected checksum given)"
    print(f"{archive.name}: SHA-256 {digest} {state}")
    print(f"{train_dir}: Speech Commands {args.version} extracted, {record['file_count']} files")
    return record


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", args.sha256.strip()):
        parser.error(f"--sha256 {args.sha256!r} is not a SHA-256 digest (64 hex digits)")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return run(args)

