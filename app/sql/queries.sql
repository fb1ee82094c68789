-- api_key_authenticate --
-- The tenant owning an active key, found by the key's SHA-256 hex digest.
SELECT k.tenant_id, t.name AS tenant_name, k.admin
FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
WHERE k.key_hash = :key_hash AND k.revoked_at IS NULL;

-- batch_insert --
-- A new batch. Requests whose params were rejected at submission are errored from the start;
-- a batch with none left to process has ended.
INSERT INTO batches (id, tenant_id, mode, priority, callback_url, metadata, request_count,
                     processing_count, errored_count, ended_at, expires_at)
VALUES (:id, :tenant_id, :mode, :priority, :callback_url, CAST(:metadata AS jsonb),
        :request_count, :processing_count,
        CAST(:request_count AS integer) - CAST(:processing_count AS integer),
        CASE WHEN CAST(:processing_count AS integer) = 0 THEN now() END,
        now() + make_interval(secs => :expires_in));

-- requests_insert_and_defer --
-- All request rows of a batch and (with :defer) a queue row for each one to process,
-- set-based, in one statement. A request with an :errors entry is errored at once and never
-- queued. Queue rows go through procrastinate's versioned defer function, so a procrastinate
-- upgrade that keeps procrastinate_defer_jobs_v1 keeps this working.
WITH new_requests AS (
    INSERT INTO requests (batch_id, position, custom_id, params, model, priority, status,
                          error, finished_at)
    SELECT :batch_id, r.position - 1, r.custom_id, r.params::jsonb,
           r.params::jsonb ->> 'model', r.priority,
           CASE WHEN r.error IS NULL THEN 'queued' ELSE 'errored' END,
           r.error::jsonb,
           CASE WHEN r.error IS NOT NULL THEN now() END
    FROM unnest(CAST(:custom_ids AS text[]), CAST(:params AS text[]),
                CAST(:priorities AS integer[]), CAST(:errors AS text[]))
         WITH ORDINALITY AS r(custom_id, params, priority, error, position)
    RETURNING id, priority, position, status
)
SELECT cardinality(procrastinate_defer_jobs_v1(ARRAY(
    SELECT ROW(CAST(:queue AS varchar), CAST(:task AS varchar),
               batchmill_job_priority_v1(n.priority, n.position), NULL, NULL,
               jsonb_build_object('request_id', n.id, 'batch_id', CAST(:batch_id AS text)),
               NULL)::procrastinate_job_to_defer_v1
    FROM new_requests n
    WHERE n.status = 'queued' AND CAST(:defer AS boolean)
))) AS deferred;

-- batch_status_get --
-- One batch as its owner sees it.
SELECT * FROM batch_status_v2 WHERE id = :id AND tenant_id = :tenant_id;

-- batches_page_older --
-- A page of a tenant's batches, newest first, older than :after_id (from the newest if NULL).
SELECT * FROM batch_status_v2
WHERE tenant_id = :tenant_id AND (CAST(:after_id AS text) IS NULL OR id < :after_id)
ORDER BY id DESC
LIMIT :limit;

-- batches_page_newer --
-- The page of a tenant's batches just newer than :before_id, oldest first (callers reverse it).
SELECT * FROM batch_status_v2
WHERE tenant_id = :tenant_id AND id > :before_id
ORDER BY id ASC
LIMIT :limit;

-- batch_lock --
-- Lock a tenant's batch row for a state change; serialises with the workers' counters.
SELECT id, ended_at FROM batches WHERE id = :id AND tenant_id = :tenant_id FOR UPDATE;

-- batch_cancel --
-- Cancel every queued request of a locked batch at once and drop its pending queue rows;
-- running requests finish. The batch is canceling until nothing runs, then ended.
WITH canceled AS (
    UPDATE requests SET status = 'canceled', finished_at = now()
    WHERE batch_id = :id AND status = 'queued'
    RETURNING id
), dropped_jobs AS (
    DELETE FROM procrastinate_jobs
    WHERE status = 'todo' AND args ->> 'batch_id' = CAST(:id AS text)
)
UPDATE batches b
SET cancel_initiated_at = coalesce(b.cancel_initiated_at, now()),
    canceled_count = b.canceled_count + n.count,
    processing_count = b.processing_count - n.count,
    ended_at = CASE WHEN b.processing_count = n.count THEN now() ELSE b.ended_at END
FROM (SELECT count(*)::int AS count FROM canceled) n
WHERE b.id = :id
RETURNING n.count AS canceled;

-- batch_delete --
-- Delete an ended batch with its requests; its llm_calls stay (spend is history).
DELETE FROM batches WHERE id = :id AND tenant_id = :tenant_id AND ended_at IS NOT NULL
RETURNING id;

-- batch_results --
-- Result lines of a finished batch in submission order (read in chunks by a server cursor).
SELECT custom_id, status, result::text AS result, error::text AS error
FROM requests
WHERE batch_id = :batch_id AND status IN ('succeeded', 'errored', 'canceled', 'expired')
ORDER BY position;

