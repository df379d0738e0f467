"""Bundles where engines put them: extracted at a path nobody knows, with no unpack step.

Spark (``spark.archives``), YARN and Kubernetes jobs unpack a bundle with their own code
and run no ``conda-unpack``. Scripts find their python relative to themselves, zip bundles
hold copies where the environment has symlinks (bundling/launchers.py), and a real Spark
standalone cluster runs the settings docs/engines.md gives.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conda_envbundle.bundling.launchers import launched

from .support.cli import CondaProcess
from .support.isolation import Isolation
from .support.spark import Cluster, standalone_cluster
from .support.verify import assert_env_runs

FORMATS = ["tar.gz", "zip"]
MANIFEST = "conda-meta/envbundle/manifest.json"


@pytest.fixture(scope="module")
def engine_bundle(
    source_env: Path, conda_isolation: Isolation, tmp_path_factory
) -> Callable[[str], Path]:
    """``engine_bundle(fmt)``: the session's source env bundled in ``fmt``, made once."""
    out_dir = tmp_path_factory.mktemp("engine-bundles")
    made: dict[str, Path] = {}

    def get(fmt: str) -> Path:
        if fmt not in made:
            out = out_dir / f"env.{fmt}"
            proc = CondaProcess(conda_isolation.env)("bundle", "-p", source_env, "-o", out)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            made[fmt] = out
        return made[fmt]

    return get


def _extract(bundle: Path, target: Path) -> None:
    """What an engine does: its own extraction, no unpack step. For zip, Python's zipfile,
    which (like Java's, in Spark and Hadoop) writes a symlink member as a file holding its
    target; modes restored as Hadoop's unZip does."""
    target.mkdir(parents=True)
    if bundle.name.endswith(".zip"):
        with zipfile.ZipFile(bundle) as zf:
            for info in zf.infolist():
                zf.extract(info, target)
                mode = stat.S_IMODE(info.external_attr >> 16)
                if mode and not info.is_dir():
                    os.chmod(target / info.filename, mode)
    else:
        subprocess.run(["tar", "-xzf", bundle, "-C", target], check=True)


def _run(argv: list, cwd: Path, env: dict[str, str] | None = None) -> list[str]:
    """Run with nothing from this process's environment (``env -i``); its output lines."""
    proc = subprocess.run(
        argv, cwd=cwd, env=env or {}, capture_output=True, text=True, check=False, timeout=120
    )
    assert proc.returncode == 0, (argv, proc.stdout, proc.stderr)
    return proc.stdout.splitlines()


@pytest.mark.parametrize("fmt", FORMATS)
def test_scripts_run_where_extracted_with_no_unpack_step(fmt, engine_bundle, source_env, tmp_path):
    """conda's entry point (foopy) and pip's console script (barext) run their bundle's
    python from a long path with spaces: by absolute path with no PATH at all, by relative
    path, and through a symlink placed elsewhere, with a PATH that lacks the environment."""
    parent = tmp_path / "engine work dir" / ("long " * 30).strip()
    target = parent / "environment"
    _extract(engine_bundle(fmt), target)
    prefix = str(target)
    assert _run([target / "bin/foopy"], tmp_path) == [prefix, "foopy ok"]
    assert _run(["./environment/bin/barext"], parent, {"PATH": "/usr/bin:/bin"})[0] == prefix
    elsewhere = tmp_path / "links"
    elsewhere.mkdir()
    (elsewhere / "tool").symlink_to(target / "bin/foopy")
    (elsewhere / "relative-link").symlink_to(os.path.relpath(target / "bin/barext", elsewhere))
    assert _run([elsewhere / "tool"], tmp_path) == [prefix, "foopy ok"]
    assert os.path.realpath(_run(["./relative-link"], elsewhere)[0]) == prefix
    head = (target / "bin/foopy").read_bytes()[:200]
    assert str(source_env).encode() not in head and head.startswith(b"#!/bin/sh\n")


