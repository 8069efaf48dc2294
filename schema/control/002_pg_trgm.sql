-- Trigram indexes let "co" and "ew" filters (emails.value co "@acme.com")
-- use an index. The extension's operator classes live in public; tenant
-- migrations name them as public.gin_trgm_ops. pg_trgm is a trusted
-- extension: a database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
