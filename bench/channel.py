"""Index a local channel directory: the test support's indexer, as conda-index would do it."""

from tests.support.channel import SUBDIRS, write_repodata

__all__ = ["SUBDIRS", "write_repodata"]
