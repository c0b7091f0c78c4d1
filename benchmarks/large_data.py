"""Cost growth with data size: memory-mapped synthetic 96×96 faces (issue 17).

The measurement behind issue 17's "Data larger than memory" target.

For each N (default 10k, 30k, 100k, 300k images; ``synthetic`` with 10 images per
subject and expression, so N is rounded to a multiple of 70), four steps, each in a
fresh Python process so that its peak resident memory (``ru_maxrss``) is its own:

``build``
    render the dataset straight into the memory-mapped dataset cache
    (``load_dataset("synthetic", ..., memmap=True)``); when the cache is already there
    (from another run), the time to find it is recorded instead, marked "cached".
``load``
    open the cached dataset, then read every image once in batches of 4,096 (a scan).
``fit``
    ``hog(cell=24, block=2) → svm-linear(C=0.1)`` on a stratified 80/20 holdout of the
    dataset: fit on the training subset and predict the test subset, both read from the
    memory map a batch at a time; accuracy on the test subset (images of one subject fall
    on both sides, so it is not a subject-independent figure).
``bench``
    ``ferengine bench`` over a 2-worker Dask ``LocalCluster`` (``--backend dask --jobs 2
    --scheduler ADDRESS``) on the same holdout: two hog settings (``cell=24, block=2``
    and ``cell=16, block=1``) × ``svm-linear(C=0.1)``, so both workers extract and both
    classify. The workers open the dataset cache themselves (the suite names it by
    parameters and ``cache_dir``); no image array is sent to them. Peak RSS of each
    worker comes from ``client.run(getrusage)`` before the cluster closes, that of the
    ``ferengine bench`` client from ``RUSAGE_CHILDREN`` of the step process.

Why ``cell=24, block=2`` and ``cell=16, block=1`` (324 values per image each) rather
than hog's defaults (8×8 cells, 2×2 blocks: 4,356 values at 96×96): ``svm-linear`` is
liblinear, which copies its training matrix to float64 and then to its own sparse rows
(16 bytes a value), about 28 bytes per value with the float32 features. At 240,000
training images the default descriptor would need 4.2 GB for the float32 features
alone and about 29 GB in all; 324 values need about 2.2 GB.

Results are stored one JSON file per (N, step) in ``--out``; a rerun does only the
missing steps (``--redo STEP`` repeats one; ``--redo build`` deletes the cached dataset
first, so that a build is measured), then prints the table (markdown) of
everything stored.

Usage: python benchmarks/large_data.py [--sizes 10000 30000 ...] [--steps build load fit bench]
       [--cache DIR] [--out DIR] [--redo STEP ...]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

SIZES = (10_000, 30_000, 100_000, 300_000)
STEPS = ("build", "load", "fit", "bench")
PER_EXPRESSION = 10
SIZE = 96
TEST_SIZE = 0.2
FEATURE = {"name": "hog", "params": {"cell": 24, "block": 2}}
BENCH_FEATURES = (FEATURE, {"name": "hog", "params": {"cell": 16, "block": 1}})
CLASSIFIER = {"name": "svm-linear", "params": {"C": 0.1}}
SCAN_BATCH = 4096
ROOT = Path(__file__).resolve().parent


def dataset_params(n: int, cache: Path) -> dict:
    """``synthetic`` parameters for about ``n`` images, memory-mapped from ``cache``."""
    subjects = max(1, round(n / (7 * PER_EXPRESSION)))
    return {"n_subjects": subjects, "per_expression": PER_EXPRESSION, "size": SIZE, "seed": 0,
            "memmap": True, "cache_dir": str(cache)}  # fmt: skip


def peak_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident memory in MiB (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(who).ru_maxrss / 1024


# steps, each run in its own process -------------------------------------------------
def step_build(n: int, cache: Path, out: Path) -> dict:
    """Render into the dataset cache (or find it built)."""
    from ferengine import registry
    from ferengine.datacache import dataset_key

    plugin = registry.create("dataset", "synthetic", **dataset_params(n, cache))
    folder = cache / "datasets" / "synthetic" / dataset_key(plugin)
    built = not folder.is_dir()
    start = time.perf_counter()
    ds = plugin.load()
    seconds = time.perf_counter() - start
    return {"images": len(ds), "built": built, "seconds": seconds,
            "file_mb": ds.images.nbytes / 2**20, "peak_rss_mb": peak_mb()}  # fmt: skip


def step_load(n: int, cache: Path, out: Path) -> dict:
    """Open the cached dataset and scan every image once."""
    from ferengine import registry

    plugin = registry.create("dataset", "synthetic", **dataset_params(n, cache))  # finds plugins
    start = time.perf_counter()
    ds = plugin.load()
    opened = time.perf_counter() - start
    assert ds.memmapped, "the dataset should come from the cache"
    start = time.perf_counter()
    brightest = 0
    for i in range(0, len(ds), SCAN_BATCH):
        brightest = max(brightest, int(ds.images[i : i + SCAN_BATCH].max()))
    scan = time.perf_counter() - start
    assert brightest > 0, "every image read as black"
    return {"images": len(ds), "open_seconds": opened, "scan_seconds": scan,
            "peak_rss_mb": peak_mb()}  # fmt: skip


def step_fit(n: int, cache: Path, out: Path) -> dict:
    """hog → svm-linear on a stratified holdout, fitted and predicted from the memory map."""
    import numpy as np

    import ferengine
    from ferengine import splits

    ds = ferengine.load_dataset("synthetic", **dataset_params(n, cache))
    (train, test), *_ = splits.holdout(ds, TEST_SIZE, seed=0)
    pipe = ferengine.pipeline(FEATURE, CLASSIFIER)
    start = time.perf_counter()
    pipe.fit(ds.subset(train))
    fit = time.perf_counter() - start
    start = time.perf_counter()
    predicted = pipe.predict(ds.subset(test))
    predict = time.perf_counter() - start
    return {"images": len(ds), "n_train": len(train), "n_test": len(test),
            "fit_seconds": fit, "predict_seconds": predict,
            "accuracy": float(np.mean(predicted == ds.labels[test])),
            "peak_rss_mb": peak_mb()}  # fmt: skip


SUITE = """\
name = "large-data-{n}"
description = "hog → svm-linear, {n} memory-mapped synthetic 96×96 images (large_data.py)."
seed = 0

