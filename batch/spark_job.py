"""The batch scorer on Apache Spark: the columnar core of the CLI, one partition at a time.

    python -m batch.spark_job INPUT OUTPUT [--errors ERRORS] [--master local[*]]
    spark-submit --py-files code.zip batch/spark_job.py s3a://bucket/in/ s3a://bucket/out/

INPUT is CSV (with a header row) or Parquet, at any path Spark reads (a file or a folder,
local, s3a://, gs://). OUTPUT gets one Parquet row per input row, the CLI's columns
(binary: row, prediction, probability, model_version; the answer null for a rejected
row; batch/columnar.py gives each task's); ERRORS (default OUTPUT-rejected)
gets (row, field, message) for each refusal, the API's messages. Rows are numbered in
Spark's read order, which is the file's for one file. The model bundle and this code go to
the executors with the job; each executor checks the bundle's SHA-256 before use and loads
it once per Python worker process. Exit status as the CLI's, and 4 if Spark cannot start.
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import os
import re
import shutil
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Iterator

import pyarrow as pa

from batch.columnar import configured_bundle, predictions_schema
from batch.files import (
    FORMATS,
    InputError,
    OutputError,
    clashing_pair,
    format_of,
    same_file,
)
from bundle.format import BundleError
from bundle.paths import ROOT
from bundle.store import load_bundle

PROGRAM = "batch spark"
CODE_PACKAGES = ("batch", "bundle")
ID = "_score_id"  # Spark's monotonically increasing id: partition << 33 | index
LOCAL_BITS = 33
# After the predictions' columns, in each line mapInArrow returns: a refusal's.
REFUSAL = [pa.field("field", pa.string()), pa.field("message", pa.string())]
SPARK_ERROR = re.compile(r"(\w+(?:\.\w+)*(?:Error|Exception)): (.+)")
SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
GLOB = re.compile(r"[*?\[{]")

# Per Python worker process: the scorer of each shipped bundle, loaded once.
_SCORERS: dict[str, object] = {}
# On the driver: what was sent to the executors of which application, and from where.
_SHIPPED: dict = {}


class SparkUnavailable(RuntimeError):
    """Spark cannot start here (no Java)."""


def java_check() -> None:
    """Spark needs a JVM: say so in one line rather than with a Py4J trace."""
    home = os.environ.get("JAVA_HOME")
    if home and Path(home, "bin", "java").is_file():
        return
    if shutil.which("java") is None:
        raise SparkUnavailable(
            "Spark needs Java 17 or later: no `java` on PATH and JAVA_HOME is not set"
        )


def session(master: str | None, app: str = "batch-score"):
    """A SparkSession; a local one by default, listening on 127.0.0.1 only."""
    java_check()
    # mapInArrow needs no pandas; pyspark warns about pandas >= 3 all the same.
    warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas")
    from pyspark.sql import SparkSession

    # Executors run this interpreter (the venv's), unless told otherwise.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app).config(
        "spark.ui.showConsoleProgress", "false"
    )
    # Under spark-submit (which starts the JVM first) the master is spark-submit's.
    if master or "PYSPARK_GATEWAY_PORT" not in os.environ:
        master = master or "local[*]"
        builder = builder.master(master)
    if (master or "local").startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = (
            builder.config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "4")
        )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def staging() -> Path:
    """This driver process's folder of files shipped to the executors."""
    if "folder" not in _SHIPPED:
        folder = Path(tempfile.mkdtemp(prefix="batch-spark-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _SHIPPED["folder"] = folder
    return _SHIPPED["folder"]


def ship_code(spark) -> None:
    """The scoring packages as a zip on every executor's path (like --py-files)."""
    key = ("code", spark.sparkContext.applicationId)
    if key in _SHIPPED:
        return
    archive = staging() / "batch_score_code.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for package in CODE_PACKAGES:
            for path in sorted((ROOT / package).glob("*.py")):
                zf.write(path, f"{package}/{path.name}")
    spark.sparkContext.addPyFile(str(archive))
    _SHIPPED[key] = archive


def bundle_name(model) -> str:
    """The name executors find the bundle by: unique to its files and place, so two
    bundles never collide in one Spark application and the same one is sent once."""
    where = hashlib.sha256(str(model.path.resolve()).encode()).hexdigest()[:8]
    return f"bundle-{model.sha256[:12]}-{where}"


def stage_bundle(model) -> Path:
    """A copy of the bundle's folder under its shipping name."""
    staged = staging() / bundle_name(model)
    if not staged.exists():
        shutil.copytree(model.path, staged)
    return staged


def ship_bundle(spark, model) -> str:
    """Send the bundle to the executors (once per application); return its name."""
    name = bundle_name(model)
    key = (name, spark.sparkContext.applicationId)
    if key not in _SHIPPED:
        spark.sparkContext.addFile(str(stage_bundle(model)), recursive=True)
        _SHIPPED[key] = name
    return name


def scorer_for(name: str):
    """The shipped bundle `name`, verified and loaded once in this worker process."""
    if name not in _SCORERS:
        from pyspark import SparkFiles

        from batch.columnar import ColumnarScorer

        _SCORERS[name] = ColumnarScorer(load_bundle(Path(SparkFiles.get(name))))
    return _SCORERS[name]


def line_schema(predictions: pa.Schema) -> pa.Schema:
    """The one schema of the lines mapInArrow returns: a prediction's, a refusal's."""
    return pa.schema(list(predictions) + REFUSAL)


def output_batches(scored) -> Iterator[pa.RecordBatch]:
    """The core's two outputs as rows of the one schema mapInArrow returns: a
    prediction line per row (no field), then a line per refusal (no prediction)."""
    p, r = scored.predictions, scored.rejected
    schema = line_schema(p.schema)
    text = pa.nulls(p.num_rows, pa.string())
    yield pa.record_batch(list(p.columns) + [text, text], schema=schema)
    if r.num_rows:
        answer = [pa.nulls(r.num_rows, f.type) for f in list(p.schema)[1:]]
        columns = [r.column("row"), *answer, r.column("field"), r.column("message")]
        yield pa.record_batch(columns, schema=schema)


def scorer_function(name: str, offsets: dict[int, int]):
    """The function mapInArrow runs on each partition's Arrow batches."""

    def score_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        scorer = scorer_for(name)
        for batch in batches:
            if not batch.num_rows:
                continue
            first_id = batch.column(ID)[0].as_py()
            partition, index = divmod(first_id, 1 << LOCAL_BITS)
            first_row = offsets[partition] + index + 1
            yield from output_batches(scorer.score(batch, first_row))

    return score_partition


def read_input(spark, source: str, fmt: str):
    """The input as a DataFrame; CSV cells as text, as the CLI reads them."""
    reader = spark.read
    if fmt == "parquet":
        return reader.parquet(source)
    return reader.option("header", True).option("inferSchema", False).csv(source)


def row_offsets(frame) -> tuple[dict[int, int], int]:
    """Rows before each partition (so rows are numbered 1.. in read order), and all."""
    from pyspark.sql import functions as F

    counts = frame.groupBy(F.spark_partition_id().alias("p")).count().collect()
    offsets, total = {}, 0
    for p, count in sorted((r["p"], r["count"]) for r in counts):
        offsets[p], total = total, total + count
    return offsets, total


def score(spark, model, source: str, fmt: str, output: str, errors: str) -> tuple:
    """Score `source` into Parquet at `output` and `errors`: (rows, rejected rows)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    frame = read_input(spark, source, fmt)
    lacking = [n for n in model.metadata.feature_names if n not in frame.columns]
    if lacking:
        raise InputError(f"the input lacks the feature column(s) {', '.join(lacking)}")
    features = frame.select(*model.metadata.feature_names)
    frame = features.withColumn(ID, F.monotonically_increasing_id())
    ship_code(spark)
    name = ship_bundle(spark, model)
    offsets, rows = row_offsets(frame)
    schema = from_arrow_schema(line_schema(predictions_schema(model.metadata.target)))
    lines = frame.mapInArrow(scorer_function(name, offsets), schema)
    lines = lines.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        predictions = lines.where(F.col("field").isNull()).drop("field", "message")
        rejected = lines.where(F.col("field").isNotNull())
        predictions.write.mode("overwrite").parquet(output)
        rejected.select("row", "field", "message").write.mode("overwrite").parquet(
            errors
        )
        return rows, rejected.select("row").distinct().count()
    finally:
        lines.unpersist()


def failure(exc: BaseException) -> tuple[str, bool]:
    """(one line saying why a Spark job failed, whether the bundle failed its checks).

    A task's Python error comes wrapped in Java traces: its own last line is the one."""
    text = f"{exc}\n{getattr(exc, 'java_exception', '')}"
    found = SPARK_ERROR.findall(text)
    bundle = [message for kind, message in found if kind.endswith("BundleError")]
    if bundle:
        return bundle[-1], True
    python = [f"{k.split('.')[-1]}: {m}" for k, m in found if "." not in k]
    if python:
        return python[-1], False
    return (text.strip().splitlines() or [type(exc).__name__])[0], False


def location(path: str) -> str:
    """Where a Spark path points, comparable: a glob's folder, a local path resolved
    (symlinks, `..`), a URI (s3a://, hdfs://) without trailing slashes."""
    static = GLOB.split(path, 1)[0]
    if static != path:  # data/*.csv, data/part-{1,2}: the folder holding the pattern
        head, slash, _ = static.rpartition("/")
        static = (head or "/") if slash else "."
    scheme = SCHEME.match(static)
    if scheme and scheme.group(1).lower() != "file":
        return static.rstrip("/")
    local = static[scheme.end() :] if scheme else static
    return os.path.realpath(local)


def overlap(a: str, b: str) -> bool:
    """Whether two paths are one place, or one is inside the other."""
    x, y = location(a), location(b)
    inside = x.startswith(y.rstrip("/") + "/") or y.startswith(x.rstrip("/") + "/")
    local = not (SCHEME.match(a) or SCHEME.match(b))
    return x == y or inside or (local and same_file(Path(x), Path(y)))


def check_apart(paths: dict[str, str]) -> None:
    """OutputError, before Spark starts, if an output is the input, the other output, or
    inside or around one of them: Spark's overwrite deletes the folder it writes."""
    pair = clashing_pair(paths, overlap)
    if pair:
        name, path, other, other_path = pair
        raise OutputError(
            f"the {name} {path} and the {other} {other_path} are one place or "
            f"one holds the other: writing the {other} would delete the {name}"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m batch.spark_job", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "input", help="CSV or Parquet: a file or a folder, any Spark path"
    )
    parser.add_argument("output", help="Parquet folder of predictions")
    parser.add_argument("--errors", help="Parquet folder of rejected rows")
    parser.add_argument("--input-format", choices=FORMATS, help="default: by extension")
    parser.add_argument("--master", help="Spark master (default local[*])")
    parser.add_argument(
        "--model-dir", type=Path, help="model bundle (default: MODEL_DIR)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the Spark job; the exit status says whether every row was scored."""
    args = parse_args(argv)
    errors = args.errors or args.output.rstrip("/") + "-rejected"
    fmt = format_of(Path(args.input), args.input_format)
    try:
        check_apart({"input": args.input, "output": args.output, "errors": errors})
    except OutputError as exc:
        print(f"{PROGRAM}: {exc}", file=sys.stderr)
        return 2
    try:
        model = configured_bundle(args.model_dir)
    except BundleError as exc:
        print(f"{PROGRAM}: cannot load the model: {exc}", file=sys.stderr)
        return 3
    try:
        spark = session(args.master)
    except SparkUnavailable as exc:
        print(f"{PROGRAM}: {exc}", file=sys.stderr)
        return 4
    try:
        rows, invalid = score(spark, model, args.input, fmt, args.output, errors)
    except InputError as exc:
        print(f"{PROGRAM}: {args.input}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # Py4J and Spark analysis errors carry Java traces
        message, bundle = failure(exc)
        print(f"{PROGRAM}: {args.input}: {message}", file=sys.stderr)
        return 3 if bundle else 2
    finally:
        spark.stop()
    print(
        f"scored {rows - invalid} of {rows} rows into {args.output}"
        + (f"; {invalid} invalid row(s) in {errors}" if invalid else ""),
        file=sys.stderr,
    )
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main())
