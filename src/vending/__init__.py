"""A vending machine service built like a serverless system.

A gateway accepts requests over HTTP and WebSocket, commits each one to a FIFO queue and
answers with a request id; workers apply the requests to the data they own and store a
status, which travels back to the user's session.
"""

__version__ = "0.1.0"