[datasets.synthetic]
name = "synthetic"
params = {params}

[protocol]
kind = "holdout"
test_size = {test_size}

[preprocess]
none = []

{features}
[[classifiers]]
name = "{classifier}"
params = {classifier_params}
"""


def _toml_table(params: dict) -> str:
    return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in params.items()) + " }"


def step_bench(n: int, cache: Path, out: Path) -> dict:
    """``ferengine bench`` over a 2-worker Dask cluster started here."""
    from dask.distributed import Client, LocalCluster

    folder = out / f"bench-{n}"
    shutil.rmtree(folder, ignore_errors=True)  # a fresh run: its feature cache included
    folder.mkdir(parents=True)
    features = "".join(
        f'[[features]]\nname = "{f["name"]}"\nparams = {_toml_table(f["params"])}\n\n'
        for f in BENCH_FEATURES
    )
    suite = folder / "suite.toml"
    suite.write_text(SUITE.format(
        n=n, params=_toml_table(dataset_params(n, cache)), test_size=TEST_SIZE,
        features=features, classifier=CLASSIFIER["name"],
        classifier_params=_toml_table(CLASSIFIER["params"]),
    ))  # fmt: skip
    ferengine_cli = Path(sys.executable).with_name("ferengine")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:  # fmt: skip
        start = time.perf_counter()
        run = subprocess.run(
            [str(ferengine_cli), "bench", str(suite), "--out", str(folder / "run"),
             "--backend", "dask", "--jobs", "2", "--scheduler", cluster.scheduler_address],
            capture_output=True, text=True,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        client_mb = peak_mb(resource.RUSAGE_CHILDREN)  # workers are not reaped yet: the CLI
        workers = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    (folder / "bench.log").write_text(run.stdout + run.stderr)
    if run.returncode:
        raise RuntimeError(f"ferengine bench failed ({run.returncode}): {run.stderr[-2000:]}")
    records = [json.loads(p.read_text()) for p in sorted((folder / "run" / "runs").glob("*.json"))]
    failed = [r for r in records if r.get("status") != "ok"]
    if failed or not records:
        raise RuntimeError(f"bench records failed or missing: {failed[:1]}")
    return {"images": records[0]["n_train"] + len(records[0]["y_true"]),
            "seconds": seconds, "tasks": len(records),
            "accuracy": {r["pipeline"]: r["accuracy"] for r in records},
            "task_peak_rss_mb": max(r["peak_rss_mb"] for r in records),
            "worker_peak_rss_mb": sorted(workers.values()), "client_peak_rss_mb": client_mb,
            "scheduler_process_peak_rss_mb": peak_mb()}  # fmt: skip


def drop_cache(n: int, cache: Path) -> None:
    """Delete the cached dataset of size ``n``, if any."""
    from ferengine import registry
    from ferengine.datacache import dataset_key

    plugin = registry.create("dataset", "synthetic", **dataset_params(n, cache))
    shutil.rmtree(cache / "datasets" / "synthetic" / dataset_key(plugin), ignore_errors=True)


STEP_FUNCTIONS = {"build": step_build, "load": step_load, "fit": step_fit, "bench": step_bench}


# orchestration ------------------------------------------------------------------------
def run_step(step: str, n: int, cache: Path, out: Path) -> dict:
    """Run one step in a fresh process and store its result."""
    start = time.perf_counter()
    child = subprocess.run(
        [sys.executable, __file__, "--child", step, "--sizes", str(n),
         "--cache", str(cache), "--out", str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    if child.returncode:
        raise RuntimeError(f"step {step} N={n} failed:\n{child.stderr[-3000:]}")
    result = json.loads(child.stdout.strip().splitlines()[-1])
    date = time.strftime("%Y-%m-%d", time.gmtime())
    result.update(step=step, n=n, wall_seconds=time.perf_counter() - start, date=date,
                  machine=platform.node())  # fmt: skip
    (out / f"{n}-{step}.json").write_text(json.dumps(result, indent=1))
    return result


def table(out: Path, sizes: list[int]) -> str:
    """Markdown table of every stored result for ``sizes``."""

    def get(n: int, step: str) -> dict:
        path = out / f"{n}-{step}.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def fmt(value: object, spec: str = ".1f") -> str:
        return "–" if value in (None, "") else format(value, spec)

    lines = [
        "| N | build s | build MiB | open s | scan s | load MiB | fit s | predict s | accuracy "
        "| fit MiB | bench s | bench accuracy | worker MiB | client MiB |",
        "| ---: " * 14 + "|",
    ]
    for n in sizes:
        b, lo, f, be = (get(n, s) for s in STEPS)
        images = b.get("images") or lo.get("images") or f.get("images") or n
        acc = be.get("accuracy") or {}
        lines.append(
            f"| {images:,} | {fmt(b.get('seconds'))}{'' if b.get('built', True) else ' cached'} "
            f"| {fmt(b.get('peak_rss_mb'), '.0f')} "
            f"| {fmt(lo.get('open_seconds'), '.2f')} | {fmt(lo.get('scan_seconds'))} "
            f"| {fmt(lo.get('peak_rss_mb'), '.0f')} | {fmt(f.get('fit_seconds'))} "
            f"| {fmt(f.get('predict_seconds'))} | {fmt(f.get('accuracy'), '.3f')} "
            f"| {fmt(f.get('peak_rss_mb'), '.0f')} | {fmt(be.get('seconds'))} "
            f"| {' / '.join(format(a, '.3f') for a in acc.values()) or '–'} "
            f"| {' / '.join(format(m, '.0f') for m in be.get('worker_peak_rss_mb', [])) or '–'} "
            f"| {fmt(be.get('client_peak_rss_mb'), '.0f')} |"
        )
    return "\n".join(lines)


def main() -> None:
    from ferengine.datacache import cache_root

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS))
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="dataset cache folder [default: $FERENGINE_CACHE or the user cache]",
    )
    parser.add_argument("--out", type=Path, default=Path("bench-results/large-data"))
    parser.add_argument(
        "--redo",
        nargs="+",
        choices=STEPS,
        default=[],
        help="run these steps again even when stored",
    )
    parser.add_argument("--child", choices=STEPS, help=argparse.SUPPRESS)
    args = parser.parse_args()  # fmt: skip
    cache = cache_root(args.cache)
    out = args.out.resolve()
    if args.child:
        print(json.dumps(STEP_FUNCTIONS[args.child](args.sizes[0], cache, out)))
        return
    out.mkdir(parents=True, exist_ok=True)
    print(f"dataset cache: {cache}; results: {out}", flush=True)
    for n in args.sizes:
        for step in args.steps:
            if (out / f"{n}-{step}.json").is_file() and step not in args.redo:
                continue
            if step == "build" and step in args.redo:
                drop_cache(n, cache)  # measure a build, not a hit
            print(f"N={n:,} {step} ...", flush=True)
            result = run_step(step, n, cache, out)
            shown = {k: v for k, v in result.items() if k not in ("date", "machine", "step", "n")}
            print(f"  {json.dumps(shown)}", flush=True)
    print(table(out, args.sizes))


if __name__ == "__main__":
    main()
