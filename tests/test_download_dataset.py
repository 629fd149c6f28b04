"""Tests of download_dataset.py against a local HTTP server (offline, 127.0.0.1 only).

The archive is a tiny tar.gz with the official archive's layout ("./<word>/*.wav",
"./_background_noise_/", list files, LICENSE and README at the top level).
"""

import hashlib
import io
import json
import re
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from kws.data import audio
from kws.data import download_dataset
from kws.data.download_dataset import MARKER_NAME, main
from kws.data.labels import BACKGROUND_NOISE_DIR

WORDS = ("yes", "no", "bed")


def _build_source_tree(root):
    """Writes the official archive's top level (two tiny wavs per word) under `root`."""
    rng = np.random.default_rng(0)
    for word in WORDS:
        (root / word).mkdir()
        for index in range(2):
            samples = rng.uniform(-0.5, 0.5, 800).astype(np.float32)
            audio.write_wav(root / word / f"0a1b2c3d_nohash_{index}.wav", samples)
    noise_dir = root / BACKGROUND_NOISE_DIR
    noise_dir.mkdir()
    audio.write_wav(noise_dir / "white_noise.wav", rng.uniform(-0.1, 0.1, 3200).astype(np.float32))
    (noise_dir / "README.md").write_text("noise files\n")
    (root / "validation_list.txt").write_text("yes/0a1b2c3d_nohash_1.wav\n")
    (root / "testing_list.txt").write_text("no/0a1b2c3d_nohash_1.wav\n")
    (root / "LICENSE").write_text("CC BY 4.0\n")
    (root / "README.md").write_text("Speech Commands\n")


@pytest.fixture(scope="module")
def archive_bytes(tmp_path_factory):
    """The bytes of a tar.gz laid out like speech_commands_v0.0x.tar.gz (members named './...')."""
    root = tmp_path_factory.mktemp("source")
    _build_source_tree(root)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(root, arcname=".")
    return buffer.getvalue()


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


class _Server:
    """Serves one payload; supports Range unless told not to; can cut the first response short."""

    def __init__(self, payload, support_range=True, cut_first_after_bytes=None):
        self.payload = payload
        self.support_range = support_range
        self.cut_after_bytes = cut_first_after_bytes
        self.range_headers = []  # the Range header of every request (None when absent)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/speech_commands_v0.01.tar.gz"

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output quiet
                pass

            def do_GET(self):
                server.respond(self)

        return Handler

    def respond(self, handler):
        range_header = handler.headers.get("Range")
        self.range_headers.append(range_header)
        total_bytes, start = len(self.payload), 0
        if self.support_range and range_header:
            start = int(re.fullmatch(r"bytes=(\d+)-", range_header).group(1))
            if start >= total_bytes:
                handler.send_response(416)
                handler.send_header("Content-Range", f"bytes */{total_bytes}")
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return
            handler.send_response(206)
            handler.send_header("Content-Range", f"bytes {start}-{total_bytes - 1}/{total_bytes}")
        else:
            handler.send_response(200)
        body = self.payload[start:]
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if self.cut_after_bytes is not None:
            # A broken connection: part of the body, then the server hangs up.
            body, self.cut_after_bytes = body[:self.cut_after_bytes], None
            handler.close_connection = True
        handler.wfile.write(body)

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _args(server, out_dir, *extra):
    return ["--version", "v0.01", "--out", str(out_dir), "--url", server.url,
            "--retry_wait_s", "0", "--timeout_s", "5", *extra]


def _assert_kaggle_layout(out_dir):
    train_dir = out_dir / "train"
    for word in WORDS:
        wavs = sorted((train_dir / "audio" / word).glob("*.wav"))
        assert len(wavs) == 2
        assert audio.read_wav(wavs[0]).shape == (800,)
    assert (train_dir / "audio" / BACKGROUND_NOISE_DIR / "white_noise.wav").is_file()
    assert (train_dir / "audio" / BACKGROUND_NOISE_DIR / "README.md").is_file()
    assert (train_dir / "validation_list.txt").read_text() == "yes/0a1b2c3d_nohash_1.wav\n"
    assert (train_dir / "testing_list.txt").read_text() == "no/0a1b2c3d_nohash_1.wav\n"
    assert (train_dir / "LICENSE").is_file() and (train_dir / "README.md").is_file()
    assert sorted(p.name for p in (train_dir / "audio").iterdir()) == sorted(
        [*WORDS, BACKGROUND_NOISE_DIR])
    assert not (out_dir / download_dataset.STAGING_NAME).exists()


