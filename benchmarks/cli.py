"""Start-up cost of the `iop` command, as ratios against bare Python in the same run.

Reports the median wall time of `iop --help` and `iop case show REF` next to
`python -c pass` and `python -c "import sqlmodel"`. Targets (issue "Officer CLI"):
`iop --help` within 0.25 s of bare Python; `iop case show` at most 1.3x the bare
`import sqlmodel`.

    python benchmarks/cli.py [--runs 15] [--json] [--check]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def median_seconds(cmd: list[str], runs: int, env: dict[str, str]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    py = sys.executable
    iop = [py, "-m", "iop_workflow"]
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "HOME": tmp, "XDG_DATA_HOME": tmp, "IOP_DATABASE_URL": f"sqlite:///{Path(tmp) / 'b.db'}"}
        subprocess.run([*iop, "init"], env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run(
            [
                *iop,
                "org",
                "add",
                "--name",
                "Förening",
                "--org-number",
                "802479-1322",
                "--legal-form",
                "ideell_forening",
            ],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        ref = subprocess.run(
            [
                *iop,
                "--json",
                "case",
                "open",
                "--org",
                "802479-1322",
                "--municipality",
                "Stenungsund",
                "--title",
                "T",
                "--challenge",
                "C",
            ],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        case_ref = json.loads(ref)["ref"]
        # Warm the bytecode caches once, then measure.
        for cmd in ([py, "-c", "import sqlmodel"], [*iop, "--help"], [*iop, "case", "show", case_ref]):
            subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
        bare = median_seconds([py, "-c", "pass"], args.runs, env)
        sqlmodel = median_seconds([py, "-c", "import sqlmodel"], args.runs, env)
        helps = median_seconds([*iop, "--help"], args.runs, env)
        show = median_seconds([*iop, "case", "show", case_ref], args.runs, env)
    result = {
        "python_pass_s": round(bare, 4),
        "import_sqlmodel_s": round(sqlmodel, 4),
        "iop_help_s": round(helps, 4),
        "iop_case_show_s": round(show, 4),
        "help_minus_bare_s": round(helps - bare, 4),
        "show_over_sqlmodel": round(show / sqlmodel, 3),
        "help_ok": helps - bare <= 0.25,
        "show_ok": show / sqlmodel <= 1.3,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"python -c pass          {bare * 1000:8.1f} ms")
        print(f"python -c import sqlmodel {sqlmodel * 1000:6.1f} ms")
        print(
            f"iop --help              {helps * 1000:8.1f} ms   +{(helps - bare) * 1000:.0f} ms over bare "
            f"(target <= 250 ms)  {'PASS' if result['help_ok'] else 'FAIL'}"
        )
        print(
            f"iop case show REF       {show * 1000:8.1f} ms   {show / sqlmodel:.2f}x import sqlmodel "
            f"(target <= 1.30x)  {'PASS' if result['show_ok'] else 'FAIL'}"
        )
    return 1 if args.check and not (result["help_ok"] and result["show_ok"]) else 0


if __name__ == "__main__":
    sys.exit(main())