-- request_claim --
-- Start an attempt, and log its provider call before it goes out (so a call whose worker
-- dies stays visible). 'running' is claimable too: procrastinate runs a job on one worker at
-- a time, so a running request seen here was left by a worker that died. Nothing starts once
-- the batch has expired (the expiry job will end it).
WITH claimed AS (
    UPDATE requests r
    SET status = 'running', attempts = r.attempts + 1, started_at = now()
    FROM batches b
    WHERE r.id = :request_id AND b.id = r.batch_id AND r.status IN ('queued', 'running')
      AND b.expires_at > now()
    RETURNING r.id, r.batch_id, b.tenant_id, r.attempts AS attempt, r.params, r.model,
              r.queued_at
), call AS (
    INSERT INTO llm_calls (request_id, batch_id, tenant_id, attempt, model, started_at)
    SELECT id, batch_id, tenant_id, attempt, model, now() FROM claimed
)
SELECT c.id, c.batch_id, c.tenant_id, c.attempt, c.params, c.queued_at,
       t.monthly_budget_usd IS NOT NULL AS budgeted
FROM claimed c JOIN tenants t ON t.id = c.tenant_id;

-- llm_call_record --
-- Complete the logged call of an attempt, priced at the price in effect when it started, and
-- add its cost to its batch's cost so far.
WITH call AS (
    UPDATE llm_calls
    SET model = :model, via_provider_batch = :via_provider_batch, started_at = :started_at,
        finished_at = now(), latency_seconds = :latency_seconds, http_status = :http_status,
        error_type = :error_type, provider_request_id = :provider_request_id,
        input_tokens = :input_tokens, output_tokens = :output_tokens,
        cache_creation_5m_tokens = :cache_creation_5m_tokens,
        cache_creation_1h_tokens = :cache_creation_1h_tokens,
        cache_read_tokens = :cache_read_tokens,
        cost = batchmill_call_cost_v1(:model, :started_at, :input_tokens, :output_tokens,
                                      :cache_creation_5m_tokens, :cache_creation_1h_tokens,
                                      :cache_read_tokens, :via_provider_batch)
    WHERE request_id = :request_id AND attempt = :attempt
    RETURNING cost, batch_id
), counted AS (
    UPDATE batches b SET cost = b.cost + call.cost
    FROM call WHERE b.id = call.batch_id AND call.cost IS NOT NULL
)
SELECT cost FROM call;

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

-- request_return --
-- Put attempt :attempt of a running request back in the queue, to run at :run_at (NULL: now):
-- a retry after backoff (its call is already recorded), an attempt interrupted by shutdown
-- (its call is marked interrupted: it may have reached, and cost at, the provider), or, with
-- :refund_attempt, one the rate limiter held back (no call was made: the attempt and its
-- call row are taken back).
WITH returned AS (
    UPDATE requests
    SET status = 'queued',
        attempts = attempts - CASE WHEN :refund_attempt THEN 1 ELSE 0 END
    WHERE id = :request_id AND status = 'running' AND attempts = :attempt
    RETURNING id, batch_id, priority, position
), refunded_call AS (
    DELETE FROM llm_calls
    WHERE :refund_attempt AND request_id = :request_id AND attempt = :attempt
      AND EXISTS (SELECT FROM returned)
), interrupted_call AS (
    UPDATE llm_calls SET error_type = 'interrupted', finished_at = now()
    WHERE NOT :refund_attempt AND request_id = :request_id AND attempt = :attempt
      AND finished_at IS NULL
)
SELECT cardinality(procrastinate_defer_jobs_v1(ARRAY(
    SELECT ROW(CAST(:queue AS varchar), CAST(:task AS varchar),
               batchmill_job_priority_v1(r.priority, r.position), NULL, NULL,
               jsonb_build_object('request_id', r.id, 'batch_id', r.batch_id),
               CAST(:run_at AS timestamptz))::procrastinate_job_to_defer_v1
    FROM returned r
))) AS deferred;

-- batches_expire --
-- End up to :limit batches past expires_at: every unfinished request (queued, or running —
-- a late answer is then a no-op) becomes expired and pending queue rows are dropped.
WITH due AS (
    SELECT id FROM batches
    WHERE ended_at IS NULL AND expires_at <= now()
    ORDER BY expires_at
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
), expired AS (
    UPDATE requests r SET status = 'expired', finished_at = now()
    FROM due
    WHERE r.batch_id = due.id AND r.status IN ('queued', 'running')
    RETURNING r.batch_id
), dropped_jobs AS (
    DELETE FROM procrastinate_jobs j USING due
    WHERE j.status = 'todo' AND j.args ->> 'batch_id' = due.id
)
UPDATE batches b
SET expired_count = b.expired_count + c.count,
    processing_count = b.processing_count - c.count,
    ended_at = now()
FROM (SELECT batch_id, count(*)::int AS count FROM expired GROUP BY batch_id) c
WHERE b.id = c.batch_id
RETURNING b.id, c.count AS expired;

