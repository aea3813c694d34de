"""The FIFO queues between the gateway and the workers, and the notifications that come back."""
