-- Campaigns with several offers: the arms (JSON [{name, discount_pct,
-- share}], NULL for one arm at the campaign's discount), how the audience
-- was ranked, and the budget that capped it; per member, the treated arm
-- (NULL for control) and the place in the targeting order (NULL for
-- campaigns created before this migration), which the Qini curve reads.
ALTER TABLE campaigns ADD COLUMN arms TEXT;
ALTER TABLE campaigns ADD COLUMN targeting TEXT NOT NULL DEFAULT 'propensity';
ALTER TABLE campaigns ADD COLUMN budget_cents BIGINT;
ALTER TABLE campaign_members ADD COLUMN arm INTEGER;
ALTER TABLE campaign_members ADD COLUMN list_rank INTEGER;
UPDATE campaign_members SET arm = 0 WHERE NOT control;