-- batches_archive --
-- Archive up to :limit ended batches created before :before: prompts, outputs and errors
-- are removed; counts, usage and cost stay for reporting.
WITH due AS (
    SELECT id FROM batches
    WHERE archived_at IS NULL AND ended_at IS NOT NULL AND created_at < :before
    ORDER BY created_at
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
), scrubbed AS (
    UPDATE requests r SET params = NULL, result = NULL, error = NULL
    FROM due WHERE r.batch_id = due.id
)
UPDATE batches b SET archived_at = now()
FROM due WHERE b.id = due.id
RETURNING b.id;

-- rate_acquire --
-- Take capacity for one call from the fleet-wide buckets; 0 if taken, else seconds to wait.
-- limited: whether the model has buckets at all (without, workers may skip asking for a while).
SELECT batchmill_rate_acquire_v1(:scope, :model, :input_tokens, :output_tokens) AS wait,
       EXISTS (SELECT FROM rate_limits WHERE scope = :scope AND model = :model) AS limited;

-- rate_settle --
-- Give back what a call's estimate over-took (or take what it under-took).
UPDATE rate_limits
SET input_available = input_available + :input_refund,
    output_available = output_available + :output_refund
WHERE scope = :scope AND model = :model;

-- rate_learn --
-- Correct a model's buckets from the provider's anthropic-ratelimit-* headers (its limits,
-- and what it says remains, brought up to now first), and on a 429 pause the model for
-- every worker until retry-after. Creates the row when the provider reveals a limit.
INSERT INTO rate_limits AS b (scope, model, rpm, itpm, otpm, requests_available,
                              input_available, output_available, source, paused_until,
                              throttled)
VALUES (:scope, :model, :rpm, :itpm, :otpm,
        coalesce(:requests_remaining, :rpm, 0), coalesce(:input_remaining, :itpm, 0),
        coalesce(:output_remaining, :otpm, 0), 'learned',
        now() + make_interval(secs => CAST(:pause_seconds AS double precision)),
        CASE WHEN :throttled THEN 1 ELSE 0 END)
ON CONFLICT (scope, model) DO UPDATE
SET rpm = coalesce(EXCLUDED.rpm, b.rpm),
    itpm = coalesce(EXCLUDED.itpm, b.itpm),
    otpm = coalesce(EXCLUDED.otpm, b.otpm),
    requests_available = least(
        coalesce(EXCLUDED.rpm, b.rpm),
        b.requests_available + b.rpm * extract(epoch FROM clock_timestamp() - b.refilled_at) / 60,
        coalesce(CAST(:requests_remaining AS double precision), 'Infinity')),
    input_available = least(
        coalesce(EXCLUDED.itpm, b.itpm),
        b.input_available + b.itpm * extract(epoch FROM clock_timestamp() - b.refilled_at) / 60,
        coalesce(CAST(:input_remaining AS double precision), 'Infinity')),
    output_available = least(
        coalesce(EXCLUDED.otpm, b.otpm),
        b.output_available + b.otpm * extract(epoch FROM clock_timestamp() - b.refilled_at) / 60,
        coalesce(CAST(:output_remaining AS double precision), 'Infinity')),
    refilled_at = clock_timestamp(),
    paused_until = greatest(b.paused_until, EXCLUDED.paused_until),
    throttled = b.throttled + EXCLUDED.throttled;

-- rate_limit_set --
-- Configure a model's limits under a provider key (a full bucket to start with).
INSERT INTO rate_limits (scope, model, rpm, itpm, otpm, requests_available, input_available,
                         output_available, source)
VALUES (:scope, :model, :rpm, :itpm, :otpm, coalesce(:rpm, 0), coalesce(:itpm, 0),
        coalesce(:otpm, 0), 'config')
ON CONFLICT (scope, model) DO UPDATE
SET rpm = EXCLUDED.rpm, itpm = EXCLUDED.itpm, otpm = EXCLUDED.otpm, source = 'config',
    requests_available = least(rate_limits.requests_available, EXCLUDED.requests_available),
    input_available = least(rate_limits.input_available, EXCLUDED.input_available),
    output_available = least(rate_limits.output_available, EXCLUDED.output_available);

-- rate_limits_list --
-- Every bucket as of now.
SELECT * FROM rate_limit_status_v1 ORDER BY scope, model;

