-- Environment variables applied to every new deployment of an agent. Plain values are kept as text; secret values
-- only sealed (AES-256-GCM, Hangar.Contracts.SecretBox), and the API never returns them.
create table agent_env (
    agent_id uuid not null references agents on delete cascade,
    name text collate "C" not null,
    secret boolean not null,
    value text,
    sealed bytea,
    updated_at timestamptz not null default now(),
    primary key (agent_id, name),
    check (case when secret then sealed is not null and value is null else value is not null and sealed is null end)
);
