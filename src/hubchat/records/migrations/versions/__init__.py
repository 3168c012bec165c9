"""The records' schema revisions, oldest first by number."""
