"""The served process freezes what start-up built out of the garbage collector's scans.

Run in a child process: freezing and thresholds are process-wide, and the tests keep Python's defaults."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import asyncio, gc, os, signal, sys
from pathlib import Path
from runwire.server import app
from runwire.server.config import AuthSettings, Settings
import dataclasses

settings = dataclasses.replace(
    Settings(), host="127.0.0.1", port=0, data_dir=Path(sys.argv[1]), auth=AuthSettings(insecure_no_auth=True)
)
assert gc.get_freeze_count() == 0 and gc.get_threshold()[0] == 700

async def main():
    serving = asyncio.create_task(app.serve(settings))
    for _ in range(600):  # serve() settles the collector once the server has started
        if gc.get_freeze_count() or serving.done():
            break
        await asyncio.sleep(0.05)
    print(gc.get_freeze_count(), gc.get_threshold()[0], flush=True)
    os.kill(os.getpid(), signal.SIGTERM)
    await serving

asyncio.run(main())
"""


def test_serve_freezes_start_up_objects_and_collects_the_young_generation_less_often(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    frozen, young_threshold = (int(v) for v in done.stdout.split())
    assert frozen > 10_000  # the modules, tables and services start-up built
    assert young_threshold == 10_000
