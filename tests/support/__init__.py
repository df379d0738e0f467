"""Test-support code: real conda packages, a local channel, real envs and an env checker."""
