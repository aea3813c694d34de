"""Workers: each claims requests from its queues and applies them in database transactions."""
