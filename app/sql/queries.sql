-- api_key_authenticate --
-- The tenant owning an active key, found by the key's SHA-256 hex digest.
SELECT k.tenant_id, t.name AS tenant_name
FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
WHERE k.key_hash = :key_hash AND k.revoked_at IS NULL;

-- batch_insert --
-- A new batch; every request starts out processing.
INSERT INTO batches (id, tenant_id, mode, priority, callback_url, metadata,
                     request_count, processing_count)
VALUES (:id, :tenant_id, :mode, :priority, :callback_url, CAST(:metadata AS jsonb),
        :request_count, :request_count);

-- requests_insert_and_defer --
-- All request rows of a batch and one queue row each, set-based, in one statement.
-- Queue rows go through procrastinate's versioned defer function, so a procrastinate
-- upgrade that keeps procrastinate_defer_jobs_v1 keeps this working.
WITH new_requests AS (
    INSERT INTO requests (batch_id, position, custom_id, params, model, priority)
    SELECT :batch_id, r.position - 1, r.custom_id, r.params::jsonb,
           r.params::jsonb ->> 'model', r.priority
    FROM unnest(CAST(:custom_ids AS text[]), CAST(:params AS text[]),
                CAST(:priorities AS integer[]))
         WITH ORDINALITY AS r(custom_id, params, priority, position)
    RETURNING id, priority
)
SELECT cardinality(procrastinate_defer_jobs_v1(ARRAY(
    SELECT ROW(CAST(:queue AS varchar), CAST(:task AS varchar), n.priority, NULL, NULL,
               jsonb_build_object('request_id', n.id), NULL)::procrastinate_job_to_defer_v1
    FROM new_requests n
))) AS deferred;

-- batch_status_get --
-- One batch as its owner sees it.
SELECT * FROM batch_status_v1 WHERE id = :id AND tenant_id = :tenant_id;

-- batch_results --
-- Result lines of a finished batch in submission order (read in chunks by a server cursor).
SELECT custom_id, status, result::text AS result, error::text AS error
FROM requests
WHERE batch_id = :batch_id AND status IN ('succeeded', 'errored', 'canceled', 'expired')
ORDER BY position;

-- request_claim --
-- Start an attempt. 'running' is claimable too: procrastinate runs a job on one worker at a
-- time, so a running request seen here was left by a worker that died.
UPDATE requests r
SET status = 'running', attempts = r.attempts + 1, started_at = now()
FROM batches b
WHERE r.id = :request_id AND b.id = r.batch_id AND r.status IN ('queued', 'running')
RETURNING r.id, r.batch_id, b.tenant_id, r.attempts AS attempt, r.params;

-- llm_call_insert --
-- One provider call, priced at the price in effect when it started.
INSERT INTO llm_calls (request_id, batch_id, tenant_id, attempt, model, via_provider_batch,
                       started_at, latency_seconds, http_status, error_type,
                       provider_request_id, input_tokens, output_tokens,
                       cache_creation_5m_tokens, cache_creation_1h_tokens, cache_read_tokens,
                       cost)
VALUES (:request_id, :batch_id, :tenant_id, :attempt, :model, :via_provider_batch,
        :started_at, :latency_seconds, :http_status, :error_type,
        :provider_request_id, :input_tokens, :output_tokens,
        :cache_creation_5m_tokens, :cache_creation_1h_tokens, :cache_read_tokens,
        batchmill_call_cost_v1(:model, :started_at, :input_tokens, :output_tokens,
                               :cache_creation_5m_tokens, :cache_creation_1h_tokens,
                               :cache_read_tokens, :via_provider_batch))
RETURNING cost;

-- request_finish --
-- Record the terminal outcome of attempt :attempt, and count it on the batch, which ends in
-- this same statement when this was its last open request. The guard on status and attempt
-- makes a stale or repeated attempt a no-op: a request finishes exactly once.
WITH finished AS (
    UPDATE requests
    SET status = :status, result = CAST(:result AS jsonb), error = CAST(:error AS jsonb),
        input_tokens = :input_tokens, output_tokens = :output_tokens,
        cache_creation_input_tokens = :cache_creation_input_tokens,
        cache_read_input_tokens = :cache_read_input_tokens,
        cost = :cost, finished_at = now()
    WHERE id = :request_id AND status = 'running' AND attempts = :attempt
    RETURNING batch_id, status
)
UPDATE batches b
SET processing_count = b.processing_count - 1,
    succeeded_count = b.succeeded_count + (f.status = 'succeeded')::int,
    errored_count = b.errored_count + (f.status = 'errored')::int,
    ended_at = CASE WHEN b.processing_count = 1 THEN now() ELSE b.ended_at END
FROM finished f
WHERE b.id = f.batch_id
RETURNING b.id AS batch_id, b.ended_at IS NOT NULL AS batch_ended;

-- request_requeue --
-- Put attempt :attempt back in the queue to run again at :run_at (a retry after backoff).
WITH requeued AS (
    UPDATE requests SET status = 'queued'
    WHERE id = :request_id AND status = 'running' AND attempts = :attempt
    RETURNING id, priority
)
SELECT cardinality(procrastinate_defer_jobs_v1(ARRAY(
    SELECT ROW(CAST(:queue AS varchar), CAST(:task AS varchar), q.priority, NULL, NULL,
               jsonb_build_object('request_id', q.id), CAST(:run_at AS timestamptz))::procrastinate_job_to_defer_v1
    FROM requeued q
))) AS deferred;

-- batch_usage --
-- Provider calls, tokens and cost of one batch, from llm_calls (the truth for spend).
SELECT count(*) AS calls,
       coalesce(sum(input_tokens), 0) AS input_tokens,
       coalesce(sum(output_tokens), 0) AS output_tokens,
       coalesce(sum(cache_creation_5m_tokens + cache_creation_1h_tokens), 0) AS cache_write_tokens,
       coalesce(sum(cache_read_tokens), 0) AS cache_read_tokens,
       sum(cost) AS cost,
       count(*) FILTER (WHERE cost IS NULL) AS unpriced_calls
FROM llm_calls
WHERE batch_id = :batch_id;
