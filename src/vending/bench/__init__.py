"""`vending bench`: a load driver for a running service, over the seed protocol or the REST API."""
