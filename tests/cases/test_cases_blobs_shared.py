"""Materials in a shared S3 store (a real SeaweedFS): uploaded through one machine's API,
downloaded through another's; a node's disk blobs move to S3 with one command, and a
material that went missing is named by `tongban blobs check`."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from tests.cases.conftest import PDF, PNG, World
from tests.s3 import S3Server
from tongban.app import create_app
from tongban.blobs.store import blob_store
from tongban.cli import app as cli
from tongban.config import Settings, get_settings


def _machine(world: World, s3: S3Server, var: Path, prefix: str) -> Settings:
    return world.settings.model_copy(update={"var_dir": var, **s3.settings(prefix)})


def test_a_material_uploaded_on_one_machine_downloads_on_another(
    world: World, engine: Engine, s3_server: S3Server, tmp_path: Path
) -> None:
    prefix = f"{engine.dialect.name}-api/"
    one = create_app(_machine(world, s3_server, tmp_path / "one", prefix), engine=engine)
    other = create_app(_machine(world, s3_server, tmp_path / "two", prefix), engine=engine)
    case = world.submit()
    world.db.commit()
    headers = world.token("applicant")
    with TestClient(one) as a, TestClient(other) as b:
        sent = a.post(f"/api/v1/cases/{case.number}/materials", headers=headers,
                      data={"material_code": "FORM"}, files={"file": ("f.png", PNG)})
        assert sent.status_code == 201, sent.text
        got = b.get(f"/api/v1/cases/{case.number}/materials/{sent.json()['id']}/content",
                    headers=headers)
    assert got.status_code == 200 and got.content == PNG
    assert not (tmp_path / "one" / "blobs").exists()  # nothing kept on machine one's disk


def test_a_nodes_disk_blobs_move_to_s3_with_one_command(
    world: World, engine: Engine, s3_server: S3Server, tmp_path: Path
) -> None:
    case = world.submit()
    world.upload(case, "FORM", data=PDF)
    world.upload(case, "ID", data=PNG)
    world.db.commit()
    local = Path(world.settings.var_dir) / "blobs"
    assert len(list(local.glob("*/*/*"))) == 2
    prefix = f"{engine.dialect.name}-move-{tmp_path.name}/"
    env = {"TONGBAN_DATABASE_URL": world.settings.database_url,
           "TONGBAN_VAR_DIR": str(world.settings.var_dir),
           "TONGBAN_DATA_KEY": str(world.settings.data_key),
           "TONGBAN_INDEX_KEY": str(world.settings.index_key), **s3_server.env(prefix)}
    runner = CliRunner()
    get_settings.cache_clear()
    try:
        moved = runner.invoke(cli, ["blobs", "migrate"], env=env)
        assert moved.exit_code == 0, moved.output
        assert "copied 2, already there 0, local copies removed 2" in moved.output
        assert list(local.glob("*/*/*")) == []
        again = runner.invoke(cli, ["blobs", "migrate"], env=env)
        assert "copied 0, already there 0, local copies removed 0" in again.output
        checked = runner.invoke(cli, ["blobs", "check"], env=env)
        assert checked.exit_code == 0 and "2 of 2 materials in the s3 store" in checked.output
        store = blob_store(_machine(world, s3_server, tmp_path, prefix))
        lost = next(iter(store.names()))
        store.delete(lost)
        broken = runner.invoke(cli, ["blobs", "check"], env=env)
        assert broken.exit_code == 1 and f"missing: {lost}" in broken.output
    finally:
        get_settings.cache_clear()


def test_a_corrupt_disk_blob_is_reported_and_not_moved(
    world: World, engine: Engine, s3_server: S3Server
) -> None:
    case = world.submit()
    world.upload(case, "FORM", data=PDF)
    world.db.commit()
    [path] = (Path(world.settings.var_dir) / "blobs").glob("*/*/*")
    path.write_bytes(b"%PDF-1.7 tampered")
    env = {"TONGBAN_VAR_DIR": str(world.settings.var_dir),
           "TONGBAN_DATABASE_URL": world.settings.database_url,
           **s3_server.env(f"{engine.dialect.name}-corrupt-{path.name[:8]}/")}
    get_settings.cache_clear()
    try:
        done = CliRunner().invoke(cli, ["blobs", "migrate"], env=env)
    finally:
        get_settings.cache_clear()
    assert done.exit_code == 1 and f"corrupt, not moved: blobs/{path.name}" in done.output
    assert path.exists()  # left where it was, for a person to look at
