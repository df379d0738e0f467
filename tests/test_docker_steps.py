"""The two Dockerfiles of docs/docker.md, step by step, on this machine without docker."""

from __future__ import annotations

from pathlib import Path

from .support.bare import bare_path, run_bare
from .support.verify import assert_env_runs

PLACEHOLDER_MARK = "_h_env_placehold"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "docker.md"


def test_docs_show_the_steps_tested_here():
    text = DOCS.read_text()
    assert "conda bundle -n app --dest-prefix /opt/app --format dir -o /opt/app" in text
    assert "COPY --from=builder /opt/app /opt/app" in text
    assert "tar -xzf /tmp/app.tar.gz -C /opt/app" in text
    assert "/opt/app/bin/conda-unpack --verify" in text


def test_dest_prefix_way(source_env, conda_process, tmp_path):
    app = tmp_path / "opt" / "app"
    app.parent.mkdir()
    # builder: conda bundle -n app --dest-prefix /opt/app --format dir -o /opt/app
    proc = conda_process(
        "bundle", "-p", source_env, "--dest-prefix", app, "--format", "dir", "-o", app
    )
    assert proc.returncode == 0, proc.stderr
    # runtime: COPY --from=builder /opt/app /opt/app (same path), then run with no conda
    assert_env_runs(app, forbidden=[str(source_env), PLACEHOLDER_MARK])


def test_unpack_script_way(source_env, conda_process, tmp_path):
    bare = bare_path(tmp_path / "bare-bin")
    bundle = tmp_path / "builder" / "app.tar.gz"
    bundle.parent.mkdir()
    # builder: conda bundle -n app -o /tmp/app.tar.gz
    proc = conda_process("bundle", "-p", source_env, "-o", bundle)
    assert proc.returncode == 0, proc.stderr
    # runtime: mkdir, tar -xzf, bin/conda-unpack --verify, rm: with sh, tar and gzip only
    app = tmp_path / "runtime" / "opt" / "app"
    steps = (
        f"mkdir -p '{app}' && tar -xzf '{bundle}' -C '{app}' && "
        f"'{app}/bin/conda-unpack' --verify && rm '{bundle}'"
    )
    proc = run_bare(["sh", "-c", steps], bare)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not bundle.exists()
    assert_env_runs(app, forbidden=[str(source_env), PLACEHOLDER_MARK])
