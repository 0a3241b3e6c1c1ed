#!/usr/bin/env python3
"""Trains implicit's ALS (0.7.3) on the file `courserec export-interactions`
writes, and writes the two factor files `courserec import-factors` reads.

    python3 examples/python/train_implicit.py interactions.parquet \\
        --users users.parquet --courses courses.parquet

Needs implicit==0.7.3, pandas and pyarrow (see "Training elsewhere" in the
README). The defaults are courserec's own `[train.model]`: 64 factors,
15 iterations, regularization 20. The `confidence` column already is
courserec's confidence c = 1 + alpha * f(weight), so implicit runs with
alpha = 1 and the objective is the same; rows with preference 0 (taken
without positive weight) are left out, as courserec leaves them out.
Rows marked `holdout` (what courserec's publishing gate will test on) are
left out too, so the gate's NDCG is honest; `--with-holdout` keeps them
(a slightly better model, but the gate then flatters it).
Factor files: `id` (string) and `factors` (list<float32>), one row per
learner or course.
"""

import argparse
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pandas as pd
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares


def read(path, with_holdout=False):
    """The exported interactions as a learner x course confidence matrix,
    with the ids of its rows and columns; rows the gate holds out are left
    out unless `with_holdout`."""
    meta = pq.read_metadata(path).metadata
    n_users = int(meta[b"courserec.n_users"])
    n_courses = int(meta[b"courserec.n_courses"])
    cols = ["user_id", "course_id", "user_index", "course_index", "confidence", "preference", "holdout"]
    df = pd.read_parquet(path, columns=cols)
    users = np.empty(n_users, dtype=object)
    users[df.user_index.to_numpy()] = df.user_id.to_numpy()
    courses = np.empty(n_courses, dtype=object)
    courses[df.course_index.to_numpy()] = df.course_id.to_numpy()
    pos = df[(df.preference == 1) & (with_holdout | ~df.holdout)]
    ui = sp.csr_matrix(
        (pos.confidence.to_numpy(np.float32), (pos.user_index.to_numpy(), pos.course_index.to_numpy())),
        shape=(n_users, n_courses),
    )
    return ui, users, courses, int(meta[b"courserec.event_seq"]), len(df)


def write(path, ids, factors):
    """One factor file; rows whose id is unknown (courses of the catalog
    without interactions) are left out: courserec derives theirs."""
    keep = np.array([i is not None for i in ids])
    values = np.ascontiguousarray(factors[keep], dtype=np.float32)
    k = values.shape[1]
    lists = pa.ListArray.from_arrays(
        pa.array(np.arange(0, values.size + 1, k, dtype=np.int32)), pa.array(values.ravel())
    )
    table = pa.table({"id": pa.array(list(ids[keep]), pa.string()), "factors": lists})
    pq.write_table(table, path)
    return len(table)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("interactions")
    p.add_argument("--users", required=True, help="learner factors to write")
    p.add_argument("--courses", required=True, help="course factors to write")
    p.add_argument("--factors", type=int, default=64)
    p.add_argument("--iterations", type=int, default=15)
    p.add_argument("--regularization", type=float, default=20.0)
    p.add_argument("--threads", type=int, default=0, help="0: all cores")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--with-holdout", action="store_true", help="also train on the gate's holdout rows")
    a = p.parse_args()

    t = time.perf_counter()
    ui, users, courses, seq, rows = read(a.interactions, a.with_holdout)
    read_s = time.perf_counter() - t
    model = AlternatingLeastSquares(
        factors=a.factors, regularization=a.regularization, iterations=a.iterations,
        alpha=1.0, use_cg=True, calculate_training_loss=False,
        num_threads=a.threads, random_state=a.seed,
    )
    t = time.perf_counter()
    model.fit(ui, show_progress=False)
    fit_s = time.perf_counter() - t
    nu = write(a.users, users, model.user_factors)
    nc = write(a.courses, courses, model.item_factors)
    print(
        f"{rows} rows (events up to #{seq}), {ui.shape[0]} learners x {ui.shape[1]} courses, "
        f"{ui.nnz} positive; read {read_s:.2f} s, fit {fit_s:.2f} s; "
        f"wrote {nu} learner and {nc} course factors ({a.factors} each)"
    )


if __name__ == "__main__":
    main()
