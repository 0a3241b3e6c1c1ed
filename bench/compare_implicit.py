"""Train benfred/implicit's ALS (CG) on exactly the data the Rust side used and
print both sides' figures with ratios.

  compare_implicit.py ml DUMP_DIR RUST_JSON [--repeat N]
      DUMP_DIR from `eval_ml100k --dump`; RUST_JSON its `--json` output.
  compare_implicit.py synthetic DUMP_DIR RUST_JSON [--repeat N]
      DUMP_DIR from `synthetic --dump`; RUST_JSON from `synthetic --load --json`.

implicit runs with 64 factors, 15 iterations, regularization 0.05, 3 CG
steps (its default), num_threads=2 (set OPENBLAS_NUM_THREADS=1 outside).
"""
import json
import resource
import statistics
import sys
import time

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.evaluation import ranking_metrics_at_k


def model():
    return AlternatingLeastSquares(
        factors=64, regularization=0.05, iterations=15, use_cg=True,
        calculate_training_loss=False, num_threads=2, random_state=42,
    )


def timed_fits(ui, repeat):
    times, m = [], None
    for _ in range(repeat):
        m = model()
        t = time.perf_counter()
        m.fit(ui, show_progress=False)
        times.append(time.perf_counter() - t)
    return m, times


def shape(d):
    return tuple(int(v) for v in open(f"{d}/meta.txt").read().split())


def ml(d, rust, repeat):
    nu, ni = shape(d)
    tr = np.loadtxt(f"{d}/train.tsv", dtype=np.float64, ndmin=2)
    te = np.loadtxt(f"{d}/test.tsv", dtype=np.int64, ndmin=2)
    train = sp.csr_matrix((tr[:, 2].astype(np.float32), (tr[:, 0].astype(np.int64), tr[:, 1].astype(np.int64))), shape=(nu, ni))
    test = sp.csr_matrix((np.ones(len(te), dtype=np.float32), (te[:, 0], te[:, 1])), shape=(nu, ni))
    m, times = timed_fits(train, repeat)
    met = ranking_metrics_at_k(m, train, test, K=10, show_progress=False, num_threads=2)
    imp_t, rust_t = statistics.median(times), rust["fit_median_s"]
    print(f"ML-100K {rust['split']} split, K=10, {train.nnz} train / {test.nnz} test interactions")
    print(f"  {'':<22}{'NDCG@10':>9}{'P@10':>9}{'MAP@10':>9}{'fit median s':>14}")
    print(f"  {'implicit 0.7.3 (CG)':<22}{met['ndcg']:>9.4f}{met['precision']:>9.4f}{met['map']:>9.4f}{imp_t:>14.3f}")
    r = rust["model"]
    print(f"  {'courserec (default)':<22}{r['ndcg']:>9.4f}{r['precision']:>9.4f}{r['map']:>9.4f}{rust_t:>14.3f}")
    p = rust["popularity"]
    print(f"  {'popularity':<22}{p['ndcg']:>9.4f}{p['precision']:>9.4f}{p['map']:>9.4f}")
    print(f"  fit time rust/implicit = {rust_t / imp_t:.2f}  (implicit runs: {', '.join(f'{t:.3f}' for t in times)})")


def synthetic(d, rust, repeat):
    nu, ni = shape(d)
    u = np.fromfile(f"{d}/users.u32", dtype="<u4").astype(np.int64)
    i = np.fromfile(f"{d}/items.u32", dtype="<u4").astype(np.int64)
    w = np.fromfile(f"{d}/weights.f32", dtype="<f4")
    ui = sp.csr_matrix((w, (u, i)), shape=(nu, ni))
    del u, i, w
    _, times = timed_fits(ui, repeat)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    imp_t, rust_t = statistics.median(times), rust["fit_median_s"]
    print(f"synthetic {nu} users x {ni} courses, {ui.nnz} interactions, 64 factors, 15 iterations")
    print(f"  {'':<22}{'fit median s':>14}{'peak RSS MiB':>14}")
    print(f"  {'implicit 0.7.3 (CG)':<22}{imp_t:>14.2f}{rss:>14.0f}")
    print(f"  {'courserec':<22}{rust_t:>14.2f}{rust['peak_rss_mib']:>14.0f}")
    print(f"  rust/implicit: time {rust_t / imp_t:.2f}, peak RSS {rust['peak_rss_mib'] / rss:.2f}")


if __name__ == "__main__":
    mode, d, rust_json = sys.argv[1:4]
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 3
    rust = json.load(open(rust_json))
    {"ml": ml, "synthetic": synthetic}[mode](d, rust, repeat)
