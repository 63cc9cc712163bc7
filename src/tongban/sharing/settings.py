"""Sharing limits (TONGBAN_SHARING_*)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class SharingSettings(BaseSettings):
    """Limits of imports and grants; every field can be set as TONGBAN_SHARING_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="TONGBAN_SHARING_", extra="ignore")

    # Registry feeds are larger than case uploads.
    max_import_bytes: int = 200 * 1024 * 1024


LIMITS = SharingSettings()
