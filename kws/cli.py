"""What every script shares on the command line: exit statuses, user errors, and safe outputs.

Every script ends in `if __name__ == "__main__": cli.run(main)`. `run` calls `main()` and turns
what it raises into the exit status and message a user can act on:

- 0: done.
- 2: a user error -- a `UserError` (a missing or malformed input file, a bad setting, an
  output that may not be replaced; `audio.WavError`, `settings.SettingsError` and the scripts'
  own error classes are kinds of it) or an `OSError` (a file that cannot be opened, a full
  disk). One line `error: <what, which file, how to fix it>` on stderr, no traceback.
  argparse's own usage errors exit with 2 as well.
- 130: interrupted by Ctrl-C (the shell's convention, 128 + SIGINT).
- 1 with Python's traceback: anything else, i.e. a bug.

Tests call `main([...])` directly and see the exceptions themselves; `run(main, [...])` is what
the command line does.

Outputs (`check_outputs`), the one rule of every script that writes files: an output path that
exists is replaced only with `--overwrite` (the files a script manages itself, such as the Pi
script's resume journal or a run folder being resumed, are its own business); an output that is
one of the script's inputs, or a folder holding one, is an error even with `--overwrite`; an
output that is an existing folder is an error. Scripts check their outputs before any work.

Writing (`write_atomic`, `write_bytes`, `write_text`; `write_all` for several files, all or none):
every file goes to a temporary name beside it and is renamed into place, so a kill leaves the old
file or the new one, never part of one.

Only the standard library is imported, so the Raspberry Pi script can use this module.
"""

import os
import sys

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a Ctrl-C'd command


class UserError(ValueError):
    """An input or setting the user can fix; the message names the file or flag, the problem and the fix.

    A ValueError, so code (and tests) that expect one keep working.
    """


def describe(error):
    """The one-line message of a user error (an OSError names its file the way the others do)."""
    if isinstance(error, OSError) and error.strerror and error.filename:
        return f"{error.filename}: {error.strerror}"
    return str(error)


def run(main, argv=None):
    """Calls `main(argv)`; exits 2 with `error: ...` on a user error, 130 on Ctrl-C. A bug propagates
    (Python prints its traceback and exits 1)."""
    try:
        return main(argv)
    except KeyboardInterrupt:
        print("\ninterrupted (Ctrl-C)", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except (UserError, OSError) as error:
        sys.stdout.flush()
        print(f"error: {describe(error)}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)


def _real(path):
    return os.path.normcase(os.path.realpath(os.fspath(path)))


def _holds(outer, inner):
    """True when `inner` is `outer` or lies inside it (both real paths)."""
    return inner == outer or inner.startswith(outer.rstrip(os.sep) + os.sep)


def refuse_inputs(outputs, inputs):
    """Raises UserError when an output is one of the inputs or a folder that holds one."""
    for output in outputs:
        if not os.path.lexists(output):
            continue  # a path that does not exist yet is no input (and thousands of inputs cost nothing)
        real = _real(output)
        for path in inputs:
            real_input = _real(path) if path else None
            if real_input and _holds(real, real_input):
                what = "is" if real == real_input else "holds"
                raise UserError(f"{output}: the output {what} the input {path}; choose another output path "
                                "(--overwrite never replaces an input)")


def refuse_existing(outputs, overwrite, flag="--overwrite"):
    """Raises UserError naming the outputs that exist, unless `overwrite`."""
    existing = [os.fspath(path) for path in outputs if os.path.lexists(path)]
    if existing and not overwrite:
        raise UserError(f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; "
                        f"pass {flag} to replace {'it' if len(existing) == 1 else 'them'}, or choose another output")


def check_outputs(outputs, inputs=(), overwrite=False):
    """Raises UserError unless every output file may be written (see the module docstring)."""
    for output in outputs:
        if os.path.isdir(output) or os.fspath(output).endswith(("/", os.sep)):
            raise UserError(f"{output}: is a folder; give a file path")
        parent = os.path.dirname(os.path.abspath(output))
        while parent and not os.path.exists(parent):
            parent = os.path.dirname(parent)
        if parent and not os.path.isdir(parent):
            raise UserError(f"{output}: cannot be written, {parent} is a file, not a folder")
    refuse_inputs(outputs, inputs)
    refuse_existing(outputs, overwrite)


def out_prefix(out, suffix=".csv", flag="--out"):
    """The PREFIX of `--out PREFIX[suffix]` (scripts writing PREFIX.csv, PREFIX_<more>...); a folder
    is an error, not a prefix ending in a separator."""
    out = os.fspath(out)
    if out.endswith(("/", os.sep)) or os.path.isdir(out):
        raise UserError(f"{flag} {out}: is a folder; give a file path such as {os.path.join(out, 'N' + suffix)}")
    return out[:-len(suffix)] if suffix and out.endswith(suffix) else out


def temporary_path(path, suffix=""):
    """The name `path` is written under before its rename: beside it (a rename within one folder is
    atomic) and named by the process (two writers never share one); `suffix` for writers that choose
    the format by the extension (Keras needs `.keras`)."""
    return f"{path}.tmp{os.getpid()}{suffix}"


def _fsync(path):
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_all(writers, fsync=False, suffix=""):
    """Writes several files as a group: {path: write(temporary path)}; all are renamed into place
    only when every one was written, so a failure leaves none of them (nor any temporary file).
    `fsync` flushes each file to the disk before the renames, for files that must survive a power
    cut as well as a kill (a resume state, the Pi's submission); `suffix`: see `temporary_path`."""
    temporary = {path: temporary_path(path, suffix) for path in writers}
    try:
        for path, write in writers.items():
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            write(temporary[path])
            if fsync:
                _fsync(temporary[path])
        for path, tmp in temporary.items():
            os.replace(tmp, path)
    finally:
        for tmp in temporary.values():
            if os.path.exists(tmp):
                os.remove(tmp)
    return list(writers)


def write_atomic(path, write, fsync=False, suffix=""):
    """Writes one file through `write(temporary path)`, then renames it into place: a kill leaves the
    old file or the new one, never part of one. Returns `path`."""
    return write_all({path: write}, fsync, suffix)[0]


def bytes_writer(content):
    """A writer of `content` (bytes) for `write_all` and `write_atomic`."""
    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(content)
    return write


def write_bytes(path, content, fsync=False):
    """Writes `content` to `path` atomically (`write_atomic`)."""
    return write_atomic(path, bytes_writer(content), fsync)


def write_text(path, text, fsync=False):
    """Writes `text` as UTF-8 to `path` atomically, line ends as given."""
    return write_bytes(path, text.encode("utf-8"), fsync)
