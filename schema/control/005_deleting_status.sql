-- A tenant being deleted is first marked 'deleting', which stops its SCIM
-- traffic everywhere at once; its schema is dropped after. A delete that
-- was interrupted leaves the mark, and running it again finishes the job.
ALTER TABLE control.tenants DROP CONSTRAINT tenants_status_check;
ALTER TABLE control.tenants ADD CONSTRAINT tenants_status_check
    CHECK (status IN ('active', 'suspended', 'deleting'));
