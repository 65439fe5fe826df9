-- Bundles: an agent's built files, stored once per organisation and content. hash is the SHA-256 of the bundle's
-- manifest (every path, kind, mode and content digest, in path order), so the same files uploaded as a tar, a zip
-- or a file list are one bundle. archive is the canonical form: a gzipped tar the Deployer copies to /app.
create table bundles (
    organization_id uuid not null references organizations on delete cascade,
    hash bytea not null,
    file_count int not null,
    size bigint not null,
    archive bytea not null,
    created_at timestamptz not null default now(),
    primary key (organization_id, hash)
);

alter table deployments
    add constraint deployments_bundle_fk foreign key (organization_id, bundle_hash) references bundles,
    -- The Deployer replica that manages the deployment, until lease_expires_at; a replica renews its leases on every pass.
    add column lease_owner text,
    add column lease_expires_at timestamptz,
    -- The container id or process id that serves the deployment, and how often it had to be restarted.
    add column instance_id text,
    add column restart_count int not null default 0,
    add column last_restart_at timestamptz,
    add column ready_at timestamptz,
    add column redeployed_from uuid references deployments on delete set null;

create index deployments_managed on deployments (status) where runtime <> 'external' and status in ('pending', 'starting', 'running');

-- The agent's environment as it was when the deployment was made: a deployment is immutable, and a change of the
-- agent's variables takes effect with the next one. Secret values stay sealed under the agent's context.
create table deployment_env (
    deployment_id uuid not null references deployments on delete cascade,
    name text collate "C" not null,
    secret boolean not null,
    value text,
    sealed bytea,
    primary key (deployment_id, name)
);

-- Wakes the Deployers when a managed deployment is created or changes state, so an upload starts at once.
create function notify_deployment() returns trigger language plpgsql as $$
begin
    perform pg_notify('hangar_deployments', new.id::text);
    return null;
end $$;

create trigger deployments_notify after insert or update of status on deployments
    for each row when (new.runtime <> 'external') execute function notify_deployment();
