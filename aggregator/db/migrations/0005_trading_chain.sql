-- Orders and trades as the trading program records them. The indexer fills these from
-- the chain's events (chain wins), so an order or trade may belong to a wallet this
-- database never registered: user references become optional and every row names its
-- market, its on-chain order id and the wallets involved. Prices stay in payment-token
-- base units per kWh (micro-units of a 6-decimal payment token), energy in Wh.

ALTER TABLE orders ALTER COLUMN user_id DROP NOT NULL;
ALTER TABLE orders
    ADD COLUMN market_address  TEXT,                 -- on-chain market (base58)
    ADD COLUMN chain_order_id  BIGINT,               -- the market's order counter value
    ADD COLUMN owner_wallet    TEXT,                 -- order owner (base58)
    ADD COLUMN closed_at       TIMESTAMPTZ;          -- the order account was closed on chain
ALTER TABLE orders ADD CONSTRAINT orders_market_order UNIQUE (market_address, chain_order_id);
CREATE INDEX orders_market_book ON orders (market_address, side, price_per_kwh_micro, chain_order_id)
    WHERE status IN ('open', 'partially_filled');
CREATE INDEX orders_owner_wallet ON orders (owner_wallet, id);

ALTER TABLE trades ALTER COLUMN buy_order_id DROP NOT NULL;
ALTER TABLE trades ALTER COLUMN sell_order_id DROP NOT NULL;
ALTER TABLE trades ALTER COLUMN buyer_id DROP NOT NULL;
ALTER TABLE trades ALTER COLUMN seller_id DROP NOT NULL;
ALTER TABLE trades
    ADD COLUMN market_address          TEXT,
    ADD COLUMN bid_order_id            BIGINT,       -- chain order ids (orders.chain_order_id)
    ADD COLUMN ask_order_id            BIGINT,
    ADD COLUMN buyer_wallet            TEXT,
    ADD COLUMN seller_wallet           TEXT,
    ADD COLUMN value_micro             BIGINT,       -- price * energy / 1000, payment base units
    ADD COLUMN fee_micro               BIGINT,       -- charged to the seller
    ADD COLUMN buyer_improvement_micro BIGINT,       -- left in the bid's escrow, refunded later
    ADD COLUMN slot                    BIGINT;
CREATE INDEX trades_market ON trades (market_address, id);
CREATE INDEX trades_buyer_wallet ON trades (buyer_wallet, id);
CREATE INDEX trades_seller_wallet ON trades (seller_wallet, id);

-- What the matcher submitted and how the chain answered: one row per settle_fills
-- transaction (a refused batch is retried fill by fill, each attempt recorded).
CREATE TABLE match_batches (
    id              BIGSERIAL PRIMARY KEY,
    market_address  TEXT NOT NULL,
    fills           INT NOT NULL CHECK (fills > 0),
    energy_wh       BIGINT NOT NULL CHECK (energy_wh > 0),
    ok              BOOLEAN NOT NULL,
    tx_signature    TEXT,
    error           TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX match_batches_market ON match_batches (market_address, id);
