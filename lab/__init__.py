"""CodeSight domain and engines. Imports neither web nor workers."""
