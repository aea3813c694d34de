"""The gateway: HTTP and WebSocket front end, with the user worker (sessions, request ids,
statuses coming back from the workers)."""
