-- Marketing campaigns: the frozen recipient list of each, with the arm every
-- member was drawn into (control members are never exported).

CREATE TABLE campaigns (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    course_id      TEXT,
    category       TEXT,
    audience       TEXT NOT NULL,                -- JSON: the /audiences filters
    discount_pct   REAL,
    control_share  REAL NOT NULL,
    seed           INTEGER NOT NULL,              -- of the control draw
    model_version  INTEGER NOT NULL,
    created_ms     INTEGER NOT NULL,
    ends_ms        INTEGER NOT NULL
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
