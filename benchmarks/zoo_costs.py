"""Costs of every zoo architecture: parameters, FLOPs, latency, throughput, size on disk.

FLOPs come from torch's own counter (``torch.utils.flop_counter.FlopCounterMode``, one
forward pass of one image; a multiply-add counts as 2). Latency is the median of 50
single-image forward passes; throughput is measured on batches of 256. Both run in
float32 and, where the CPU supports it natively, under bfloat16 autocast (as the
``cnn`` plugin does by default). Size: the model's float32 weights as written by
``ferengine.save`` (a zip of numpy arrays).

Accuracy needs training; ``benchmarks/zoo_accuracy.py`` measures it at an equal
training budget per architecture.

Usage: python benchmarks/zoo_costs.py [--arch NAME ...] [--threads 2] [--markdown]
"""

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from ferengine_deep.estimator import CNN, bf16_supported
from ferengine_deep.layers import network
from torch.utils.flop_counter import FlopCounterMode

import ferengine


def _fitted(arch: str, size: int) -> CNN:
    """A CNN estimator holding an untrained network (for size on disk only)."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (14, size, size), dtype=np.uint8)
    y = np.arange(14) % 7
    return CNN(module=arch, max_epochs=1, batch_size=14, validation_fraction=0.0,
               bf16=False).fit(X, y)  # fmt: skip


def _median_ms(net: torch.nn.Module, x: torch.Tensor, bf16: bool, repeats: int) -> float:
    times = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        net(x)  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            net(x)
            times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def measure(arch: str, threads: int) -> dict:
    """Return the costs of one architecture at its input size."""
    architecture = ferengine.registry.create("architecture", arch)
    size = architecture.native_size
    torch.manual_seed(0)
    net = network(architecture, 7, 1, size).eval().to(memory_format=torch.channels_last)
    one = torch.randint(0, 256, (1, 1, size, size), dtype=torch.uint8)
    batch = torch.randint(0, 256, (256, 1, size, size), dtype=torch.uint8)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        net(one)
    torch.set_num_threads(threads)
    row = {
        "arch": arch,
        "input": f"{size}×{size}",
        "parameters": sum(p.numel() for p in net.parameters()),
        "mflops": counter.get_total_flops() / 1e6,
    }
    for label, bf16 in (("fp32", False), ("bf16", True)):
        if bf16 and not bf16_supported():
            continue
        row[f"latency_ms_{label}"] = _median_ms(net, one, bf16, 50)
        row[f"images_per_s_{label}"] = 256 / (_median_ms(net, batch, bf16, 5) / 1000)
    with tempfile.TemporaryDirectory() as tmp:
        path = ferengine.save(_fitted(arch, size), Path(tmp) / "m.fer")
        row["size_mb"] = path.stat().st_size / 1e6
    return row


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", nargs="+", default=ferengine.registry.names("architecture"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{args.threads} threads, bf16 {bf16_supported()}")  # fmt: skip
    columns = ["arch", "input", "parameters", "mflops", "latency_ms_fp32", "latency_ms_bf16",
               "images_per_s_fp32", "images_per_s_bf16", "size_mb"]  # fmt: skip
    print("| " + " | ".join(columns) + " |")
    print("|" + " --- |" * len(columns))
    for arch in args.arch:
        row = measure(arch, args.threads)
        cells = [_cell(row.get(c, "–")) for c in columns]
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
