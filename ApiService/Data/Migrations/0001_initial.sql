-- The system of record. Ids are UUID v7 (time-ordered), made by the service.

create table organizations (
    id uuid primary key,
    name text not null,
    created_at timestamptz not null default now()
);

create table users (
    id uuid primary key,
    organization_id uuid not null references organizations on delete cascade,
    name text not null,
    email text,
    role text not null default 'admin' check (role in ('admin', 'member')),
    created_at timestamptz not null default now()
);

-- Keys are shown once; only their SHA-256 is kept.
create table api_keys (
    id uuid primary key,
    organization_id uuid not null references organizations on delete cascade,
    user_id uuid references users on delete cascade,
    name text not null,
    prefix text not null,
    key_hash bytea not null unique,
    created_at timestamptz not null default now(),
    last_used_at timestamptz,
    revoked_at timestamptz
);

create table agents (
    id uuid primary key,
    organization_id uuid not null references organizations on delete cascade,
    name text not null,
    description text,
    active_deployment_id uuid,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (organization_id, name)
);

-- runtime: external (the owner runs the agent; Hangar calls its URL), docker and process (the Deployer runs it).
create table deployments (
    id uuid primary key,
    organization_id uuid not null references organizations on delete cascade,
    agent_id uuid not null references agents on delete cascade,
    number int not null,
    runtime text not null check (runtime in ('external', 'docker', 'process')),
    target text not null default 'production' check (target in ('production', 'preview')),
    status text not null check (status in ('pending', 'starting', 'running', 'failed', 'stopped')),
    url text,
    entrypoint text,
    bundle_hash bytea,
    environment jsonb,
    error text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (agent_id, number)
);

alter table agents add constraint agents_active_deployment_fk
    foreign key (active_deployment_id) references deployments on delete set null;

create table chats (
    id uuid primary key,
    organization_id uuid not null references organizations on delete cascade,
    agent_id uuid not null references agents on delete cascade,
    title text,
    status text not null default 'idle' check (status in ('idle', 'streaming', 'error')),
    error text,
    agent_key text,
    metadata jsonb,
    last_run_number int not null default 0,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (agent_id, agent_key)
);

create index chats_by_org on chats (organization_id, id desc);

-- A run is claimed with a lease; lease_epoch fences every write of its owner (ARCHITECTURE.md, control loop §2).
create table runs (
    id uuid primary key,
    organization_id uuid not null,
    chat_id uuid not null references chats on delete cascade,
    number int not null,
    status text not null check (status in ('pending', 'running', 'completed', 'failed', 'interrupted', 'stopped')),
    error text,
    interrupt_requested boolean not null default false,
    stop_requested boolean not null default false,
    lease_owner text,
    lease_expires_at timestamptz,
    lease_epoch bigint not null default 0,
    step_count int not null default 0,
    usage jsonb,
    created_at timestamptz not null default now(),
    started_at timestamptz,
    completed_at timestamptz,
    unique (chat_id, number)
);

-- At most one run waits and one runs per chat: the database, not the code, rules out a double start.
create unique index runs_one_pending_per_chat on runs (chat_id) where status = 'pending';
create unique index runs_one_running_per_chat on runs (chat_id) where status = 'running';
create index runs_open on runs (created_at) where status in ('pending', 'running');

create table steps (
    id uuid primary key,
    run_id uuid not null references runs on delete cascade,
    chat_id uuid not null,
    number int not null,
    status text not null check (status in ('running', 'completed', 'failed', 'interrupted', 'stopped')),
    error text,
    lease_epoch bigint not null,
    deployment_id uuid,
    message_id text,
    finish_reason text,
    usage jsonb,
    chunk_count int not null default 0,
    started_at timestamptz not null,
    first_chunk_at timestamptz,
    completed_at timestamptz,
    unique (run_id, number)
);

-- Message ids are the client's (AI SDK ids are any string) or a UUID made here; unique within a chat.
-- parts and metadata are json, not jsonb: jsonb reorders keys, and the stored UIMessage must keep the bytes the
-- AI SDK produced. Messages are ordered by when they began (an assistant message by its step's start), then seq.
create table messages (
    chat_id uuid not null references chats on delete cascade,
    id text not null,
    seq bigint generated always as identity,
    role text not null check (role in ('user', 'assistant', 'system')),
    parts json not null,
    metadata json,
    run_id uuid,
    step_id uuid,
    created_at timestamptz not null default now(),
    primary key (chat_id, id)
);

create index messages_in_order on messages (chat_id, created_at, seq);
