-- What trading and certificates will need: an order-book cache, trades, certificates
-- and payments. The chain is the source of truth; these rows are the indexer's cache
-- (chain wins on conflict), so each row carries the on-chain address it mirrors.

CREATE TABLE orders (
    id                     BIGSERIAL PRIMARY KEY,
    order_address          TEXT UNIQUE,              -- on-chain order account
    user_id                BIGINT NOT NULL REFERENCES users (id),
    side                   TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    price_per_kwh_micro    BIGINT NOT NULL CHECK (price_per_kwh_micro > 0),
    energy_wh              BIGINT NOT NULL CHECK (energy_wh > 0),
    filled_wh              BIGINT NOT NULL DEFAULT 0 CHECK (filled_wh >= 0),
    status                 TEXT NOT NULL DEFAULT 'open'
                           CHECK (status IN ('open', 'partially_filled', 'filled', 'cancelled', 'expired')),
    expires_at             TIMESTAMPTZ,
    tx_signature           TEXT,
    created_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (filled_wh <= energy_wh)
);
CREATE INDEX orders_book ON orders (side, price_per_kwh_micro, created_at)
    WHERE status IN ('open', 'partially_filled');
CREATE INDEX orders_user ON orders (user_id, created_at);

CREATE TABLE trades (
    id                     BIGSERIAL PRIMARY KEY,
    buy_order_id           BIGINT NOT NULL REFERENCES orders (id),
    sell_order_id          BIGINT NOT NULL REFERENCES orders (id),
    buyer_id               BIGINT NOT NULL REFERENCES users (id),
    seller_id              BIGINT NOT NULL REFERENCES users (id),
    energy_wh              BIGINT NOT NULL CHECK (energy_wh > 0),
    price_per_kwh_micro    BIGINT NOT NULL CHECK (price_per_kwh_micro > 0),
    tx_signature           TEXT NOT NULL,
    fill_index             INT NOT NULL DEFAULT 0,
    executed_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (tx_signature, fill_index),
    CHECK (buyer_id <> seller_id)
);
CREATE INDEX trades_buyer ON trades (buyer_id, executed_at);
CREATE INDEX trades_seller ON trades (seller_id, executed_at);

CREATE TABLE certificates (
    id                  BIGSERIAL PRIMARY KEY,
    certificate_address TEXT UNIQUE,
    meter_id            TEXT NOT NULL REFERENCES meters (meter_id),
    owner_id            BIGINT NOT NULL REFERENCES users (id),
    period_start        TIMESTAMPTZ NOT NULL,
    period_end          TIMESTAMPTZ NOT NULL,
    energy_wh           BIGINT NOT NULL CHECK (energy_wh > 0),
    source              TEXT NOT NULL,
    location            TEXT,
    status              TEXT NOT NULL DEFAULT 'issued'
                        CHECK (status IN ('issued', 'validated', 'retired', 'revoked', 'expired')),
    tx_signature        TEXT,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (period_end > period_start)
);
CREATE INDEX certificates_meter_period ON certificates (meter_id, period_start);

CREATE TABLE payments (
    id              BIGSERIAL PRIMARY KEY,
    trade_id        BIGINT REFERENCES trades (id),
    payer_id        BIGINT NOT NULL REFERENCES users (id),
    payee_id        BIGINT NOT NULL REFERENCES users (id),
    amount_micro    BIGINT NOT NULL CHECK (amount_micro > 0),
    currency        TEXT NOT NULL,
    tx_signature    TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
