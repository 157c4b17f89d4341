"""hostile-tmpfill: writes into the function's temporary directory (tempfile.gettempdir(), which
follows TMPDIR) until the event's limit, in 8 MB chunks ({"chunk_mb": N} for N MB, 1..8).

  {"mb": 600}            writes up to 600 MB (capped at 2048) into one file. Past the function's
                         EphemeralStorage (512 MB here) the write fails with
                         OSError: [Errno 28] No space left on device, which is left unhandled, as a
                         handler that fills /tmp on Lambda would: the caller gets errorType OSError.
  {"mb": 100, "keep": true}  writes 100 MB and keeps the file (otherwise it is removed again).
  {"report": true}       answers {"tmpdir": ..., "env_tmpdir": ..., "pid": ..., "files": [...],
                         "free_mb": <free space of the file system holding it>}, after {"sleep": S}
                         seconds (at most 5) if asked.
  {"exit": true}         ends the runtime process (the environment is discarded).
"""
import os
import tempfile
import time

CHUNK = b"\0" * (8 * 1024 * 1024)
CAP_MB = 2048


def handler(event, context):
    tmp = tempfile.gettempdir()
    if event.get("report"):
        time.sleep(min(float(event.get("sleep", 0)), 5))
        st = os.statvfs(tmp)
        return {"tmpdir": tmp, "env_tmpdir": os.environ.get("TMPDIR"), "pid": os.getpid(),
                "files": sorted(os.listdir(tmp)), "free_mb": st.f_bavail * st.f_frsize // (1024 * 1024)}
    if event.get("exit"):
        os._exit(0)
    mb = min(int(event.get("mb", 0)), CAP_MB)
    chunk = CHUNK[:max(1, min(int(event.get("chunk_mb", 8)), 8)) * 1024 * 1024]
    path = os.path.join(tmp, "fill-%s" % context.aws_request_id)
    written = 0
    try:
        with open(path, "wb") as f:
            while written < mb * 1024 * 1024:
                f.write(chunk)
                f.flush()
                written += len(chunk)
    finally:
        if not event.get("keep") and os.path.exists(path):
            os.remove(path)
    return {"written_mb": written // (1024 * 1024), "tmpdir": tmp}