def test_zip_bundle_holds_copies_where_the_environment_has_symlinks(engine_bundle, source_env):
    """No symlink member that another unzip would turn into a text file; the manifest
    says the same as the archive (files), and their bytes are their targets'."""
    bundle = engine_bundle("zip")
    with zipfile.ZipFile(bundle) as zf:
        links = [i.filename for i in zf.infolist() if stat.S_ISLNK(i.external_attr >> 16)]
        manifest = json.loads(zf.read(MANIFEST))
        python = zf.read("bin/python")
    assert links == []
    assert (source_env / "bin/python").is_symlink()
    assert python == (source_env / "bin/python").read_bytes()
    kinds = {entry["path"]: entry["kind"] for entry in manifest["files"]}
    assert kinds["bin/python"] == "file"
    with tarfile.open(engine_bundle("tar.gz")) as tar:
        assert tar.getmember("bin/python").issym()


def test_conda_unbundle_of_a_zip_bundle_runs(engine_bundle, source_env, conda_process, tmp_path):
    """``conda unbundle`` of a zip bundle (files where the environment had links) gives an
    environment that runs, its records true; the launchers stay, as they work anywhere."""
    target = tmp_path / "unbundled"
    proc = conda_process("unbundle", engine_bundle("zip"), "-p", target)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not (target / "bin/python").is_symlink()
    assert (target / "bin/foopy").read_bytes().startswith(b"#!/bin/sh\n'''':")
    assert_env_runs(target, forbidden=[str(source_env)], ignore=["conda-meta/history"])


def test_info_lists_what_needs_the_unpack_step(engine_bundle, conda_process):
    """``--info`` names the files that hold the build path (binaries and text), and how to
    run ``bin/conda-unpack`` first; scripts with a launcher are not among them."""
    bundle = engine_bundle("tar.gz")
    proc = conda_process("unbundle", "--info", bundle)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "bin/conda-unpack" in proc.stdout
    assert "  bin/foo-config\n" in proc.stdout and "  bin/foo\n" in proc.stdout
    assert "  bin/barext\n" not in proc.stdout
    info = json.loads(conda_process("unbundle", "--info", "--json", bundle).stdout)
    assert "bin/unmanaged-tool" in info["needs_unpack"]
    assert "bin/barext" not in info["needs_unpack"]


OLD = "/build/env"
PRESENT = {"bin/python3.12", "bin/python", "bin/perl"}


@pytest.mark.parametrize(
    ("script", "path", "runs"),
    [
        (f"#!{OLD}/bin/python3.12\nimport sys\n", "bin/tool", "python3.12"),
        (f"#!{OLD}/bin/python -E\nimport sys\n", "bin/tool", "python -E"),
        (
            f"#!/bin/sh\n'''exec' \"{OLD}/bin/python3.12\" \"$0\" \"$@\" #'''\nx\n",
            "bin/t",
            "python3.12",
        ),
        (
            f"#!{OLD}/bin/python3.12\n# -*- coding: utf-8 -*-\nx\n",
            "share/x/t",
            "../../bin/python3.12",
        ),
    ],
)
def test_a_python_script_gets_a_launcher(script, path, runs):
    new = launched(script.encode(), OLD, path, PRESENT)
    assert new is not None
    assert new.startswith(b"#!/bin/sh\n'''':") and f'/{runs.split()[0]}"'.encode() in new
    assert OLD.encode() not in new
    assert new.endswith(b"x\n" if "x\n" in script else b"import sys\n")


@pytest.mark.parametrize(
    "script",
    [
        f"#!{OLD}/bin/perl\nprint 1;\n",  # not python: conda's rules apply at unbundle
        f"#!{OLD}/bin/python3.11\nx\n",  # not in the bundle
        "#!/elsewhere/bin/python3.12\nx\n",  # not the environment's
        f"#!{OLD}/bin/python -E -s\nx\n",  # Linux passes "-E -s" as one argument
        f"#!{OLD}/bin/python3.12\n# -*- coding: latin-1 -*-\nx\n",
        f"#!{OLD}/bin/../bin/python3.12\nx\n",
        "no shebang\n",
    ],
)
def test_other_scripts_keep_their_first_line(script):
    assert launched(script.encode(), OLD, "bin/tool", PRESENT) is None


