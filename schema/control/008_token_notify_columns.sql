-- Recording a token's last use is not a change anyone must hear of: the
-- trigger fires only when a token is revoked, expires, is renamed or goes.
DROP TRIGGER tokens_notify ON control.tokens;
CREATE TRIGGER tokens_notify AFTER UPDATE OF tenant_id, name, hash, expires_at, revoked_at OR DELETE ON control.tokens
    FOR EACH ROW EXECUTE FUNCTION control.notify_tenant_change('tenant_id');
