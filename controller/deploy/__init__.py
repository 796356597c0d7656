"""`fleet deploy`, `resume` and `rollback` on one host, and push source."""
