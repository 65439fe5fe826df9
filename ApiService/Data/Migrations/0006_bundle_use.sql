-- When a bundle was last uploaded or redeployed: the retention job deletes bundles that no deployment refers to and
-- that nobody has used for a while, so an upload that finds its bundle stored never races the delete.
alter table bundles add column used_at timestamptz not null default now();
create index bundles_used_at on bundles (used_at);
