"""What benchmarks/api.py measured: per-round figures, the summary per configuration, the targets, the table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.harness import percentile, spread

CORRECTNESS = ("no_errors", "every_2xx_logged")  # always checked: exit 1 when missed
TARGET_TPS_RATIO = 0.5  # at 8 clients on SQLite: HTTP >= 0.5x in-process throughput ...
TARGET_P99_RATIO = 3.0  # ... and HTTP p99 <= 3x in-process p99
Record = tuple[int, str, int]  # seq, case_ref, case_seq


@dataclass(slots=True)
class Tally:
    """One client's results."""

    latencies: list[float] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: int = 0  # steps after an error on the same case


@dataclass(slots=True)
class Run:
    """One side's round: every client's tally and the wall time."""

    seconds: float
    load1: float
    tally: Tally
    cpu: dict[str, float]  # CPU seconds: A "server" and "clients" (this process), B "process"

    @classmethod
    def of(cls, tallies: Sequence[Tally], seconds: float, load: float, cpu: dict[str, float]) -> Run:
        merged = Tally()
        for t in tallies:
            merged.latencies += t.latencies
            merged.records += t.records
            merged.errors += t.errors
            merged.skipped += t.skipped
        return cls(seconds, load, merged, cpu)

    def figures(self) -> dict[str, Any]:
        lat, steps = self.tally.latencies, max(1, len(self.tally.latencies))
        cpu = {f"cpu_ms_per_step_{k}": round(v * 1000 / steps, 2) for k, v in self.cpu.items()}
        return {
            "transitions_per_s": round(len(lat) / self.seconds, 1),
            "ok": len(lat),
            "p50_ms": round(percentile(lat, 50) * 1000, 2),
            "p99_ms": round(percentile(lat, 99) * 1000, 2),
            "errors": len(self.tally.errors),
            "skipped": self.tally.skipped,
            "load1": self.load1,
            "seconds": round(self.seconds, 3),
            **cpu,
        }


def summarise(key: tuple[str, int], runs: list[tuple[Run, Run]], check: dict[str, dict[str, int]]) -> dict[str, Any]:
    backend, clients = key
    a = [r.figures() for r, _ in runs]
    b = [r.figures() for _, r in runs]
    tps_ratio = [x["transitions_per_s"] / y["transitions_per_s"] for x, y in zip(a, b, strict=True)]
    p99_ratio = [x["p99_ms"] / y["p99_ms"] for x, y in zip(a, b, strict=True)]
    errors = sum(x["errors"] + x["skipped"] for x in a + b)
    complete = all(c["in_transition_log"] == c["responses_2xx"] == c["distinct"] for c in check.values())
    out: dict[str, Any] = {
        "backend": backend,
        "clients": clients,
        "http": side_summary(a),
        "in_process": side_summary(b),
        "ratio_http_over_in_process": {"throughput": spread(tps_ratio, 3), "p99": spread(p99_ratio, 3)},
        "logged": check,
        "errors": errors,
        "error_samples": [e for r in runs for side in r for e in side.tally.errors][:5],
        "rounds": [{"http": x, "in_process": y} for x, y in zip(a, b, strict=True)],
        "targets": {"no_errors": errors == 0, "every_2xx_logged": complete},
    }
    if (backend, clients) == ("sqlite", 8):
        out["targets"]["throughput_ratio_ge_0.5"] = statistics_median(tps_ratio) >= TARGET_TPS_RATIO
        out["targets"]["p99_ratio_le_3"] = statistics_median(p99_ratio) <= TARGET_P99_RATIO
    return out


def statistics_median(values: Sequence[float]) -> float:
    return spread(values, 6)["median"]


def side_summary(rounds: Sequence[dict[str, Any]]) -> dict[str, Any]:
    cpu = {k: spread([r[k] for r in rounds], 2) for k in rounds[0] if k.startswith("cpu_ms_per_step_")}
    return {
        "transitions_per_s": spread([r["transitions_per_s"] for r in rounds]),
        "p50_ms": spread([r["p50_ms"] for r in rounds], 2),
        "p99_ms": spread([r["p99_ms"] for r in rounds], 2),
        "errors": sum(r["errors"] for r in rounds),
        "skipped": sum(r["skipped"] for r in rounds),
        "load1": spread([r["load1"] for r in rounds], 2),
        **cpu,
    }


def print_round(r: int, key: tuple[str, int], a: Run, b: Run, http_first: bool) -> None:
    x, y = a.figures(), b.figures()
    order = "A,B" if http_first else "B,A"
    print(
        f"round {r + 1} {key[0]:10} {key[1]:3d} clients [{order}] "
        f"A http {x['transitions_per_s']:6.1f}/s p50 {x['p50_ms']:6.1f} p99 {x['p99_ms']:7.1f} ms "
        f"cpu/step {x['cpu_ms_per_step_server']:5.2f}+{x['cpu_ms_per_step_clients']:.2f} ms load {x['load1']:5.2f} | "
        f"B in-process {y['transitions_per_s']:6.1f}/s p50 {y['p50_ms']:6.1f} p99 {y['p99_ms']:7.1f} ms "
        f"cpu/step {y['cpu_ms_per_step_process']:5.2f} ms load {y['load1']:5.2f} | "
        f"A/B {x['transitions_per_s'] / y['transitions_per_s']:.2f} | errors {x['errors'] + y['errors']}",
        flush=True,
    )


def print_table(result: dict[str, Any]) -> None:
    print(f"\nworkload: {result['mix']}")
    print(
        f"steps per round: {result['steps_per_round']}; rounds {result['rounds']}; "
        f"Idempotency-Key sent: {result['idempotency_key']}"
    )
    print(
        f"\n{'back-end':10} {'cl':>3}  {'side':11} {'steps/s min/med/max':>22}  {'p50 ms':>7} {'p99 ms':>8}  "
        f"{'err':>3}  {'logged':>9}  {'cpu ms/step':>11}  A/B steps/s       A/B p99"
    )
    for c in result["configurations"]:
        for name, key in (("A http", "http"), ("B in-proc", "in_process")):
            s, t = c[key], c["logged"][key]
            tps = "{min:.0f}/{median:.0f}/{max:.0f}".format(**s["transitions_per_s"])
            cpu = "+".join(f"{v['median']:.2f}" for k, v in s.items() if k.startswith("cpu_ms_per_step_"))
            extra = ""
            if key == "http":
                ratio = c["ratio_http_over_in_process"]
                extra = "{median:.2f} ({min:.2f}-{max:.2f})".format(**ratio["throughput"])
                extra += "   {median:.2f}".format(**ratio["p99"])
            print(
                f"{c['backend']:10} {c['clients']:3d}  {name:11} {tps:>22}  {s['p50_ms']['median']:7.2f} "
                f"{s['p99_ms']['median']:8.2f}  {s['errors'] + s['skipped']:3d}  "
                f"{t['in_transition_log']:>4}/{t['responses_2xx']:<4}  {cpu:>11}  {extra}"
            )
    print(
        "(p50/p99/cpu: median over rounds; cpu: A server+clients, B the process; logged: 2xx responses whose "
        "record is in transition_log; A/B: median (min-max) of the rounds' paired ratios)\n"
    )
    for c in result["configurations"]:
        for name, ok in c["targets"].items():
            print(f"target {c['backend']}/{c['clients']} {name}: {'met' if ok else 'NOT met'}")
        for e in c["error_samples"]:
            print(f"  error: {e}")
    print(f"all targets: {'met' if result['targets_met'] else 'NOT met'}")
