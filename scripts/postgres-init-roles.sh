#!/bin/sh
# First start of the postgres service (docker-entrypoint-initdb.d): the two roles of the app,
# neither a superuser. tracker_owner owns the database and, through migrate, its tables;
# tracker_app is what web, worker and beat connect as and gets its privileges from
# `manage.py grant_runtime_role tracker_app` (run by the grant-runtime-role service).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v owner_password="$POSTGRES_OWNER_PASSWORD" -v app_password="$POSTGRES_APP_PASSWORD" <<'SQL'
CREATE ROLE tracker_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS
    PASSWORD :'owner_password';
CREATE ROLE tracker_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS
    PASSWORD :'app_password';
ALTER DATABASE tracker OWNER TO tracker_owner;
ALTER SCHEMA public OWNER TO tracker_owner;
REVOKE ALL ON DATABASE tracker FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE tracker TO tracker_owner;
GRANT CONNECT ON DATABASE tracker TO tracker_app;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
