"""Getting email out: SMTP when configured, otherwise files in the local outbox folder."""