-- report_cost_by_day --
-- Spend per UTC day since :since_day (one tenant's, or all if NULL). Same figures as
-- cost_daily_v1, aggregated straight from llm_calls by the one key asked for: a hash
-- aggregate over an index range instead of sorting every (day, tenant, model) group.
SELECT (date_trunc('day', started_at AT TIME ZONE 'UTC'))::date AS key,
       count(*) AS calls, coalesce(sum(input_tokens), 0) AS input_tokens,
       coalesce(sum(output_tokens), 0) AS output_tokens,
       coalesce(sum(cache_creation_5m_tokens + cache_creation_1h_tokens), 0) AS cache_write_tokens,
       coalesce(sum(cache_read_tokens), 0) AS cache_read_tokens,
       coalesce(sum(cost), 0) AS cost,
       count(*) FILTER (WHERE cost IS NULL AND finished_at IS NOT NULL) AS unpriced_calls
FROM llm_calls
WHERE started_at >= CAST(:since_day AS date)::timestamp AT TIME ZONE 'UTC'
  AND (CAST(:tenant_id AS bigint) IS NULL OR tenant_id = :tenant_id)
GROUP BY (date_trunc('day', started_at AT TIME ZONE 'UTC'))::date ORDER BY 1;

-- report_cost_by_model --
-- Spend per model since :since_day, most expensive first.
SELECT model AS key, count(*) AS calls, coalesce(sum(input_tokens), 0) AS input_tokens,
       coalesce(sum(output_tokens), 0) AS output_tokens,
       coalesce(sum(cache_creation_5m_tokens + cache_creation_1h_tokens), 0) AS cache_write_tokens,
       coalesce(sum(cache_read_tokens), 0) AS cache_read_tokens,
       coalesce(sum(cost), 0) AS cost,
       count(*) FILTER (WHERE cost IS NULL AND finished_at IS NOT NULL) AS unpriced_calls
FROM llm_calls
WHERE started_at >= CAST(:since_day AS date)::timestamp AT TIME ZONE 'UTC'
  AND (CAST(:tenant_id AS bigint) IS NULL OR tenant_id = :tenant_id)
GROUP BY model ORDER BY cost DESC, model;

-- report_cost_by_tenant --
-- Spend per tenant since :since_day, most expensive first.
SELECT t.name AS key, c.*
FROM (SELECT tenant_id, count(*) AS calls, coalesce(sum(input_tokens), 0) AS input_tokens,
       coalesce(sum(output_tokens), 0) AS output_tokens,
       coalesce(sum(cache_creation_5m_tokens + cache_creation_1h_tokens), 0) AS cache_write_tokens,
       coalesce(sum(cache_read_tokens), 0) AS cache_read_tokens,
       coalesce(sum(cost), 0) AS cost,
       count(*) FILTER (WHERE cost IS NULL AND finished_at IS NOT NULL) AS unpriced_calls
      FROM llm_calls
      WHERE started_at >= CAST(:since_day AS date)::timestamp AT TIME ZONE 'UTC'
  AND (CAST(:tenant_id AS bigint) IS NULL OR tenant_id = :tenant_id)
      GROUP BY tenant_id) c
JOIN tenants t ON t.id = c.tenant_id
ORDER BY c.cost DESC, t.name;

-- report_cost_by_mode --
-- Spend since :since_day by how calls reached Claude: realtime, or provider_batch (the
-- provider's Message Batches API, at its batch discount).
SELECT CASE WHEN via_provider_batch THEN 'provider_batch' ELSE 'realtime' END AS key,
       count(*) AS calls, coalesce(sum(input_tokens), 0) AS input_tokens,
       coalesce(sum(output_tokens), 0) AS output_tokens,
       coalesce(sum(cache_creation_5m_tokens + cache_creation_1h_tokens), 0) AS cache_write_tokens,
       coalesce(sum(cache_read_tokens), 0) AS cache_read_tokens,
       coalesce(sum(cost), 0) AS cost,
       count(*) FILTER (WHERE cost IS NULL AND finished_at IS NOT NULL) AS unpriced_calls
FROM llm_calls
WHERE started_at >= CAST(:since_day AS date)::timestamp AT TIME ZONE 'UTC'
  AND (CAST(:tenant_id AS bigint) IS NULL OR tenant_id = :tenant_id)
GROUP BY 1 ORDER BY cost DESC, 1;

-- report_cost_by_batch --
-- Spend per batch since :since_day, most expensive first (calls in the window only, so the
-- total matches the other groupings of the same window).
SELECT batch_id AS key, count(*) AS calls, coalesce(sum(input_tokens), 0) AS input_tokens,
       coalesce(sum(output_tokens), 0) AS output_tokens,
       coalesce(sum(cache_creation_5m_tokens + cache_creation_1h_tokens), 0) AS cache_write_tokens,
       coalesce(sum(cache_read_tokens), 0) AS cache_read_tokens,
       coalesce(sum(cost), 0) AS cost,
       count(*) FILTER (WHERE cost IS NULL AND finished_at IS NOT NULL) AS unpriced_calls
FROM llm_calls
WHERE started_at >= CAST(:since_day AS date)::timestamp AT TIME ZONE 'UTC'
  AND (CAST(:tenant_id AS bigint) IS NULL OR tenant_id = :tenant_id)
GROUP BY batch_id ORDER BY cost DESC, batch_id;

-- model_prices_current --
-- The price in effect now for each model (or :model), with when it took effect.
SELECT DISTINCT ON (model) model, effective_from, input_per_mtok, output_per_mtok,
       cache_write_5m_per_mtok, cache_write_1h_per_mtok, cache_read_per_mtok, batch_discount
FROM model_prices
WHERE effective_from <= now() AND (CAST(:model AS text) IS NULL OR model = :model)
ORDER BY model, effective_from DESC;

-- model_price_add --
-- A dated price for a model; calls that start from :effective_from on are priced with it.
INSERT INTO model_prices (model, effective_from, input_per_mtok, output_per_mtok,
                          cache_write_5m_per_mtok, cache_write_1h_per_mtok,
                          cache_read_per_mtok, batch_discount)
VALUES (:model, :effective_from, :input, :output, :cache_write_5m, :cache_write_1h,
        :cache_read, :batch_discount)
ON CONFLICT (model, effective_from) DO UPDATE
SET input_per_mtok = EXCLUDED.input_per_mtok, output_per_mtok = EXCLUDED.output_per_mtok,
    cache_write_5m_per_mtok = EXCLUDED.cache_write_5m_per_mtok,
    cache_write_1h_per_mtok = EXCLUDED.cache_write_1h_per_mtok,
    cache_read_per_mtok = EXCLUDED.cache_read_per_mtok,
    batch_discount = EXCLUDED.batch_discount;

-- budget_remaining --
-- What a tenant may still commit this month: budget - spent - reserved (NULL: no budget).
SELECT t.monthly_budget_usd - coalesce(s.spent, 0) - coalesce(s.reserved, 0) AS remaining,
       t.monthly_budget_usd AS budget
FROM tenants t
LEFT JOIN tenant_spend s
       ON s.tenant_id = t.id AND s.month = date_trunc('month', now() AT TIME ZONE 'UTC')::date
WHERE t.id = :tenant_id;

-- worst_case_cost --
-- The most a set of calls can cost at today's prices: every estimated input token at the
-- input price and every max_tokens at the output price. Unpriced models count nothing.
SELECT coalesce(sum(batchmill_call_cost_v1(m.model, now(), m.input_tokens, m.output_tokens,
                                           0, 0, 0, false)), 0) AS cost
FROM unnest(CAST(:models AS text[]), CAST(:input_tokens AS bigint[]),
            CAST(:output_tokens AS bigint[])) AS m(model, input_tokens, output_tokens);

-- tenant_spend_ensure --
-- This month's spend row of a tenant, created at zero if missing.
INSERT INTO tenant_spend (tenant_id, month)
VALUES (:tenant_id, date_trunc('month', now() AT TIME ZONE 'UTC')::date)
ON CONFLICT DO NOTHING;

-- budget_reserve --
-- Reserve a call's worst case (every estimated input token and max_tokens output tokens at
-- today's prices) against its tenant's budget this month. No row back when it would not fit.
UPDATE tenant_spend s
SET reserved = s.reserved + w.worst
FROM tenants t,
     LATERAL (SELECT coalesce(batchmill_call_cost_v1(:model, now(), :input_tokens,
                                                     :output_tokens, 0, 0, 0, false), 0)
                     AS worst) w
WHERE s.tenant_id = :tenant_id AND t.id = s.tenant_id
  AND s.month = date_trunc('month', now() AT TIME ZONE 'UTC')::date
  AND (t.monthly_budget_usd IS NULL OR s.spent + s.reserved + w.worst <= t.monthly_budget_usd)
RETURNING s.month, w.worst;

-- budget_settle --
-- A reserved call is over: release its worst case and count what it really cost, in the
-- month it was reserved in.
UPDATE tenant_spend
SET reserved = greatest(reserved - :worst, 0), spent = spent + :cost
WHERE tenant_id = :tenant_id AND month = :month;

-- llm_call_discard --
-- Remove the logged call of an attempt that never called (refused before it went out).
DELETE FROM llm_calls
WHERE request_id = :request_id AND attempt = :attempt AND finished_at IS NULL;

-- tenant_budget_set --
-- Set (or with NULL remove) a tenant's monthly budget.
UPDATE tenants SET monthly_budget_usd = :budget WHERE name = :tenant RETURNING id;

-- model_routes_all --
-- Every routing rule, in the order they are tried.
SELECT route, rank, task_type, max_input_chars, model FROM model_routes ORDER BY route, rank;

-- tenant_by_name --
-- A tenant's id from its name.
SELECT id FROM tenants WHERE name = :name;

-- provider_requests_unassigned --
-- Queued requests of live provider_batch-mode batches not yet in a provider batch, with the
-- size of their params, in submission order (grouped into provider batches by the worker).
SELECT r.batch_id, r.id, octet_length(r.params::text) AS params_bytes
FROM requests r JOIN batches b ON b.id = r.batch_id
WHERE b.mode = 'provider_batch' AND b.ended_at IS NULL AND b.cancel_initiated_at IS NULL
  AND r.status = 'queued' AND r.provider_batch_id IS NULL
ORDER BY r.batch_id, r.position;

-- provider_batch_form --
-- A new provider batch of :request_ids (still queued and unassigned) of batch :batch_id.
WITH formed AS (
    INSERT INTO provider_batches (batch_id, request_count)
    VALUES (:batch_id, cardinality(CAST(:request_ids AS bigint[])))
    RETURNING id
), assigned AS (
    UPDATE requests r SET provider_batch_id = formed.id
    FROM formed
    WHERE r.id = ANY(CAST(:request_ids AS bigint[])) AND r.status = 'queued'
      AND r.provider_batch_id IS NULL
    RETURNING r.id
)
SELECT formed.id, (SELECT count(*) FROM assigned) AS assigned FROM formed;

-- provider_batches_pending --
-- Provider batches formed but not yet accepted by the provider, oldest first.
SELECT id, batch_id, submit_started_at FROM provider_batches
WHERE status = 'pending' ORDER BY id;

-- provider_batch_submit_start --
-- Note that a submission attempt is starting (the first attempt's time is kept: a provider
-- batch created by an attempt that crashed is looked for from then on).
UPDATE provider_batches
SET submit_started_at = coalesce(submit_started_at, now()), request_count = :request_count
WHERE id = :id AND status = 'pending'
RETURNING submit_started_at;

-- provider_batch_requests --
-- What to send in provider batch :id: its requests still queued, in submission order.
SELECT id, params FROM requests
WHERE provider_batch_id = :id AND status = 'queued'
ORDER BY position;

-- provider_batch_submitted --
-- The provider accepted provider batch :id: record its id; its queued requests are running
-- (one attempt each). Requests canceled meanwhile stay canceled.
WITH submitted AS (
    UPDATE provider_batches
    SET provider_batch_id = :provider_batch_id, status = 'submitted', submitted_at = now()
    WHERE id = :id AND status = 'pending'
    RETURNING id
)
UPDATE requests r SET status = 'running', attempts = r.attempts + 1, started_at = now()
FROM submitted
WHERE r.provider_batch_id = submitted.id AND r.status = 'queued';

-- provider_batch_known --
-- Whether a provider batch id is already recorded (adoption must not take it twice).
SELECT EXISTS (SELECT FROM provider_batches WHERE provider_batch_id = :provider_batch_id)
       AS known;

-- provider_batches_to_cancel --
-- Submitted provider batches whose batch was canceled or has ended (expired): cancel them at
-- the provider, once.
SELECT pb.id, pb.provider_batch_id
FROM provider_batches pb JOIN batches b ON b.id = pb.batch_id
WHERE pb.status = 'submitted' AND pb.cancel_sent_at IS NULL
  AND (b.cancel_initiated_at IS NOT NULL OR b.ended_at IS NOT NULL);

-- provider_batch_cancel_sent --
-- The provider was asked to cancel provider batch :id.
UPDATE provider_batches SET cancel_sent_at = now() WHERE id = :id;

-- provider_batches_submitted --
-- Provider batches the provider is still working on (to poll).
SELECT id, provider_batch_id FROM provider_batches WHERE status = 'submitted' ORDER BY id;

-- provider_batch_ended --
-- The provider has ended provider batch :id: its results can be recorded.
UPDATE provider_batches SET status = 'ended', ended_at = :ended_at
WHERE id = :id AND status = 'submitted';

-- provider_batches_ended --
-- Ended provider batches whose results are not all recorded yet.
SELECT id, batch_id, provider_batch_id, submitted_at FROM provider_batches
WHERE status = 'ended' ORDER BY id;

-- provider_results_record --
-- Record result lines of provider batch :id (a chunk of its results file) set-based: each
-- succeeded or errored line is a provider call priced at the batch discount at the price in
-- effect at submission (with :record_calls), each open request becomes terminal, and the
-- batch counts them, its cost and its tenant's month spend, ending when nothing is left.
-- Idempotent: a line recorded before changes nothing (llm_calls is unique per request and
-- attempt, and only open requests finish), so a restart may replay the whole file.
WITH line AS (
    SELECT * FROM unnest(
        CAST(:request_ids AS bigint[]), CAST(:statuses AS text[]), CAST(:results AS text[]),
        CAST(:errors AS text[]), CAST(:models AS text[]), CAST(:error_types AS text[]),
        CAST(:input_tokens AS bigint[]), CAST(:output_tokens AS bigint[]),
        CAST(:cache_5m_tokens AS bigint[]), CAST(:cache_1h_tokens AS bigint[]),
        CAST(:cache_read_tokens AS bigint[]))
        AS l(request_id, status, result, error, model, error_type, input_tokens, output_tokens,
             cache_5m_tokens, cache_1h_tokens, cache_read_tokens)
), priced AS (
    SELECT l.*, coalesce(l.model, r.model) AS call_model, r.batch_id, b.tenant_id,
           greatest(r.attempts, 1) AS attempt,
           CASE WHEN l.status IN ('succeeded', 'errored') THEN
               batchmill_call_cost_v1(coalesce(l.model, r.model),
                                      CAST(:started_at AS timestamptz), l.input_tokens,
                                      l.output_tokens, l.cache_5m_tokens, l.cache_1h_tokens,
                                      l.cache_read_tokens, true) END AS cost
    FROM line l
    JOIN requests r ON r.id = l.request_id AND r.provider_batch_id = :id
    JOIN batches b ON b.id = r.batch_id
), call AS (
    INSERT INTO llm_calls (request_id, batch_id, tenant_id, attempt, model, via_provider_batch,
                           started_at, finished_at, error_type, provider_request_id,
                           input_tokens, output_tokens, cache_creation_5m_tokens,
                           cache_creation_1h_tokens, cache_read_tokens, cost)
    SELECT request_id, batch_id, tenant_id, attempt, call_model, true, :started_at, now(),
           error_type, :provider_batch_id, input_tokens, output_tokens, cache_5m_tokens,
           cache_1h_tokens, cache_read_tokens, cost
    FROM priced
    WHERE CAST(:record_calls AS boolean) AND status IN ('succeeded', 'errored')
    ON CONFLICT (request_id, attempt) DO NOTHING
    RETURNING tenant_id, cost
), finished AS (
    UPDATE requests r
    SET status = p.status, result = CAST(p.result AS jsonb), error = CAST(p.error AS jsonb),
        input_tokens = p.input_tokens, output_tokens = p.output_tokens,
        cache_creation_input_tokens = p.cache_5m_tokens + p.cache_1h_tokens,
        cache_read_input_tokens = p.cache_read_tokens, cost = p.cost, finished_at = now()
    FROM priced p
    WHERE r.id = p.request_id AND r.status IN ('queued', 'running')
    RETURNING r.status
), spend AS (
    INSERT INTO tenant_spend (tenant_id, month, spent)
    SELECT tenant_id, date_trunc('month', now() AT TIME ZONE 'UTC')::date, sum(cost)
    FROM call WHERE cost IS NOT NULL GROUP BY tenant_id
    ON CONFLICT (tenant_id, month) DO UPDATE SET spent = tenant_spend.spent + EXCLUDED.spent
)
UPDATE batches b
SET processing_count = b.processing_count - f.n,
    succeeded_count = b.succeeded_count + f.succeeded,
    errored_count = b.errored_count + f.errored,
    canceled_count = b.canceled_count + f.canceled,
    expired_count = b.expired_count + f.expired,
    ended_at = CASE WHEN b.ended_at IS NULL AND b.processing_count = f.n THEN now()
                    ELSE b.ended_at END,
    cost = b.cost + c.cost
FROM (SELECT count(*)::int AS n,
             count(*) FILTER (WHERE status = 'succeeded')::int AS succeeded,
             count(*) FILTER (WHERE status = 'errored')::int AS errored,
             count(*) FILTER (WHERE status = 'canceled')::int AS canceled,
             count(*) FILTER (WHERE status = 'expired')::int AS expired
      FROM finished) f,
     (SELECT coalesce(sum(cost), 0) AS cost FROM call) c
WHERE b.id = :batch_id
RETURNING f.n AS finished, f.succeeded, f.errored, f.canceled, f.expired,
          b.ended_at IS NOT NULL AS batch_ended;

-- provider_batch_open_requests --
-- Requests of provider batch :id not yet terminal (after its results: missing from them).
SELECT id FROM requests WHERE provider_batch_id = :id AND status IN ('queued', 'running');

-- provider_batch_done --
-- Every result of provider batch :id is recorded (or there was nothing to send).
UPDATE provider_batches SET status = 'done', done_at = now()
WHERE id = :id AND status <> 'done';

-- batch_lock_by_id --
-- Lock a batch row first, so a statement that also changes its requests cannot deadlock with
-- a cancel (which locks the batch, then its queued requests).
SELECT id FROM batches WHERE id = :id FOR UPDATE;

-- ui_batches_progress --
-- Live figures of those of :ids that belong to the tenant (the dashboard's progress bars poll it).
SELECT id, processing_status, request_count, processing_count, succeeded_count, errored_count,
       canceled_count, expired_count, cost
FROM batch_status_v2
WHERE tenant_id = :tenant_id AND id = ANY(CAST(:ids AS text[]));

-- ui_batch_throughput --
-- Requests of a tenant's batch that finished (succeeded or errored) per :bucket_seconds,
-- in buckets counted from :origin (the batch's creation). Empty buckets are absent.
SELECT date_bin(make_interval(secs => CAST(:bucket_seconds AS double precision)),
                r.finished_at, CAST(:origin AS timestamptz)) AS bucket,
       count(*) FILTER (WHERE r.status = 'succeeded') AS succeeded,
       count(*) FILTER (WHERE r.status = 'errored') AS errored
FROM requests r JOIN batches b ON b.id = r.batch_id
WHERE r.batch_id = :batch_id AND b.tenant_id = :tenant_id
  AND r.status IN ('succeeded', 'errored')
GROUP BY 1 ORDER BY 1;

-- ui_batch_errors --
-- A tenant's batch's errored requests by error type, most frequent first, with the first
-- :examples of each type (custom_id and message) in submission order.
WITH errored AS (
    SELECT r.position, r.custom_id,
           coalesce(r.error -> 'error' ->> 'type', 'unknown') AS error_type,
           r.error -> 'error' ->> 'message' AS message
    FROM requests r JOIN batches b ON b.id = r.batch_id
    WHERE r.batch_id = :batch_id AND b.tenant_id = :tenant_id AND r.status = 'errored'
), ranked AS (
    SELECT e.*, count(*) OVER (PARTITION BY e.error_type) AS requests,
           row_number() OVER (PARTITION BY e.error_type ORDER BY e.position) AS n
    FROM errored e
)
SELECT error_type, requests, custom_id, message
FROM ranked
WHERE n <= :examples
ORDER BY requests DESC, error_type, n;

-- ui_batch_outputs --
-- The first :limit succeeded requests of a tenant's batch with the text of each answer (its
-- text blocks joined, cut to :max_chars).
SELECT r.custom_id, r.model, r.output_tokens,
       left((SELECT string_agg(c ->> 'text', '')
             FROM jsonb_array_elements(CASE WHEN jsonb_typeof(r.result -> 'content') = 'array'
                                            THEN r.result -> 'content' ELSE '[]' END) c
             WHERE c ->> 'type' = 'text'), :max_chars) AS text
FROM requests r JOIN batches b ON b.id = r.batch_id
WHERE r.batch_id = :batch_id AND b.tenant_id = :tenant_id AND r.status = 'succeeded'
  AND r.result IS NOT NULL
ORDER BY r.position
LIMIT :limit;

-- ui_batch_usage --
-- Provider calls, tokens and cost of a tenant's batch, from cost_by_batch_v1 (no row: no calls).
SELECT calls, input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, cost,
       unpriced_calls, unknown_outcome_calls
FROM cost_by_batch_v1
WHERE batch_id = :batch_id AND tenant_id = :tenant_id;

-- ui_tenants --
-- Every tenant's name, for an admin's tenant picker on the dashboard's cost page.
SELECT name FROM tenants ORDER BY name;

-- webhook_event_for_delivery --
-- An event to deliver, with its tenant's secret and its batch as the body's source.
SELECT e.url AS event_url, e.status AS event_status, e.attempts AS event_attempts,
       e.payload AS event_payload, e.created_at AS event_created_at, t.webhook_secret, s.*
FROM webhook_events e
JOIN tenants t ON t.id = e.tenant_id
JOIN batch_status_v2 s ON s.id = e.batch_id
WHERE e.id = :event_id;

-- webhook_attempt_record --
-- Record attempt :attempt of an event and its outcome; with :run_at, the next attempt's job is
-- deferred in the same transaction (the retry chain cannot break). A repeated attempt number
-- (a re-run after a crash) records nothing and defers nothing.
WITH attempt AS (
    INSERT INTO webhook_attempts (event_id, attempt, started_at, latency_seconds,
                                  response_status, error)
    VALUES (:event_id, :attempt, :started_at, :latency_seconds, :response_status, :error)
    ON CONFLICT (event_id, attempt) DO NOTHING
    RETURNING event_id
), event AS (
    UPDATE webhook_events e
    SET attempts = :attempt, payload = coalesce(e.payload, :payload),
        status = CASE WHEN :delivered THEN 'delivered'
                      WHEN CAST(:run_at AS timestamptz) IS NULL THEN 'failed'
                      ELSE 'pending' END,
        delivered_at = CASE WHEN :delivered THEN now() END,
        next_attempt_at = :run_at
    FROM attempt
    WHERE e.id = attempt.event_id
    RETURNING e.id
)
SELECT cardinality(procrastinate_defer_jobs_v1(ARRAY(
    SELECT ROW('webhooks', 'batchmill.deliver_webhook', 0, NULL, NULL,
               jsonb_build_object('event_id', event.id),
               CAST(:run_at AS timestamptz))::procrastinate_job_to_defer_v1
    FROM event WHERE CAST(:run_at AS timestamptz) IS NOT NULL
))) AS deferred;

-- webhook_deliveries_page --
-- A tenant's webhook events, newest first (optionally one batch's), with every attempt.
SELECT e.id, e.batch_id, e.url, e.status, e.attempts, e.created_at, e.next_attempt_at,
       e.delivered_at,
       coalesce((SELECT jsonb_agg(jsonb_build_object(
                    'attempt', a.attempt, 'started_at', a.started_at,
                    'latency_seconds', a.latency_seconds, 'response_status', a.response_status,
                    'error', a.error) ORDER BY a.attempt)
                 FROM webhook_attempts a WHERE a.event_id = e.id), '[]'::jsonb) AS attempt_log
FROM webhook_events e
WHERE e.tenant_id = :tenant_id AND (CAST(:batch_id AS text) IS NULL OR e.batch_id = :batch_id)
ORDER BY e.created_at DESC, e.id DESC
LIMIT :limit;

-- tenant_webhook_secret --
-- A tenant's webhook signing secret; with :rotate, a new one first.
UPDATE tenants
SET webhook_secret = CASE WHEN :rotate
    THEN 'whsec_' || replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '')
    ELSE webhook_secret END
WHERE name = :tenant
RETURNING webhook_secret;

-- queue_depth --
-- Queue rows per queue and state, for the metrics (KEDA's query reads the same view).
SELECT queue_name, state, jobs FROM queue_depth_v1;
