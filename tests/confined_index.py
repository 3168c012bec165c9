"""An index folder on a small full file system, or a read-only one, for real: a child process in its own mount
namespace (`unshare --mount`, as root) copies the index into a tmpfs of a chosen size and mounts it over the
index folder, so every write there meets the kernel's ENOSPC or EROFS, nothing monkeypatched.

In the namespace a serving store opens the index first; then `hubchat ingest` (or `hubchat sync`) runs as a
separate process; optionally the serving process then runs one sync of its own the way `hubchat serve`'s interval
sync does (`BackgroundUpdates`), logging what it says; then the serving store is asked again. The folder as the
failure left it is copied out (the tmpfs disappears with the namespace) for the test to check.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

QUESTION = "GPU rental prices"

FRESH_SCRIPT = r"""
import json, sys
from hubchat.config import load_settings
from hubchat.errors import HubchatError
from hubchat.index.local_onnx import LocalOnnxEmbeddings
from hubchat.index.store import ChunkStore
index_dir, config, question = sys.argv[1:]
settings = load_settings(config, index={"dir": index_dir})
try:
    store = ChunkStore(settings, LocalOnnxEmbeddings(threads=1, batch_size=settings.embeddings.batch_size))
    chroma_ids = sorted(store._get_all([])["ids"])
    print(json.dumps({
        "count": store.count(),
        "lexical_matches_chroma": sorted(store.lexical.ids) == chroma_ids,
        "lexical": [c.id for c, _ in store.lexical_search(question, 5)],
    }))
except HubchatError as exc:  # what a starting process tells its user
    print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
"""

CONFINED_SCRIPT = r"""
import json, os, signal, subprocess, sys
from pathlib import Path
from hubchat.config import load_settings
from hubchat.index.local_onnx import LocalOnnxEmbeddings
from hubchat.index.store import ChunkStore

config, mode, rebuild, scratch, slack_kb, question, out, command, background = sys.argv[1:]
settings = load_settings(config)
index, scratch = Path(settings.index.dir), Path(scratch)

def run(*cmd):
    subprocess.run(cmd, check=True)

def run_python(cmd, limit=240):
    # (exit code or "hung", stdout, stderr): one still running after `limit` s prints every thread's stack first
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, COLUMNS="400", PYTHONFAULTHANDLER="1"))
    try:
        out, err = proc.communicate(timeout=limit)
        return proc.returncode, out, err
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        out, err = proc.communicate()
        return "hung", out, err

