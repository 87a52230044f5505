"""An experiment of many tiny pieces on a local Ray, then its report: how much the backend costs per piece.

The experiment: value iteration (``vi``) on ButtonRoomBridge0 for ``--pieces`` seeds, acting for one episode
and evaluated for one test episode; no per-run plots, no wandb. Each piece still writes a whole run directory
(config.toml, metrics.csv, summary.json, eval.json), so this measures scheduling, process reuse, file writes
and the contrast table and report over that many run directories, not planning.

Timed separately: starting Ray, running the pieces through :class:`~rlcredit.experiments.backends.RayBackend`
(``--ship auto`` writes in place on this machine; ``--ship always`` also measures shipping every run
directory back through the object store), and building the contrast table, figures and HTML report
(:func:`~rlcredit.experiments.runner.finish_experiment`). ``--chunk`` sets the planner pieces per Ray task
(default: the backend's choice, about eight tasks per CPU; ``--chunk 1`` is one task per piece).

Target: 1,000 pieces and the report in under a minute on two cores.

Run: ``python benchmarks/bench_ray_pieces.py [--pieces 1000] [--workers 2] [--ship auto|always] [--chunk N]``
"""

from __future__ import annotations

import argparse
import tempfile
import textwrap
import time
from pathlib import Path

SPEC = """
name = "ray-bench"
question = "How long do {n} tiny pieces take on a local Ray?"
seeds = {n}
run_plots = "none"
metrics = ["return", "success"]

[[envs]]
id = "rlcredit/ButtonRoomBridge0-v0"

[planners.vi]
episodes = 1

[eval]
episodes = 1
exact = false
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pieces", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--ship", choices=["auto", "always"], default="auto")
    ap.add_argument("--chunk", type=int, default=None, help="planner pieces per Ray task (default: auto)")
    args = ap.parse_args()

    import ray

    from rlcredit.experiments.backends import RayBackend
    from rlcredit.experiments.pieces import PieceResult, prepare_experiment
    from rlcredit.experiments.runner import finish_experiment
    from rlcredit.experiments.spec import expand_pieces, load_spec

    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        spec_file = Path(tmp) / "bench.toml"
        spec_file.write_text(textwrap.dedent(SPEC.format(n=args.pieces)))
        spec = load_spec(spec_file)
        exp_dir, spec, info = prepare_experiment(spec, Path(tmp) / "exp")
        pieces = expand_pieces(spec, exp_dir.resolve(), wandb="disabled", group=info["group"])

        t0 = time.perf_counter()
        # "local": a Ray of its own, even when another process on this machine runs one
        ray.init(address="local", num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
        t_init = time.perf_counter() - t0
        try:
            done = [0]

            def on_result(r: PieceResult) -> None:
                done[0] += r.status == "done"

            t0 = time.perf_counter()
            results = RayBackend(ship=args.ship, chunk=args.chunk).run(pieces, on_result)
            t_run = time.perf_counter() - t0
        finally:
            ray.shutdown()
        failed = [r for r in results if r.status != "done"]
        t0 = time.perf_counter()
        report = finish_experiment(exp_dir, spec, info, wandb="disabled", log=None)
        t_report = time.perf_counter() - t0

    total = t_init + t_run + t_report
    chunk = args.chunk or "auto"
    print(f"{len(pieces)} pieces on a local Ray with {args.workers} CPUs (ship={args.ship}, chunk={chunk})")
    print(f"  ray.init          {t_init:6.1f} s")
    print(
        f"  pieces            {t_run:6.1f} s   ({1000 * t_run / len(pieces):.1f} ms per piece, {done[0]} done)"
    )
    print(f"  contrast + report {t_report:6.1f} s   ({report.name if report else 'no report'})")
    print(f"  total             {total:6.1f} s   (target < 60 s)")
    if failed:
        print(f"  {len(failed)} FAILED, first: {failed[0].error}")


if __name__ == "__main__":
    main()
