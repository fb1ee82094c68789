"""The worker: a procrastinate App (its composition root) and the task that runs requests."""