def test_full_download_verified_and_laid_out(tmp_path, archive_bytes, capsys):
    out_dir = tmp_path / "data"
    with _Server(archive_bytes) as server:
        record = main(_args(server, out_dir, "--sha256", _sha256(archive_bytes).upper()))
    assert server.range_headers == [None]
    _assert_kaggle_layout(out_dir)
    assert record["sha256_verified"] is True and record["file_count"] == 12
    marker = json.loads((out_dir / "train" / MARKER_NAME).read_text())
    assert marker["version"] == "v0.01" and marker["sha256"] == _sha256(archive_bytes)
    assert (out_dir / "speech_commands_v0.01.tar.gz").read_bytes() == archive_bytes
    assert not (out_dir / "speech_commands_v0.01.tar.gz.part").exists()
    assert "verified" in capsys.readouterr().out


def test_unknown_checksum_is_printed_and_reported_unverified(tmp_path, archive_bytes, capsys,
                                                             monkeypatch):
    monkeypatch.setitem(download_dataset.KNOWN_SHA256, "v0.01", None)
    with _Server(archive_bytes) as server:
        record = main(_args(server, tmp_path, "--delete_archive"))
    report = capsys.readouterr().out
    assert _sha256(archive_bytes) in report and "NOT verified" in report
    assert record["sha256_verified"] is False
    assert not (tmp_path / "speech_commands_v0.01.tar.gz").exists()
    _assert_kaggle_layout(tmp_path)


def test_broken_connection_resumes_with_range(tmp_path, archive_bytes):
    cut_bytes = len(archive_bytes) // 3
    with _Server(archive_bytes, cut_first_after_bytes=cut_bytes) as server:
        main(_args(server, tmp_path, "--sha256", _sha256(archive_bytes)))
    assert server.range_headers == [None, f"bytes={cut_bytes}-"]
    assert (tmp_path / "speech_commands_v0.01.tar.gz").read_bytes() == archive_bytes
    _assert_kaggle_layout(tmp_path)


def test_part_file_from_an_earlier_run_is_resumed(tmp_path, archive_bytes):
    kept_bytes = 100
    (tmp_path / "speech_commands_v0.01.tar.gz.part").write_bytes(archive_bytes[:kept_bytes])
    with _Server(archive_bytes) as server:
        main(_args(server, tmp_path, "--sha256", _sha256(archive_bytes)))
    assert server.range_headers == [f"bytes={kept_bytes}-"]
    _assert_kaggle_layout(tmp_path)


def test_complete_part_file_answered_416_is_used(tmp_path, archive_bytes):
    (tmp_path / "speech_commands_v0.01.tar.gz.part").write_bytes(archive_bytes)
    with _Server(archive_bytes) as server:
        main(_args(server, tmp_path, "--sha256", _sha256(archive_bytes)))
    assert server.range_headers == [f"bytes={len(archive_bytes)}-"]
    _assert_kaggle_layout(tmp_path)


def test_server_ignoring_range_restarts_cleanly(tmp_path, archive_bytes):
    (tmp_path / "speech_commands_v0.01.tar.gz.part").write_bytes(b"stale bytes " * 50)
    with _Server(archive_bytes, support_range=False, cut_first_after_bytes=500) as server:
        main(_args(server, tmp_path, "--sha256", _sha256(archive_bytes)))
    assert server.range_headers == ["bytes=600-", "bytes=500-"]
    assert (tmp_path / "speech_commands_v0.01.tar.gz").read_bytes() == archive_bytes
    _assert_kaggle_layout(tmp_path)


def test_bad_checksum_is_a_clear_error_and_extracts_nothing(tmp_path, archive_bytes):
    with _Server(archive_bytes) as server:
        with pytest.raises(download_dataset.DatasetError, match="SHA-256 checksum mismatch.*expected 0+, got"):
            main(_args(server, tmp_path, "--sha256", "0" * 64))
    assert not (tmp_path / "train").exists()
    assert not (tmp_path / "speech_commands_v0.01.tar.gz").exists()
    assert not (tmp_path / "speech_commands_v0.01.tar.gz.part").exists()


def test_unreachable_server_gives_up_after_retries(tmp_path, archive_bytes):
    with _Server(archive_bytes) as server:
        url = server.url
    with pytest.raises(download_dataset.DatasetError, match="download failed after 3 attempts"):
        main(["--version", "v0.02", "--out", str(tmp_path), "--url", url,
              "--retries", "2", "--retry_wait_s", "0", "--timeout_s", "2"])
    assert not (tmp_path / "train").exists()


