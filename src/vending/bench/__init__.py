"""`vending bench`: a load driver for a running service, speaking the seed protocol."""
