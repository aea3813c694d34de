"""The REST API v1: JSON over HTTP with bearer tokens, through the same queues and workers."""
