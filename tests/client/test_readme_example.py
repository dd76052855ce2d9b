"""The example of clients/python/README.md runs against a real server and prints what the README says."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from runwire.server.app import RunwireServer
from tests.client.support import WAIT

README = Path(__file__).resolve().parents[2] / "clients" / "python" / "README.md"


async def test_the_readme_example_runs(server: RunwireServer, tmp_path: Path) -> None:
    example = re.search(r"## Example.*?```python\n(.*?)```", README.read_text(), re.S)
    assert example is not None
    script = tmp_path / "example.py"
    script.write_text(example.group(1))
    env = {**os.environ, "RUNWIRE_SERVER": f"127.0.0.1:{server.port}", "RUNWIRE_API_KEY": ""}
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(script), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), WAIT)
    assert process.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert lines[0] == "You said: hello"
    assert re.fullmatch(r"agents/\S+ Echo", lines[1])
    assert lines[-1] == "NOT_FOUND AGENT_NOT_FOUND agents/does-not-exist"
