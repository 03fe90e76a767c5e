"""audit_append(): lock, read the predecessor's hash and insert, in one call.

A function, so that an append outside a transaction is one round trip: its
statements run in the implicit transaction of the call, and each takes a new
snapshot, so the predecessor is read after the lock is held (a single
INSERT ... SELECT would read it with the snapshot taken before waiting).
"""

from django.db import migrations

GENESIS_HASH = "0" * 64

CREATE = f"""
CREATE OR REPLACE FUNCTION audit_append(
    p_created_at timestamptz,
    p_actor_id bigint,
    p_actor text,
    p_action text,
    p_outcome text,
    p_request_id text,
    p_client_ip inet,
    p_details jsonb,
    p_digest text,
    p_relax_commit boolean
) RETURNS TABLE (new_id bigint, new_previous_hash text, new_entry_hash text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_previous text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('audit:' || current_schema()));
    IF p_relax_commit THEN
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
    SELECT a.entry_hash INTO v_previous
        FROM audit_auditentry a ORDER BY a.id DESC LIMIT 1;
    v_previous := coalesce(v_previous, '{GENESIS_HASH}');
    RETURN QUERY
    INSERT INTO audit_auditentry AS a (
        created_at, actor_id, actor, action, outcome, request_id, client_ip,
        details, previous_hash, entry_hash
    ) VALUES (
        p_created_at, p_actor_id, p_actor, p_action, p_outcome, p_request_id,
        p_client_ip, p_details, v_previous,
        encode(sha256(convert_to(v_previous || p_digest, 'UTF8')), 'hex')
    )
    RETURNING a.id, a.previous_hash::text, a.entry_hash::text;
END;
$$;
"""

DROP = "DROP FUNCTION IF EXISTS audit_append(timestamptz, bigint, text, text, text, text, inet, jsonb, text, boolean);"


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_audit_settings")]

    operations = [migrations.RunSQL(CREATE, DROP)]
