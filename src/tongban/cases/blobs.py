"""Uploaded materials are kept in the node's blob store (tongban.blobs.store); the case
engine's names for it."""

from tongban.blobs.store import (
    ALLOWED_TYPES,
    BlobStore,
    DiskBlobStore,
    StoredBlob,
    blob_store,
    check_upload,
    disk_store,
    sniff,
)

__all__ = ["ALLOWED_TYPES", "BlobStore", "DiskBlobStore", "StoredBlob", "blob_store",
           "check_upload", "disk_store", "sniff"]
