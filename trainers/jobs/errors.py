"""The one exception the job machinery lets escape: it names the job, host or file and what went wrong."""

from __future__ import annotations


class JobError(Exception):
    """A job could not be started, followed, stopped or fetched; the message says where and why."""


class HostUnreachable(JobError):
    """The SSH host did not answer. The remote job is untouched; the next poll tries again."""
