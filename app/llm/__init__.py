"""Everything about calling Claude: the SDK adapter, error classification, backoff."""
