#!/usr/bin/env python3
"""scikit-learn reference for the cllm-void k-NN benchmark.

k = 10 nearest neighbours (self excluded, so k + 1 = 11 queried) of every one of the
100,000 16-D points written by `cargo bench -p cllm-void --bench void_bench -- knn_all`
(tensor `points` of /tmp/cllm_void_knn_100k_16d.safetensors, or the path given as argv[1]).

Times build + query of sklearn.neighbors.KDTree (single-threaded, as KDTree is), and of
NearestNeighbors(algorithm="kd_tree", n_jobs=2) (two workers, like the Rust run on 2 cores).
Reports the best of `--repeat` runs.
"""
import argparse
import os
import platform
import time

import numpy as np
import sklearn
from safetensors.numpy import load_file
from sklearn.neighbors import KDTree, NearestNeighbors


def best_of(fn, repeat):
    """Best wall time and the CPU time (all threads of this process) of that run."""
    runs = []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        runs.append((time.perf_counter() - t, time.process_time() - c))
    return min(runs), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("path", nargs="?", default="/tmp/cllm_void_knn_100k_16d.safetensors")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--leaf-size", type=int, default=40)
    ap.add_argument("--skip-parallel", action="store_true", help="only the single-threaded KDTree")
    ap.add_argument("--queries", type=int, default=0,
                    help="query only the first N points (tree still built on all) and also print the "
                         "query time scaled to all points; 0 = query all")
    args = ap.parse_args()

    x = load_file(args.path)["points"]
    print(f"data: {x.shape} {x.dtype} from {args.path}")
    print(f"python {platform.python_version()}, numpy {np.__version__}, scikit-learn {sklearn.__version__}, "
          f"{os.cpu_count()} cpus")
    x64 = x.astype(np.float64)  # KDTree works in float64

    def kdtree():
        tree = KDTree(x64, leaf_size=args.leaf_size)
        return tree.query(x64, k=args.k + 1)

    if args.queries:
        q = x64[: args.queries]
        tb = time.perf_counter()
        tree = KDTree(x64, leaf_size=args.leaf_size)
        build = time.perf_counter() - tb
        (t, c), (dist, _) = best_of(lambda: tree.query(q, k=args.k + 1), args.repeat)
        scale = len(x64) / len(q)
        print(f"KDTree build {build:.3f} s; query of {len(q)} points: wall {t:.3f} s, cpu {c:.3f} s; "
              f"scaled to {len(x64)} queries + build: wall {build + t * scale:.1f} s, cpu ~{build + c * scale:.1f} s")
        print(f"mean distance to 10th neighbour (subset): {dist[:, args.k].mean():.6f}")
        return

    (t, c), (dist, ind) = best_of(kdtree, args.repeat)
    print(f"KDTree(leaf_size={args.leaf_size}) build+query k={args.k}, 1 thread: wall {t:.3f} s, cpu {c:.3f} s",
          flush=True)
    print(f"mean distance to 10th neighbour: {dist[:, args.k].mean():.6f}", flush=True)
    if args.skip_parallel:
        return

    def nn2():
        nn = NearestNeighbors(n_neighbors=args.k + 1, algorithm="kd_tree", n_jobs=2).fit(x64)
        return nn.kneighbors(x64)

    (t2, c2), _ = best_of(nn2, args.repeat)
    print(f"NearestNeighbors(kd_tree, n_jobs=2) build+query k={args.k}: wall {t2:.3f} s, cpu {c2:.3f} s")


if __name__ == "__main__":
    main()
