"""Settings from the environment (TONGBAN_*), one object per process."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

NODE_DB = Path("var/tongban.db")
DEMO_DB = Path("var/demo.db")  # what `tongban demo` (and so `make demo`) seeds


def default_database_url() -> str:
    """The node's SQLite file under ./var; where there is none but `make demo` has seeded
    its node, the demo node's, so the CLI of a fresh clone reads the demo data."""
    path = DEMO_DB if DEMO_DB.exists() and not NODE_DB.exists() else NODE_DB
    return f"sqlite:///./{path}"


class Settings(BaseSettings):
    """A node's settings; every field can be set as TONGBAN_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="TONGBAN_", env_file=None, extra="ignore")

    database_url: str = Field(default_factory=default_database_url)
    # Where keys, blobs and other node-local files live.
    var_dir: Path = Path("./var")
    # The node's keys (tongban.node.keyring): a key file made by `tongban keys init`, or
    # 32-byte keys, base64url, one setting each (a setting wins over the file). Without
    # them a development node makes its own into var_dir/keys.json; production refuses.
    key_file: Path | None = None
    data_key: str | None = None
    index_key: str | None = None
    csrf_key: str | None = None
    node_key: str | None = None
    # Production: the node's keys come from its configuration, never made up locally.
    production: bool = False
    # Where uploaded materials live (tongban.blobs.store): "disk" under var_dir (one
    # machine), or "s3": an S3-compatible bucket every machine of the node shares.
    blob_store: Literal["disk", "s3"] = "disk"
    s3_endpoint_url: str | None = None
    s3_bucket: str | None = None
    s3_prefix: str = ""
    s3_region: str = "us-east-1"
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
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
    # Rate limits (tongban.node.ratelimit; `limits` syntax): login per source address and
    # user name, login per source, public licence verification per source. The counts
    # live in `memory://` (one process) or `redis://host:port/db` (every process).
    rate_limit_storage: str = "memory://"
    rate_limit_login: str = "10/minute;50/hour"
    rate_limit_login_source: str = "60/minute"
    rate_limit_verify: str = "120/minute"
    # Logs of `tongban serve` and `tongban worker` (tongban.node.observe): JSON lines or text.
    log_format: Literal["json", "text"] = "json"
    log_level: str = "info"
    # Notifications (tongban.notify): the adapter of each external channel (registered in
    # the node's wiring), the SMTP server e-mail goes through (none: e-mail deliveries
    # fail, visibly, until one is set), and how many times a temporary failure is
    # retried (with backoff) before it is left to an operator.
    notify_email_adapter: str = "smtp"
    notify_sms_adapter: str = "log"
    notify_max_attempts: int = 8
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_sender: str = "tongban@localhost"
    smtp_timeout: float = 10.0
    # Whether `tongban serve` runs the worker in a thread: unset means on SQLite only.
    run_worker_in_process: bool | None = None
    # Worker threads of one API process that run request handlers at once (its other
    # requests wait their turn on the event loop). Python runs one thread at a time, so
    # beyond the few that cover database waits, more only fight over the interpreter
    # lock: with 16 requests in flight, 40 threads (anyio's default) cost a case
    # lifecycle 15-35% more CPU than 2-4 (bench/http_cases.py --api-threads). A long
    # request (a large upload, a sealed PDF) holds one of them while it runs. More
    # processes (`tongban serve --workers N`) are how a node uses more cores.
    api_threads: int = Field(default=4, ge=1, le=256)


@lru_cache
def get_settings() -> Settings:
    """Read the settings once per process."""
    return Settings()
