"""Write the node's files under a root, all or nothing.

Every new file is first written and fsynced beside its target under a
temporary name; only when all of them are ready are they renamed into
place (each rename is atomic). If anything fails, the files already
replaced get their previous content back and the temporaries are removed,
so the previous good configuration stays and nothing half-written is left.
"""

import os
import stat

TEMP_SUFFIX = ".appliance-agent-new"


def target_path(root, relative):
    return os.path.join(root, *relative.split("/"))


def read_current(root, relative):
    """Current bytes of a file under root, or None when it does not exist."""
    try:
        with open(target_path(root, relative), "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def current_mode(root, relative):
    try:
        return stat.S_IMODE(os.stat(target_path(root, relative)).st_mode)
    except FileNotFoundError:
        return None


def changed_files(root, outputs):
    """The outputs whose content or mode differs from what is on disk."""
    return [
        output
        for output in outputs
        if read_current(root, output.path) != output.content or current_mode(root, output.path) != output.mode
    ]


def _write_temp(path, content, mode):
    """Write `content` beside `path`; on any failure (ENOSPC...) no temporary is left."""
    temp = path + TEMP_SUFFIX
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        try:
            os.fchmod(descriptor, mode)  # not subject to the umask
            view = memoryview(content)
            while view:
                written = os.write(descriptor, view)
                view = view[written:]
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
    except BaseException:
        _remove_quietly(temp)
        raise
    return temp


def _fsync_dir(path):
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def replace_all(root, outputs):
    """Put every output in place, or none of them. Raises OSError on failure."""
    prepared = []  # (target, temp, previous bytes or None, previous mode)
    created_dirs = []
    try:
        for output in outputs:
            target = target_path(root, output.path)
            parent = os.path.dirname(target)
            missing = []
            while parent and not os.path.isdir(parent):
                missing.append(parent)
                parent = os.path.dirname(parent)
            for directory in reversed(missing):
                os.mkdir(directory, 0o755)
                created_dirs.append(directory)
            temp = _write_temp(target, output.content, output.mode)
            prepared.append((target, temp, read_current(root, output.path), current_mode(root, output.path)))
    except BaseException:
        for _, temp, _, _ in prepared:
            _remove_quietly(temp)
        for directory in reversed(created_dirs):
            _rmdir_quietly(directory)
        raise

    done = []
    try:
        for entry in prepared:
            os.replace(entry[1], entry[0])
            done.append(entry)
    except BaseException:
        try:
            for target, _, previous, previous_mode in reversed(done):
                if previous is None:
                    _remove_quietly(target)
                else:
                    os.replace(_write_temp(target, previous, previous_mode), target)
        finally:
            for _, temp, _, _ in prepared:
                _remove_quietly(temp)
            for directory in reversed(created_dirs):
                _rmdir_quietly(directory)
        raise
    for directory in sorted(set(os.path.dirname(entry[0]) for entry in prepared)):
        _fsync_dir(directory)


def _remove_quietly(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _rmdir_quietly(path):
    try:
        os.rmdir(path)
    except OSError:
        pass
