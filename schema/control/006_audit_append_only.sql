-- The control plane's audit trail is append-only too.
CREATE FUNCTION control.audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON control.audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION control.audit_events_append_only();
