"""Tables and transactions: the database adapters, the schema migrations and the SQL."""