used_kb = int(subprocess.run(["du", "-sk", str(index)], capture_output=True, text=True, check=True).stdout.split()[0])
size_kb = used_kb + int(slack_kb) if mode == "full" else used_kb * 2 + 1024
run("mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(scratch))
run("cp", "-a", f"{index}/.", str(scratch))
run("mount", "--bind", str(scratch), str(index))

if mode == "read-only":
    # The serving process reaches the same files through the tmpfs's own, writable mount: a mount with files open
    # for writing cannot be made read-only, but a second (bind) mount of it can, and that is the one ingests use.
    text = Path(config).read_text(encoding="utf-8").replace('dir = "index"', f'dir = "{scratch}"')
    Path(scratch.parent / "serving.toml").write_text(text, encoding="utf-8")
    serving_settings = load_settings(scratch.parent / "serving.toml")
else:
    serving_settings = settings
emb = LocalOnnxEmbeddings(threads=2, batch_size=settings.embeddings.batch_size)
serving = ChunkStore(serving_settings, emb)

def answers():
    return {
        "count": serving.count(),
        "dense": [c.id for c, _ in serving.dense_search(emb.embed_query(question), 5)],
        "lexical": [c.id for c, _ in serving.lexical_search(question, 5)],
        "lexical_ids": sorted(serving.lexical.ids),
    }

report = {"size_kb": size_kb, "before": answers()}
if mode == "read-only":
    run("mount", "-o", "remount,bind,ro", str(index))
cli = [sys.executable, "-m", "hubchat.cli", command, "--config", config] + (["--rebuild"] if rebuild == "1" else [])
code, stdout, stderr = run_python(cli)
report["cli"] = {"code": code, "output": stdout + stderr}
if background == "1":
    # the serving process's own interval sync, as `hubchat serve` runs it, on the same full folder
    import logging, time
    from hubchat.sync.background import BackgroundUpdates
    from hubchat.sync.site import sync_site
    logged = []
    class Keep(logging.Handler):
        def emit(self, record):
            raised = repr(record.exc_info[1])[:2000] if record.exc_info else ""
            logged.append({"level": record.levelname, "message": record.getMessage(), "traceback": raised})
    logging.getLogger("hubchat").addHandler(Keep())
    logging.getLogger("hubchat").setLevel(logging.INFO)
    class ServingUpdater:  # what Runtime.sync does, on the serving store
        def ingest(self):
            raise AssertionError("no folder ingest here")
        def sync(self):
            return sync_site(serving_settings, serving, emb)
    updates = BackgroundUpdates(ServingUpdater(), corpus_dir=None, interval_s=3600).start()
    deadline = time.monotonic() + 240
    while updates.runs < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    updates.stop()
    report["background"] = {"runs": updates.runs, "logged": [r for r in logged if "site sync" in r["message"]]}
# a process starting on the folder as the failure left it (read-only, embedded Chroma cannot even open it)
code, stdout, stderr = run_python([sys.executable, "-c", FRESH_SCRIPT, str(index), config, question])
report["fresh"] = json.loads(stdout.strip().splitlines()[-1]) if code == 0 else {"crash": f"{code}: {stderr[-4000:]}"}
serving.refresh(force=True)
report["after"] = answers()
report["df"] = subprocess.run(["df", "-k", str(index)], capture_output=True, text=True).stdout
Path(out).write_text(json.dumps(report), encoding="utf-8")
"""


@dataclass(frozen=True)
class ConfinedRun:
    """What the child saw: the serving store's answers before and after, the CLI's exit code and output."""

    report: dict
    after_dir: Path  # the index folder as the failed ingest left it

    @property
    def cli_code(self) -> int:
        return self.report["cli"]["code"]

    @property
    def cli_output(self) -> str:
        return " ".join(self.report["cli"]["output"].split())


def confinement_problem() -> str | None:
    """Why this machine cannot run confined ingests (None when it can)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return "needs root and unshare(1) to mount a tmpfs in a private mount namespace"
    probe = subprocess.run(
        ["unshare", "--mount", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt && mount -o remount,ro /mnt"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return f"unshare --mount with a tmpfs does not work here: {probe.stderr.strip()}"
    return None


def run_confined(
    folder: Path, config: Path, *, mode: str, rebuild: bool, slack_kb: int = 64, command: str = "ingest", background_sync: bool = False
) -> ConfinedRun:
    """Run the child (see the module doc) on the index of `config` (in folder/index); `mode` "full" gives the tmpfs
    `slack_kb` free beyond the index, "read-only" remounts it read-only before the ingest. `command` is the CLI's
    ("ingest" or "sync"); `background_sync` has the serving process sync once as `hubchat serve` does, after it."""
    scratch, out, after = folder / "tmpfs", folder / "report.json", folder / "after"
    scratch.mkdir()
    script = f"FRESH_SCRIPT = {FRESH_SCRIPT!r}\n" + CONFINED_SCRIPT + f"\nsubprocess.run(['cp', '-a', str(index), {str(after)!r}], check=True)\n"
    args = [str(config), mode, "1" if rebuild else "0", str(scratch), str(slack_kb), QUESTION, str(out), command, "1" if background_sync else "0"]
    env = dict(os.environ, ANONYMIZED_TELEMETRY="False", PYTHONUNBUFFERED="1")
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=folder,
        timeout=600,
    )
    assert done.returncode == 0 and out.is_file(), done.stderr[-4000:]
    return ConfinedRun(json.loads(out.read_text(encoding="utf-8")), after)
