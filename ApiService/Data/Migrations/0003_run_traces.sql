-- The trace a run's spans belong to: the span of the request that created the run is the parent of every step's
-- agent call, whichever replica makes it, and the agent receives the step's span as its traceparent.
alter table runs add column trace_id text, add column parent_span_id text;
