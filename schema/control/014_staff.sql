-- Staff lifecycle: a disabled account can neither sign in nor use its API
-- keys, and its console sessions end on their next request. It is kept, not
-- deleted, so that the audit trail's "staff:<email>" still names someone.
ALTER TABLE control.staff ADD COLUMN disabled_at timestamptz;
