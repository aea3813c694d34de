"""Pure business rules: users, tokens, products, coins and change. No I/O happens here."""
