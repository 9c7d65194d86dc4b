-- One-step onboarding: a user or meter registered over REST is `pending` until its
-- on-chain registration (the transaction POST /api/users or /api/meters returned, signed
-- by the owner's wallet) is indexed; then `active`. Rows from before this migration, and
-- rows of a service without a chain, are `active`.
ALTER TABLE users ADD COLUMN chain_state TEXT NOT NULL DEFAULT 'active'
    CHECK (chain_state IN ('pending', 'active'));
ALTER TABLE meters ADD COLUMN chain_state TEXT NOT NULL DEFAULT 'active'
    CHECK (chain_state IN ('pending', 'active'));
-- What the owner declared: where the meter is (also written on chain, 32 bytes at most)
-- and what kind of installation it measures.
ALTER TABLE meters ADD COLUMN location TEXT CHECK (octet_length(location) <= 32);
ALTER TABLE meters ADD COLUMN meter_type TEXT
    CHECK (meter_type IN ('solar', 'wind', 'battery', 'grid', 'other'));
