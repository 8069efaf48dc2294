-- The trigram indexes of 002 take new entries in a small pending list
-- (fastupdate) that is merged into the index in bulk, no longer one entry
-- at a time. 002 turned it off when SCIM wrote one resource at a time;
-- Bulk now writes a run of users in one statement, in which inserting each
-- user's trigrams one by one was most of the statement's time. Measured on
-- a cluster with fsync on (docs/benchmarks.md), 1,000 users in one
-- statement: 422 ms with fastupdate off against 244 ms with it on and a
-- limit of 256 kB. What readers pay is the list they scan besides the
-- index, never more than the limit: a co search on 100,000 users took
-- 0.57 ms of CPU with the list empty, 0.69 ms with it full. The limit
-- bounds it: a backend whose insert finds the list over the limit merges
-- it (so that merge, a few tens of milliseconds, falls in one create out
-- of some hundreds), as autovacuum does. Setting fastupdate locks the
-- index briefly; nothing is rebuilt.
ALTER INDEX users_user_name_trgm_idx SET (fastupdate = on, gin_pending_list_limit = 256);
ALTER INDEX user_emails_value_trgm_idx SET (fastupdate = on, gin_pending_list_limit = 256);
