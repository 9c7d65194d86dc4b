-- Security: the HMAC key of read tokens when GTX_AUTH_TOKEN_SECRET is not set (generated
-- once by the first service that starts, shared by every replica), and indexes the
-- bounded stores prune by (rejections per meter and per source, challenges per wallet).

CREATE TABLE auth_token_secret (
    id      SMALLINT PRIMARY KEY CHECK (id = 1),
    secret  BYTEA NOT NULL CHECK (length(secret) >= 32)
);

-- Rejections are pruned per (transport, meter, reason), newest kept.
CREATE INDEX reading_rejections_kind ON reading_rejections (meter_id, reason, transport, id);

-- The per-owner mint budget counts an owner's batches of the last hour.
CREATE INDEX mint_batches_created ON mint_batches (meter_id, created_at);
