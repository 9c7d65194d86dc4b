-- The indexer's record of the chain: every event of a successful transaction of an
-- indexed program, the per-program-address cursor into the chain's history, and the
-- per-meter totals the chain has settled and minted. The chain is the source of truth;
-- these rows mirror it and win over the aggregator's own view (see aggregator/indexer).

CREATE TABLE chain_events (
    id          BIGSERIAL PRIMARY KEY,               -- arrival order (newest = highest)
    signature   TEXT NOT NULL,                       -- transaction signature (base58)
    idx         INT NOT NULL CHECK (idx >= 0),       -- ordinal of its `Program data:` log line in the tx
    slot        BIGINT NOT NULL,                     -- slot (a sequence number on LiteSVM)
    program_id  TEXT NOT NULL,                       -- emitting program (base58)
    program     TEXT NOT NULL,                       -- its IDL name, e.g. registry
    name        TEXT NOT NULL,                       -- event name from the IDL
    meter_id    TEXT,                                -- the meter it concerns, when it concerns one
    data        JSONB NOT NULL,                      -- event fields (snake_case), JSON-ready
    indexed_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Re-reading history (after a crash or a reset cursor) can never store an event twice.
    UNIQUE (signature, idx)
);
CREATE INDEX chain_events_meter ON chain_events (meter_id, id) WHERE meter_id IS NOT NULL;
CREATE INDEX chain_events_name ON chain_events (name, id);

-- Newest signature fully indexed per address; history after it is what is left to read.
CREATE TABLE chain_cursors (
    address     TEXT PRIMARY KEY,                    -- program address (base58)
    signature   TEXT NOT NULL,
    slot        BIGINT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- What the chain says a meter has settled and minted. No foreign key to meters: the
-- chain may know meters this database does not (registered elsewhere).
CREATE TABLE chain_meter_totals (
    meter_id                    TEXT PRIMARY KEY,
    owner_wallet                TEXT,
    -- The on-chain watermark (meter.settled_net_generation_wh) from the newest settlement.
    settled_net_generation_wh   BIGINT NOT NULL DEFAULT 0 CHECK (settled_net_generation_wh >= 0),
    -- Sum of NetGenerationSettled.minted_wh: what the registry settled for this meter.
    settled_wh                  BIGINT NOT NULL DEFAULT 0 CHECK (settled_wh >= 0),
    -- Sum of TokensMinted.amount_wh paired with this meter's settlements: GRID actually minted.
    minted_wh                   BIGINT NOT NULL DEFAULT 0 CHECK (minted_wh >= 0),
    settlements                 BIGINT NOT NULL DEFAULT 0,
    last_signature              TEXT,
    last_slot                   BIGINT,
    updated_at                  TIMESTAMPTZ NOT NULL DEFAULT now()
);
