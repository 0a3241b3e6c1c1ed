-- Campaign figures are facts as of the event: prices as they were when a
-- purchase happened, and the offer frozen when the campaign was created.

-- Every price a course has had, from when (ms). History starts here: a
-- course's price before this migration is taken as its current one.
-- Ids compare byte by byte, as in the event log (0012), so joins with it
-- can use these tables' indexes.
CREATE TABLE course_prices (
    course_id   TEXT COLLATE "C" NOT NULL,
    from_ms     BIGINT NOT NULL,
    price_cents BIGINT NOT NULL,
    PRIMARY KEY (course_id, from_ms)
);
INSERT INTO course_prices (course_id, from_ms, price_cents) SELECT id, 0, price_cents FROM courses;

-- The courses a campaign offers (the course, or its category's courses),
-- frozen at creation: later catalog edits change no past figure.
CREATE TABLE campaign_offer_courses (
    campaign_id TEXT NOT NULL,
    course_id   TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (campaign_id, course_id)
);
INSERT INTO campaign_offer_courses (campaign_id, course_id)
    SELECT c.id, k.id FROM campaigns c JOIN courses k
    ON k.id = c.course_id OR (c.course_id IS NULL AND lower(k.category) = lower(c.category));

-- The offer's category in lower case, frozen: campaigns overlap when they
-- offer the same category (or a course of it).
ALTER TABLE campaigns ADD COLUMN offer_category TEXT;
UPDATE campaigns SET offer_category = lower(COALESCE(category,
    (SELECT k.category FROM courses k WHERE k.id = campaigns.course_id), ''));
-- `Idempotency-Key` of the request that created it, and a hash of that
-- request's checked body: a replay returns this campaign, another body
-- under the same key is refused.
ALTER TABLE campaigns ADD COLUMN idempotency_key TEXT;
ALTER TABLE campaigns ADD COLUMN request_hash TEXT;
-- Learners left out because they are in the control group of a running
-- campaign for an overlapping offer.
ALTER TABLE campaigns ADD COLUMN held_out_overlap BIGINT NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX campaigns_idempotency_key ON campaigns (idempotency_key);
CREATE INDEX campaigns_ends ON campaigns (ends_ms);
