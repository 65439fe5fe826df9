-- What agents call back into (key-value store, chats by key) and what they report (logs and traces).

-- Long-lived credentials of one deployment, shown once; only their SHA-256 is kept.
create table deployment_tokens (
    id uuid primary key,
    organization_id uuid not null references organizations on delete cascade,
    agent_id uuid not null references agents on delete cascade,
    deployment_id uuid not null references deployments on delete cascade,
    prefix text not null,
    token_hash bytea not null unique,
    created_at timestamptz not null default now(),
    last_used_at timestamptz,
    revoked_at timestamptz
);

create index deployment_tokens_by_deployment on deployment_tokens (deployment_id);

-- One store per agent and deployment target (production and preview do not share data), as in Blink.
-- Keys and values are kept exactly as sent: keys as text compared byte for byte, values as bytes.
create table agent_kv (
    agent_id uuid not null references agents on delete cascade,
    target text not null,
    key text collate "C" not null,
    value bytea not null,
    expires_at timestamptz,
    updated_at timestamptz not null default now(),
    primary key (agent_id, target, key)
);

create index agent_kv_expiring on agent_kv (expires_at) where expires_at is not null;

-- Chats an agent upserts by key are looked up by (agent_id, agent_key); the unique constraint is in 0001.

-- Agent telemetry. Attributes are flattened to {key: value}, so filters are containment queries on jsonb.
create table agent_logs (
    id bigint generated always as identity,
    organization_id uuid not null,
    agent_id uuid not null,
    deployment_id uuid,
    time timestamptz not null,
    observed_time timestamptz,
    severity_number smallint not null,
    severity_text text,
    body text,
    attributes jsonb,
    resource jsonb,
    service_name text,
    scope_name text,
    trace_id text,
    span_id text,
    chat_id uuid,
    run_id uuid,
    step_id uuid,
    received_at timestamptz not null default now()
);

create index agent_logs_by_time on agent_logs (agent_id, time desc, id desc);
create index agent_logs_by_run on agent_logs (run_id) where run_id is not null;
create index agent_logs_received on agent_logs (received_at);

create table agent_spans (
    id bigint generated always as identity,
    organization_id uuid not null,
    agent_id uuid not null,
    deployment_id uuid,
    trace_id text not null,
    span_id text not null,
    parent_span_id text,
    name text not null,
    kind smallint not null,
    start_time timestamptz not null,
    end_time timestamptz not null,
    duration_ns bigint not null,
    status_code smallint not null,
    status_message text,
    attributes jsonb,
    events jsonb,
    resource jsonb,
    service_name text,
    scope_name text,
    chat_id uuid,
    run_id uuid,
    step_id uuid,
    received_at timestamptz not null default now()
);

create index agent_spans_by_time on agent_spans (agent_id, start_time desc, id desc);
create index agent_spans_by_trace on agent_spans (trace_id);
create index agent_spans_by_run on agent_spans (run_id) where run_id is not null;
create index agent_spans_by_step on agent_spans (step_id) where step_id is not null;
create index agent_spans_received on agent_spans (received_at);
