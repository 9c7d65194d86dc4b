-- The THB rail: baht in a reserve bank account backs the THB token 1:1. Amounts are
-- satang (THB has 2 decimals on chain, as at the bank).

-- One payment reference per wallet (ISO 11649 "RF" creditor reference): a bank
-- transfer that carries it credits that wallet.
CREATE TABLE payment_references (
    reference   TEXT PRIMARY KEY,
    wallet      TEXT NOT NULL UNIQUE REFERENCES users (wallet),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Each imported bank file (camt.053 / camt.054), once per message id and account.
CREATE TABLE bank_statements (
    id                BIGSERIAL PRIMARY KEY,
    message_type      TEXT NOT NULL CHECK (message_type IN ('camt.053', 'camt.054')),
    message_id        TEXT NOT NULL,
    account           TEXT NOT NULL,
    statement_id      TEXT NOT NULL,
    closing_balance   BIGINT,                 -- satang, camt.053 only
    closing_date      DATE,
    entries           INT NOT NULL,
    new_entries       INT NOT NULL,
    sha256            TEXT NOT NULL,
    imported_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (account, message_type, statement_id)
);

-- Each bank entry, once: entry identity is the account and the bank's own reference
-- (AcctSvcrRef). A statement imported twice finds its entries here and mints nothing.
CREATE TABLE bank_entries (
    id              BIGSERIAL PRIMARY KEY,
    account         TEXT NOT NULL,
    entry_ref       TEXT NOT NULL,
    statement_id    BIGINT NOT NULL REFERENCES bank_statements (id),
    direction       TEXT NOT NULL CHECK (direction IN ('CRDT', 'DBIT')),
    amount_satang   BIGINT NOT NULL CHECK (amount_satang > 0),
    booking_date    DATE NOT NULL,
    reference       TEXT,                    -- the payment reference or end-to-end id found
    status          TEXT NOT NULL CHECK (status IN ('matched', 'minting', 'minted', 'held', 'payout', 'unmatched_debit')),
    reason          TEXT,                    -- why held
    wallet          TEXT,
    mint_signature  TEXT,
    mint_tx         BYTEA,                   -- the signed mint, kept so a restart resends the same one
    matched_at      TIMESTAMPTZ,             -- when it was matched (the daily mint cap counts by this)
    minted_at       TIMESTAMPTZ,
    UNIQUE (account, entry_ref)
);
CREATE INDEX bank_entries_to_mint ON bank_entries (id) WHERE status IN ('matched', 'minting');

CREATE TABLE payouts (
    id              BIGSERIAL PRIMARY KEY,
    wallet          TEXT NOT NULL REFERENCES users (wallet),
    amount_satang   BIGINT NOT NULL CHECK (amount_satang > 0),
    creditor_name   TEXT NOT NULL,
    iban            TEXT,
    account_number  TEXT,
    bank_bic        TEXT,
    status          TEXT NOT NULL DEFAULT 'requested'
                    CHECK (status IN ('requested', 'burned', 'file_produced', 'confirmed')),
    burn_signature  TEXT UNIQUE,
    file_id         BIGINT,
    debit_entry     BIGINT REFERENCES bank_entries (id),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((iban IS NULL) <> (account_number IS NULL))
);

CREATE TABLE payout_files (
    id           BIGSERIAL PRIMARY KEY,
    message_id   TEXT NOT NULL UNIQUE,
    payouts      INT NOT NULL,
    total_satang BIGINT NOT NULL,
    xml          TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The audit trail: every step of every deposit, payout and import, append-only.
CREATE TABLE payment_events (
    id          BIGSERIAL PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    kind        TEXT NOT NULL,
    wallet      TEXT,
    amount_satang BIGINT,
    entry_id    BIGINT,
    payout_id   BIGINT,
    statement_id BIGINT,
    detail      JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX payment_events_at ON payment_events (at);

-- The reserve as seen at each import and each mint or burn: bank balance against supply.
CREATE TABLE reserve_snapshots (
    id              BIGSERIAL PRIMARY KEY,
    at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    bank_balance    BIGINT,
    supply          BIGINT NOT NULL,
    held            BIGINT NOT NULL,
    in_flight       BIGINT NOT NULL,
    payouts_open    BIGINT NOT NULL,
    difference      BIGINT
);
