"""Storage objects (Runloop's objects): uploaded bytes with a name, a type and a TTL."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class ObjectState(StrEnum):
    UPLOADING = "UPLOADING"
    READ_ONLY = "READ_ONLY"
    DELETED = "DELETED"
    ERROR = "ERROR"


class ContentType(StrEnum):
    UNSPECIFIED = "unspecified"
    TEXT = "text"
    BINARY = "binary"
    GZIP = "gzip"
    TAR = "tar"
    TGZ = "tgz"


class StorageObject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str = Field(min_length=1)
    content_type: ContentType
    state: ObjectState
    size_bytes: int | None = None
    sha256: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    create_time_ms: int
    delete_after_time_ms: int | None = None