def test_the_launcher_is_python_and_sh(tmp_path):
    """The same bytes compile as python (a string, then the script); sh runs the python
    beside the script with the script and its arguments, and never reads the rest."""
    new = launched(f"#!{OLD}/bin/python3.12\nimport sys\n".encode(), OLD, "bin/t", PRESENT)
    assert new is not None
    compile(new, "t", "exec")
    bin_dir = tmp_path / "a dir" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python3.12").write_text('#!/bin/sh\nprintf "%s|" "$@"\n')
    (bin_dir / "t").write_bytes(new)
    for script in ("python3.12", "t"):
        (bin_dir / script).chmod(0o755)
    proc = subprocess.run([bin_dir / "t", "x y", "-z"], capture_output=True, text=True, env={})
    assert (proc.returncode, proc.stdout) == (0, f"{bin_dir}/t|x y|-z|"), proc.stderr


# --------------------------------------------------------------------------------------------
# A real Spark standalone cluster (docs/engines.md, "Spark standalone").
# --------------------------------------------------------------------------------------------

JOB = '''\
"""Tasks that run the bundle's python, import what only the bundle has, run an entry point."""
import json
import sys

from pyspark import SparkContext


def probe(_):
    import os
    import subprocess
    import sys

    import foopy
    from barext._speedup import greeting

    entry_point = subprocess.run(["./environment/bin/foopy"], capture_output=True, text=True)
    return {
        "cwd": os.getcwd(),
        "prefix": sys.prefix,
        "foopy": foopy.__file__,
        "greeting": greeting(),
        "entry_point": [entry_point.returncode, entry_point.stdout, entry_point.stderr],
        "path": os.environ.get("PATH", ""),
    }


context = SparkContext(appName="conda-envbundle engine test")
try:
    found = context.parallelize(range(2), 2).map(probe).collect()
finally:
    context.stop()
with open(sys.argv[1], "w") as fh:
    json.dump(found, fh)
'''


@pytest.fixture(scope="module")
def spark(tmp_path_factory) -> Iterator[Cluster]:
    """One master and one worker for the module, every process stopped at the end."""
    with standalone_cluster(tmp_path_factory.mktemp("spark")) as cluster:
        yield cluster


def test_docs_show_the_settings_tested_here():
    text = (Path(__file__).resolve().parent.parent / "docs" / "engines.md").read_text()
    assert "--conf spark.archives=myenv.tar.gz#environment" in text
    assert "--conf spark.pyspark.python=./environment/bin/python" in text
    assert "conda bundle -n myenv --format tar.gz -o myenv.tar.gz" in text


@pytest.mark.parametrize("fmt", FORMATS)
def test_spark_tasks_run_the_bundle(fmt, spark, engine_bundle, source_env, tmp_path):
    """The settings of docs/engines.md: ``spark.archives=<bundle>#environment`` and
    ``spark.pyspark.python=./environment/bin/python``; no unpack step runs anywhere."""
    job, result = tmp_path / "job.py", tmp_path / "result.json"
    job.write_text(JOB)
    conf = {
        "spark.archives": f"{engine_bundle(fmt)}#environment",
        "spark.pyspark.python": "./environment/bin/python",
        # the driver: a python of the same version (PySpark checks), here the source env's
        "spark.pyspark.driver.python": str(source_env / "bin/python"),
        "spark.driver.memory": "512m",
        "spark.executor.memory": "512m",
        "spark.ui.enabled": "false",
    }
    proc = spark.submit(job, str(result), conf=conf)
    assert proc.returncode == 0, proc.stderr[-6000:] + spark.logs()
    tasks = json.loads(result.read_text())
    assert len(tasks) == 2
    for task in tasks:
        environment = os.path.join(task["cwd"], "environment")
        assert os.path.realpath(task["prefix"]) == os.path.realpath(environment)
        assert task["foopy"].startswith(task["prefix"] + "/")
        assert "environment" not in task["path"]
        code, out, err = task["entry_point"]
        assert code == 0, err
        assert out.splitlines() == [task["prefix"], "foopy ok"]
        assert task["greeting"]
        assert str(source_env) not in json.dumps(task)
