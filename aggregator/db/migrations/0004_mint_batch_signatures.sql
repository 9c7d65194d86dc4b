-- One mint transaction settles several meters, so several batches share its signature.
ALTER TABLE mint_batches DROP CONSTRAINT mint_batches_tx_signature_key;
CREATE INDEX mint_batches_signature ON mint_batches (tx_signature) WHERE tx_signature IS NOT NULL;
