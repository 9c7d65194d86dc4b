-- Every operator command (`python -m aggregator admin ...`): who ran it, what, with which
-- arguments, and how it ended. Rows are only ever inserted.
CREATE TABLE admin_audit (
    id          BIGSERIAL PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor       TEXT NOT NULL,                    -- the operating-system user
    command     TEXT NOT NULL,
    args        JSONB NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('ok', 'refused', 'failed')),
    detail      JSONB NOT NULL
);
CREATE INDEX admin_audit_at ON admin_audit (at);
