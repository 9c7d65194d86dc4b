-- Renewable energy certificates as the certificates program records them. The indexer
-- fills this table from the program's events (chain wins), so the sketch of 0002 (never
-- written to) is replaced by the chain's shape: every row names its certificate account,
-- its meter's sequence number and the holder's wallet; the meter and holder may be
-- unknown to this database (registered elsewhere), so neither is a foreign key. Status
-- follows the program's state machine: pending -> valid -> retired | revoked | expired.
-- Energy in Wh; interval bounds, expiry and state changes as the chain's unix seconds.

DROP TABLE certificates;

CREATE TABLE certificates (
    id                   BIGSERIAL PRIMARY KEY,
    certificate_address  TEXT NOT NULL UNIQUE,          -- PDA ["certificate", meter, sequence]
    meter_id             TEXT NOT NULL,
    sequence             BIGINT NOT NULL CHECK (sequence >= 0),
    owner_wallet         TEXT NOT NULL,                  -- current holder (base58)
    owner_id             BIGINT REFERENCES users (id),   -- the holder, when registered here
    issued_to_wallet     TEXT NOT NULL,                  -- the meter owner who requested it
    energy_wh            BIGINT NOT NULL CHECK (energy_wh > 0),
    period_start         TIMESTAMPTZ NOT NULL,           -- start_at (inclusive)
    period_end           TIMESTAMPTZ NOT NULL,           -- end_at (exclusive)
    source               TEXT NOT NULL CHECK (source IN ('solar', 'wind', 'hydro', 'biomass', 'geothermal')),
    location             TEXT NOT NULL,                  -- the registry meter's location label
    status               TEXT NOT NULL DEFAULT 'pending'
                         CHECK (status IN ('pending', 'valid', 'retired', 'revoked', 'expired')),
    expires_at           TIMESTAMPTZ NOT NULL,
    validated_at         TIMESTAMPTZ,
    closed_at            TIMESTAMPTZ,                    -- retired, revoked or expired (chain time)
    revoke_reason        SMALLINT,
    meter_certified_wh   BIGINT NOT NULL,                -- the meter's certified total after issuance
    issue_signature      TEXT NOT NULL,
    last_signature       TEXT NOT NULL,                  -- newest event applied to this row
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (meter_id, sequence),
    CHECK (period_end > period_start)
);
CREATE INDEX certificates_meter ON certificates (meter_id, sequence);
CREATE INDEX certificates_owner ON certificates (owner_wallet, id);
CREATE INDEX certificates_status ON certificates (status, id);
