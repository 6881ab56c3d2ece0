"""Paths that may be local folders or cluster storage URIs (`file://`, `hdfs://`, `s3a://`).

Local paths are handled with the standard library. A URI is handled through the Hadoop
FileSystem of the build's Spark session (py4j), so whatever storage the cluster can read — and
has the connector for — works for the input data and the work folder alike.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_uri(path: str | Path) -> bool:
    """True for `scheme://...` (cluster storage); False for a plain local path."""
    return isinstance(path, str) and bool(_SCHEME.match(path))


def join(base: str | Path, *parts: str) -> str | Path:
    """`base/part/...`, keeping a URI a string and a local path a Path."""
    if is_uri(base):
        return "/".join([str(base).rstrip("/"), *parts])
    return Path(base).joinpath(*parts)


def _hadoop(spark: "SparkSession", uri: str) -> tuple[Any, Any]:
    """(FileSystem, Path) of a URI in the session's JVM."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path


def exists(spark: "SparkSession | None", path: str | Path) -> bool:
    if not is_uri(path):
        return Path(path).exists()
    assert spark is not None, "a URI needs the Spark session"
    fs, hpath = _hadoop(spark, str(path))
    return bool(fs.exists(hpath))


def remove(spark: "SparkSession | None", path: str | Path) -> None:
    """Delete a file or folder tree if it is there."""
    if not is_uri(path):
        target = Path(path)
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        elif target.exists():
            target.unlink()
        return
    assert spark is not None, "a URI needs the Spark session"
    fs, hpath = _hadoop(spark, str(path))
    if fs.exists(hpath):
        fs.delete(hpath, True)


def rename(spark: "SparkSession | None", source: str | Path, target: str | Path) -> None:
    """Move `source` to `target` (same filesystem; the target must not exist)."""
    if not is_uri(source):
        Path(source).rename(target)
        return
    assert spark is not None, "a URI needs the Spark session"
    fs, src = _hadoop(spark, str(source))
    _, dst = _hadoop(spark, str(target))
    if not fs.rename(src, dst):
        raise OSError(f"could not rename {source} to {target}")


def write_text(spark: "SparkSession | None", path: str | Path, text: str) -> None:
    if not is_uri(path):
        Path(path).write_text(text, encoding="utf-8")
        return
    assert spark is not None, "a URI needs the Spark session"
    fs, hpath = _hadoop(spark, str(path))
    stream = fs.create(hpath, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()


def read_text(spark: "SparkSession | None", path: str | Path) -> str:
    if not is_uri(path):
        return Path(path).read_text(encoding="utf-8")
    assert spark is not None, "a URI needs the Spark session"
    return "\n".join(row.value for row in spark.read.text(str(path)).collect())


def status(spark: "SparkSession", uri: str) -> dict[str, Any]:
    """Length, modification time and (where the filesystem has one) checksum of a file URI."""
    fs, hpath = _hadoop(spark, uri)
    info = fs.getFileStatus(hpath)
    checksum = fs.getFileChecksum(hpath)
    return {
        "length": int(info.getLen()),
        "modified": int(info.getModificationTime()),
        "checksum": None if checksum is None else str(checksum.toString()),
    }


def copy_to_local(spark: "SparkSession", uri: str, local: Path) -> Path:
    """Copy one file from cluster storage to a local path (the small metadata files)."""
    fs, hpath = _hadoop(spark, uri)
    jvm = spark.sparkContext._jvm
    local.parent.mkdir(parents=True, exist_ok=True)
    fs.copyToLocalFile(False, hpath, jvm.org.apache.hadoop.fs.Path(str(local)), True)
    return local
