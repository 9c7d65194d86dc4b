-- The mint rule (docs/mint-rule.md): a meter's GRID is its signed export since its
-- first accepted reading. The chain's settled counter is the settled production.
ALTER TABLE chain_meter_totals RENAME COLUMN settled_net_generation_wh TO settled_production_wh;

-- Each meter's first accepted reading (lowest sequence number): the baseline its
-- GRID is measured from. A late reading below it becomes the new baseline.
ALTER TABLE meters
    ADD COLUMN first_seq    BIGINT,
    ADD COLUMN first_ts     TIMESTAMPTZ,
    ADD COLUMN first_imp_wh BIGINT,
    ADD COLUMN first_exp_wh BIGINT;

UPDATE meters m SET first_seq = r.seq, first_ts = r.reading_ts,
                    first_imp_wh = r.imp_wh, first_exp_wh = r.exp_wh
FROM (SELECT DISTINCT ON (meter_id) meter_id, seq, reading_ts, imp_wh, exp_wh
      FROM readings ORDER BY meter_id, seq) r
WHERE m.meter_id = r.meter_id;

-- The meter's rated power (W), registered with it: readings may not move more energy
-- than this over the time between them (the ingest policy's default when NULL).
ALTER TABLE meters ADD COLUMN max_power_w BIGINT CHECK (max_power_w > 0);
