-- Indexes for a wallet's history and statement (aggregator/portfolio/repository.py): each
-- branch of the history query finds the wallet's rows by an index instead of reading every
-- event, batch and trade. (A refund's order is found by the unique constraint
-- orders_market_order, fills and fees by trades_buyer_wallet / trades_seller_wallet.)

-- Mints: a wallet's meters' confirmed batches that minted something, by time.
CREATE INDEX IF NOT EXISTS mint_batches_confirmed ON mint_batches (meter_id, updated_at)
    WHERE state = 'confirmed' AND minted_wh > 0;

-- Refunds (trading: OrderCancelled/Expired/Closed, ImprovementRefunded) and certificates
-- issued or retired: events naming the wallet as their owner.
CREATE INDEX IF NOT EXISTS chain_events_owner ON chain_events ((data ->> 'owner'), id)
    WHERE data ? 'owner';

-- Certificates transferred: by sender and by receiver.
CREATE INDEX IF NOT EXISTS chain_events_transfer_from ON chain_events ((data ->> 'from'), id)
    WHERE program = 'certificates' AND name = 'CertificateTransferred';
CREATE INDEX IF NOT EXISTS chain_events_transfer_to ON chain_events ((data ->> 'to'), id)
    WHERE program = 'certificates' AND name = 'CertificateTransferred';
