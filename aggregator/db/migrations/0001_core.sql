-- Users, meters, readings and rejections: the ingest side of the aggregator.
-- Energy is stored in integer watt-hours; device timestamps in UTC.

CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    wallet        TEXT NOT NULL UNIQUE,               -- base58 Ed25519 public key
    role          TEXT NOT NULL CHECK (role IN ('prosumer', 'consumer')),
    display_name  TEXT,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One-time nonces that a wallet signs to prove control (non-custodial auth).
CREATE TABLE auth_challenges (
    nonce       TEXT PRIMARY KEY,
    wallet      TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ
);
CREATE INDEX auth_challenges_expiry ON auth_challenges (expires_at);

CREATE TABLE meters (
    meter_id        TEXT PRIMARY KEY,                 -- the envelope's "meter" field
    owner_id        BIGINT NOT NULL REFERENCES users (id),
    device_pubkey   BYTEA NOT NULL CHECK (length(device_pubkey) = 32),
    status          TEXT NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'suspended', 'revoked')),
    registered_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Last accepted reading: the state every validation rule compares against.
    -- Updated in the same transaction that stores a batch, under a row lock.
    last_seq        BIGINT,
    last_ts         TIMESTAMPTZ,
    last_imp_wh     BIGINT,
    last_exp_wh     BIGINT,
    accepted_count  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX meters_owner ON meters (owner_id);

CREATE TABLE mint_batches (
    id                   BIGSERIAL PRIMARY KEY,
    meter_id             TEXT NOT NULL REFERENCES meters (meter_id),
    state                TEXT NOT NULL
                         CHECK (state IN ('claimed', 'intent', 'confirmed', 'failed', 'conflict')),
    reading_count        INT NOT NULL CHECK (reading_count > 0),
    first_reading_id     BIGINT NOT NULL,
    last_reading_id      BIGINT NOT NULL,
    production_wh        BIGINT NOT NULL CHECK (production_wh >= 0),
    consumption_wh       BIGINT NOT NULL CHECK (consumption_wh >= 0),
    -- Chain counters read just before submitting (the recorded intent); a restart
    -- compares them with the chain's current counters to learn whether it landed.
    chain_production_before_wh   BIGINT,
    chain_consumption_before_wh  BIGINT,
    chain_settled_before_wh      BIGINT,
    attempts             INT NOT NULL DEFAULT 0,
    next_attempt_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    tx_signature         TEXT UNIQUE,
    minted_wh            BIGINT,
    last_error           TEXT,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- At most one batch in flight per meter: chain calls for a meter are serial.
CREATE UNIQUE INDEX mint_batches_one_open ON mint_batches (meter_id)
    WHERE state IN ('claimed', 'intent');
CREATE INDEX mint_batches_due ON mint_batches (next_attempt_at) WHERE state = 'claimed';

CREATE TABLE readings (
    id                 BIGSERIAL PRIMARY KEY,
    meter_id           TEXT NOT NULL REFERENCES meters (meter_id),
    seq                BIGINT NOT NULL,
    reading_ts         TIMESTAMPTZ NOT NULL,
    interval_s         INT NOT NULL,
    imp_wh             BIGINT NOT NULL,
    exp_wh             BIGINT NOT NULL,
    -- Deltas against the previous accepted reading of this meter (0 for the first).
    production_wh      BIGINT NOT NULL CHECK (production_wh >= 0),
    consumption_wh     BIGINT NOT NULL CHECK (consumption_wh >= 0),
    -- Envelope v1 allows any int64 here; storage must not be narrower than the wire.
    voltage_dv         BIGINT NOT NULL,
    current_ma         BIGINT NOT NULL,
    power_w            BIGINT NOT NULL,
    pf_milli           INT NOT NULL,
    freq_chz           BIGINT NOT NULL,
    firmware           TEXT NOT NULL,
    envelope           BYTEA NOT NULL,                -- signed envelope, verbatim
    transport          TEXT NOT NULL CHECK (transport IN ('mqtt', 'http')),
    received_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    minted             BOOLEAN NOT NULL DEFAULT false,
    mint_batch_id      BIGINT REFERENCES mint_batches (id),
    mint_tx_signature  TEXT,
    UNIQUE (meter_id, seq)
);
-- The minter's pick: unminted, unclaimed readings per meter in arrival order.
CREATE INDEX readings_unminted ON readings (meter_id, id)
    WHERE NOT minted AND mint_batch_id IS NULL;
CREATE INDEX readings_meter_time ON readings (meter_id, reading_ts);
CREATE INDEX readings_batch ON readings (mint_batch_id) WHERE mint_batch_id IS NOT NULL;

-- Every refused reading with its reason code (operators audit these).
CREATE TABLE reading_rejections (
    id           BIGSERIAL PRIMARY KEY,
    received_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    transport    TEXT NOT NULL CHECK (transport IN ('mqtt', 'http')),
    meter_id     TEXT,
    seq          BIGINT,
    reason       TEXT NOT NULL,
    detail       TEXT,
    envelope     BYTEA                                -- capped at the max envelope size
);
CREATE INDEX reading_rejections_meter ON reading_rejections (meter_id, received_at);
CREATE INDEX reading_rejections_reason ON reading_rejections (reason, received_at);

-- Gaps a meter declared (its store-and-forward ring overflowed): explicit, never silent.
CREATE TABLE meter_gaps (
    id           BIGSERIAL PRIMARY KEY,
    meter_id     TEXT NOT NULL REFERENCES meters (meter_id),
    from_seq     BIGINT NOT NULL,
    to_seq       BIGINT NOT NULL,
    reported_ts  TIMESTAMPTZ,                         -- NULL when the device had no clock
    envelope     BYTEA NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (meter_id, from_seq, to_seq),
    CHECK (from_seq <= to_seq)
);
