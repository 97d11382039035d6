"""schemathesis, every check, against a real ``confrec serve``'s own ``/openapi.json``:
every endpoint, zero findings. Positive cases must be accepted (every rule serve enforces
is in the document: the text pattern, ``play_beep`` a boolean, 1 to 10,000 jobs), negative
ones refused, every answer in the documented shape, status and content type.

The suite runs ``CONFREC_FUZZ_EXAMPLES`` (default 40) cases per operation, ~1,000 in all
(~15 s here); ``scripts/fuzz-api`` runs this file with 2,000 per operation, over 25,000
cases (~4 min). The seed is random; a finding prints it, to replay with ``--seed``.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

from nacl.signing import SigningKey

from confrec.worker.local.processes import ManagedProcess
from tests.support.serve import TOKEN_A, running_stack

EXAMPLES = int(os.environ.get("CONFREC_FUZZ_EXAMPLES", "40"))
CONFIG = Path(__file__).parents[1] / "support" / "schemathesis.toml"
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


def test_serve_meets_its_own_openapi_document(
    own_redis_url: str, simulator: ManagedProcess, workdir: Path
) -> None:
    public = base64.b64encode(bytes(SigningKey.generate().verify_key)).decode()
    with running_stack(workdir, own_redis_url, simulator, TELNYX_PUBLIC_KEY=public) as stack:
        argv = [
            str(SCHEMATHESIS),
            "--config-file",
            str(CONFIG),
            "run",
            f"{stack.serve.extra['root']}/openapi.json",
            "--checks=all",
            f"--max-examples={EXAMPLES}",
            "--workers=1",
            "--generation-database=none",
            "--request-timeout=10",
            "--output-truncate=true",
            "--no-color",
        ]
        env = {**os.environ, "CONFREC_FUZZ_TOKEN": TOKEN_A}
        run = subprocess.run(
            argv,
            env=env,
            cwd=stack.system.workdir,  # its crash files go there, not into the tree
            capture_output=True,
            text=True,
            timeout=60 + EXAMPLES * 0.5,
        )
    out = run.stdout + run.stderr
    summary = re.search(r"(\d+) generated, (\d+) passed", out)
    assert run.returncode == 0 and summary, out[-6000:]
    print(out[out.rfind("API Operations:") :])  # scripts/fuzz-api shows it
    assert re.search(r"Selected: (\d+)/\1\s+Tested: \1\b", out), out[-3000:]  # every operation
    assert int(summary[1]) == int(summary[2]) >= EXAMPLES * 5