def _archive_with_member(tmp_path, archive_bytes, member, data=b"evil\n"):
    """The good archive's members plus one extra `member` (a TarInfo); returns its path."""
    path = tmp_path / "bad.tar.gz"
    with tarfile.open(fileobj=io.BytesIO(archive_bytes), mode="r:gz") as good, \
            tarfile.open(path, mode="w:gz") as bad:
        for item in good:
            bad.addfile(item, good.extractfile(item) if item.isfile() else None)
        member.size = len(data) if member.isfile() else 0
        bad.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return path


def _symlink(name, target):
    member = tarfile.TarInfo(name)
    member.type, member.linkname = tarfile.SYMTYPE, target
    return member


@pytest.mark.parametrize("member_factory, reason", [
    (lambda tmp: tarfile.TarInfo("../evil.txt"), "unsafe member"),
    (lambda tmp: tarfile.TarInfo("./yes/../../../evil.txt"), "unsafe member"),
    (lambda tmp: tarfile.TarInfo(str(tmp / "evil.txt")), "unsafe member"),
    (lambda tmp: _symlink("./yes/link.wav", "/etc/passwd"), "not a regular file"),
], ids=["dotdot", "nested-dotdot", "absolute", "symlink"])
def test_unsafe_member_is_rejected(tmp_path, archive_bytes, member_factory, reason):
    archive = _archive_with_member(tmp_path, archive_bytes, member_factory(tmp_path))
    out_dir = tmp_path / "deep" / "out"
    with pytest.raises(download_dataset.DatasetError, match=reason):
        main(["--version", "v0.01", "--out", str(out_dir), "--archive", str(archive)])
    assert not list(tmp_path.rglob("evil.txt"))
    assert not (out_dir / "train").exists()
    assert not (out_dir / download_dataset.STAGING_NAME).exists()
    assert archive.exists()  # a user's own archive is never deleted


def test_local_archive_then_second_run_does_nothing(tmp_path, archive_bytes, capsys):
    archive = tmp_path / "speech_commands_v0.01.tar.gz"
    archive.write_bytes(archive_bytes)
    out_dir = tmp_path / "data"
    main(["--version", "v0.01", "--out", str(out_dir), "--archive", str(archive)])
    _assert_kaggle_layout(out_dir)
    with _Server(archive_bytes) as server:
        main(_args(server, out_dir))
        with pytest.raises(download_dataset.DatasetError, match="already holds Speech Commands v0.01"):
            main(_args(server, out_dir)[:1] + ["v0.02"] + _args(server, out_dir)[2:])
    assert server.range_headers == []  # nothing was downloaded again
    assert "already extracted" in capsys.readouterr().out


def test_existing_train_folder_without_marker_is_left_alone(tmp_path, archive_bytes):
    archive = tmp_path / "speech_commands_v0.01.tar.gz"
    archive.write_bytes(archive_bytes)
    (tmp_path / "train" / "audio").mkdir(parents=True)
    with pytest.raises(download_dataset.DatasetError, match="already exists but holds no completed extraction"):
        main(["--version", "v0.01", "--out", str(tmp_path), "--archive", str(archive)])
    assert list((tmp_path / "train").rglob("*")) == [tmp_path / "train" / "audio"]


def test_archive_without_list_files_is_not_taken_for_the_dataset(tmp_path):
    archive = tmp_path / "other.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        member = tarfile.TarInfo("./yes/a.wav")
        member.size = 4
        tar.addfile(member, io.BytesIO(b"RIFF"))
    with pytest.raises(download_dataset.DatasetError, match="not a Speech Commands archive.*validation_list"):
        main(["--version", "v0.01", "--out", str(tmp_path / "out"), "--archive", str(archive)])
    assert not (tmp_path / "out" / "train").exists()


def test_python_without_tarfile_data_filter_still_extracts_and_rejects(tmp_path, archive_bytes,
                                                                       monkeypatch):
    monkeypatch.delattr(tarfile, "data_filter", raising=False)
    good = tmp_path / "good.tar.gz"
    good.write_bytes(archive_bytes)
    main(["--version", "v0.01", "--out", str(tmp_path / "ok"), "--archive", str(good)])
    _assert_kaggle_layout(tmp_path / "ok")
    bad = _archive_with_member(tmp_path, archive_bytes, tarfile.TarInfo("../evil.txt"))
    with pytest.raises(download_dataset.DatasetError, match="unsafe member '../evil.txt'"):
        main(["--version", "v0.01", "--out", str(tmp_path / "out"), "--archive", str(bad)])
    assert not list(tmp_path.rglob("evil.txt"))


def test_malformed_sha256_flag_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--version", "v0.01", "--out", str(tmp_path), "--sha256", "abc"])
    assert "not a SHA-256 digest" in capsys.readouterr().err
