-- Marketing campaigns: the frozen recipient list of each, with the arm every
-- member was drawn into (control members are never exported).

CREATE TABLE campaigns (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    course_id      TEXT,
    category       TEXT,
    audience       TEXT NOT NULL,                -- JSON: the /audiences filters
    discount_pct   DOUBLE PRECISION,
    control_share  DOUBLE PRECISION NOT NULL,
    seed           BIGINT NOT NULL,              -- of the control draw
    model_version  BIGINT NOT NULL,
    created_ms     BIGINT NOT NULL,
    ends_ms        BIGINT NOT NULL
);

CREATE TABLE campaign_members (
    campaign_id  TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    control      BOOLEAN NOT NULL,
    PRIMARY KEY (campaign_id, user_id)
);
-- Erasure removes a learner from every campaign.
CREATE INDEX campaign_members_user ON campaign_members (user_id);
-- The report reads a campaign's purchases and refunds by course and time.
CREATE INDEX events_course_type_ts ON events (course_id, type, ts_ms);
