#!/usr/bin/env python3
"""Trains Spark MLlib's implicit ALS (pyspark.ml.recommendation.ALS, Spark
3.5) on the file `courserec export-interactions` writes, and writes the two
factor files `courserec import-factors` reads.

    python3 examples/python/train_spark.py interactions.parquet \\
        --users users.parquet --courses courses.parquet

Needs pyspark 3.5.x (and a Java 17 runtime), pandas and pyarrow; see
scripts/spark-roundtrip.sh, which installs them and runs the round trip.
The master defaults to `local[2]`; `--master` takes any other (the
interactions file must then be readable from the executors).

The rows read are the ones train_implicit.py reads: rows with preference 0
(taken without positive weight) are left out, as courserec leaves them out,
and so are the rows marked `holdout` (what courserec's publishing gate tests
on), so the gate's NDCG is honest; `--with-holdout` keeps them. Learner and
course indices are the export's `user_index` and `course_index`.

The objective, compared with courserec's `[train.model]`:

* Confidence. courserec minimises sum c_ui (p_ui - x_u.y_i)^2 over every
  cell, with c = 1 + alpha*f(w) on observed cells (the export's `confidence`
  column) and c = 1, p = 0 elsewhere. Spark's implicit ALS takes a rating r
  and uses c = 1 + alpha*|r|, with p = 1 when r > 0 (and p = 0 otherwise).
  Feeding `confidence` itself as r with alpha = 1 would give c = 1 +
  confidence, one more than courserec's. So the rating is `confidence - 1`
  (= alpha*f(w) of courserec, > 0 on every row with preference 1) with
  Spark's alpha = 1, which gives exactly c = confidence and p = 1.
  (implicit, in train_implicit.py, takes the matrix value as c itself, so
  there `confidence` goes in unchanged.)
* Regularization. courserec adds the same lambda (`regularization`, 20 by
  default) to every learner's and every course's normal equation. Spark
  always scales it per row ("ALS-WR"; see "Scaling of the regularization
  parameter" in Spark's collaborative filtering guide): a learner's
  equation gets regParam * n_u and a course's regParam * n_i, where n
  counts the row's ratings > 0, and there is no switch to turn that off.
  So no regParam reproduces courserec's objective. The default,
  `--reg-param` unset, is regParam = lambda / mean(n_u): the learner with
  the mean number of positive pairs gets courserec's lambda. Learners are
  most rows and the rows where lambda weighs most (a handful of positives
  each); the price is that a course, with many more learners than a
  learner has courses, is regularized more strongly than in courserec
  (lambda * n_i / mean(n_u), ~15x on the demo). The script prints both
  means and the regParam it used; `--reg-param` sets it directly.
* Solver. Spark solves each row exactly (Cholesky); courserec runs a few
  conjugate-gradient steps per row (`cg_steps`). Initial factors and seeds
  differ too, so the factors are not the same, only the objective (up to
  the regularization above).

On the demo platform this default scores well above courserec's own
training at the gate, because of the regularization, not of Spark: see
"Spark" in docs/training-elsewhere.md.

Factor files: `id` (string) and `factors` (list<float32>), one row per
learner or course Spark fitted. Learners and courses without a positive
pair outside the holdout get no row: courserec folds in such learners from
their interactions and derives such courses' factors itself.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def write(path, ids, factors, k):
    """One factor file from parallel arrays of ids and factor vectors."""
    values = np.ascontiguousarray(np.stack(factors), dtype=np.float32)
    assert values.shape[1] == k, f"factors of length {values.shape[1]}, expected {k}"
    lists = pa.ListArray.from_arrays(
        pa.array(np.arange(0, values.size + 1, k, dtype=np.int32)), pa.array(values.ravel())
    )
    table = pa.table({"id": pa.array(list(ids), pa.string()), "factors": lists})
    pq.write_table(table, path)
    return len(table)


def factors_with_ids(model_factors, ids):
    """Spark's (id = dense index, features) rows joined with the export's
    string ids, collected to the driver as two arrays."""
    df = model_factors.join(ids, model_factors.id == ids.index).select(ids.sid, model_factors.features).toPandas()
    return df.sid.to_numpy(), list(df.features)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("interactions")
    p.add_argument("--users", required=True, help="learner factors to write")
    p.add_argument("--courses", required=True, help="course factors to write")
    p.add_argument("--factors", type=int, default=64, help="rank")
    p.add_argument("--iterations", type=int, default=15, help="maxIter")
    p.add_argument("--regularization", type=float, default=20.0,
                   help="courserec's lambda, which the default regParam is derived from")
    p.add_argument("--reg-param", type=float, default=None,
                   help="Spark's regParam as is (default: regularization / mean positive pairs per learner)")
    p.add_argument("--master", default="local[2]")
    p.add_argument("--blocks", type=int, default=2, help="numUserBlocks and numItemBlocks")
    p.add_argument("--driver-memory", default="1g")
    p.add_argument("--checkpoint-interval", type=int, default=5,
                   help="iterations between checkpoints of the factors")
    p.add_argument("--checkpoint-dir", default=None,
                   help="where to checkpoint (default: a temporary local directory, removed after; "
                        "a cluster needs one its executors share)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--with-holdout", action="store_true", help="also train on the gate's holdout rows")
    a = p.parse_args()

    t_start = time.perf_counter()
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(a.master)
        .appName("courserec-train-spark")
        .config("spark.driver.memory", a.driver_memory)
        .config("spark.sql.shuffle.partitions", str(max(a.blocks, 2)))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    # Without a checkpoint directory ALS ignores checkpointInterval, and the
    # lineage of 15 iterations can overflow a task thread's stack when it is
    # deserialised (java.lang.StackOverflowError, seen here with local[2]).
    checkpoints = a.checkpoint_dir or tempfile.mkdtemp(prefix="courserec-als-")
    spark.sparkContext.setCheckpointDir(checkpoints)
    start_s = time.perf_counter() - t_start
    try:
        train(spark, a, start_s)
    finally:
        spark.stop()
        if a.checkpoint_dir is None:
            shutil.rmtree(checkpoints, ignore_errors=True)


def train(spark, a, start_s):
    """Reads the export, fits, writes the two factor files and prints the
    figures."""
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import functions as F

    t = time.perf_counter()
    path = os.path.abspath(a.interactions)
    raw = spark.read.parquet(path)
    keep = F.col("preference") == 1
    if not a.with_holdout:
        keep = keep & ~F.col("holdout")
    ratings = (
        raw.where(keep)
        .select(
            F.col("user_index").cast("int").alias("user"),
            F.col("course_index").cast("int").alias("item"),
            (F.col("confidence") - F.lit(1.0)).cast("float").alias("rating"),
        )
        .cache()
    )
    stats = ratings.agg(
        F.count("*").alias("n"),
        F.countDistinct("user").alias("users"),
        F.countDistinct("item").alias("items"),
        F.min("rating").alias("min_rating"),
    ).first()
    read_s = time.perf_counter() - t
    if stats.n == 0:
        sys.exit("no positive pairs outside the holdout: nothing to train on")
    if not stats.min_rating > 0:
        # courserec's confidence - 1 is alpha*f(w) > 0 whenever the preference is 1;
        # a zero here would silently become preference 0 in Spark.
        sys.exit(f"a positive pair has confidence - 1 = {stats.min_rating}, which Spark would read as preference 0")
    per_user = stats.n / stats.users
    per_item = stats.n / stats.items
    reg_param = a.reg_param if a.reg_param is not None else a.regularization / per_user

    als = ALS(
        rank=a.factors, maxIter=a.iterations, regParam=reg_param, alpha=1.0,
        implicitPrefs=True, nonnegative=False,
        userCol="user", itemCol="item", ratingCol="rating",
        numUserBlocks=a.blocks, numItemBlocks=a.blocks, seed=a.seed,
        checkpointInterval=a.checkpoint_interval,
    )
    t = time.perf_counter()
    # fit() returns once both factor sets are computed and materialised
    # (finalStorageLevel MEMORY_AND_DISK).
    model = als.fit(ratings)
    fit_s = time.perf_counter() - t

    t = time.perf_counter()
    user_ids = raw.select(F.col("user_index").cast("int").alias("index"), F.col("user_id").alias("sid")).distinct()
    course_ids = raw.select(F.col("course_index").cast("int").alias("index"), F.col("course_id").alias("sid")).distinct()
    users, user_factors = factors_with_ids(model.userFactors, user_ids)
    courses, course_factors = factors_with_ids(model.itemFactors, course_ids)
    nu = write(a.users, users, user_factors, a.factors)
    nc = write(a.courses, courses, course_factors, a.factors)
    write_s = time.perf_counter() - t

    print(
        f"{stats.n} positive pairs trained on ({stats.users} learners x {stats.items} courses; "
        f"{per_user:.1f} per learner, {per_item:.1f} per course); "
        f"regParam {reg_param:.4g} (courserec lambda {a.regularization:g}: Spark's per-row lambda is "
        f"{reg_param * per_user:.1f} for the mean learner, {reg_param * per_item:.1f} for the mean course)"
    )
    print(
        f"spark start {start_s:.2f} s, read {read_s:.2f} s, fit {fit_s:.2f} s "
        f"(rank {a.factors}, {a.iterations} iterations, {a.master}), write {write_s:.2f} s; "
        f"wrote {nu} learner and {nc} course factors"
    )
    print(f"fit_seconds={fit_s:.3f}")


if __name__ == "__main__":
    main()
