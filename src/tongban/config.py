"""Settings from the environment (TONGBAN_*), one object per process."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """A node's settings; every field can be set as TONGBAN_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="TONGBAN_", env_file=None, extra="ignore")

    database_url: str = "sqlite:///./var/tongban.db"
    # Where keys, blobs and other node-local files live.
    var_dir: Path = Path("./var")
    # 32-byte keys, base64url; generated into var_dir/keys.json when not given.
    data_key: str | None = None
    index_key: str | None = None
    session_days: int = 7
    # Region this node serves (GB/T 2260), and its display name.
    node_region: str = "510000"
    node_name: str = "tongban"
    # The address people and peer nodes reach this node at: it goes into licence QR codes
    # and status-list URIs, so set it before real licences are issued.
    public_url: str = "http://127.0.0.1:8000"
    # Uploads.
    max_upload_bytes: int = 20 * 1024 * 1024
    # Warnings: a yellow warning when this many working days are left.
    yellow_days_left: int = 1
    run_worker_in_process: bool = True


@lru_cache
def get_settings() -> Settings:
    """Read the settings once per process."""
    return Settings()
