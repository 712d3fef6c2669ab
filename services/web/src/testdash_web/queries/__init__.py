"""Read-only queries behind the pages and the API; each answers in a fixed number of SQL queries."""
