/*
 * schema.c - the hub's database schema as numbered migrations, applied in order at start
 * (db.c, td__db_migrate). A migration is never edited once it has landed: a change is a new
 * migration. The SQL is the subset SQLite and PostgreSQL share (db.h); times are Unix seconds.
 */
#include "hub/db.h"

static const char m1_accounts[] =
    "CREATE TABLE users (\n"
    "  id @ID@,\n"
    "  username TEXT NOT NULL UNIQUE,\n"
    "  display_name TEXT NOT NULL DEFAULT '',\n"
    "  email TEXT NOT NULL DEFAULT '',\n"
    "  role TEXT NOT NULL CHECK (role IN ('admin', 'instructor', 'learner')),\n"
    "  password_hash TEXT,\n"
    "  disabled BIGINT NOT NULL DEFAULT 0,\n"
    "  created_at BIGINT NOT NULL\n"
    ");\n"
    "CREATE TABLE workers (\n"
    "  id @ID@,\n"
    "  name TEXT NOT NULL UNIQUE,\n"
    "  created_at BIGINT NOT NULL,\n"
    "  last_seen_at BIGINT,\n"
    "  revoked BIGINT NOT NULL DEFAULT 0\n"
    ");\n"
    /* Tokens are stored as SHA-256 of the token: a copy of the database gives no login. */
    "CREATE TABLE tokens (\n"
    "  hash TEXT PRIMARY KEY,\n"
    "  kind TEXT NOT NULL CHECK (kind IN ('session', 'worker', 'device')),\n"
    "  user_id BIGINT REFERENCES users(id),\n"
    "  worker_id BIGINT REFERENCES workers(id),\n"
    "  device_id BIGINT,\n"
    "  csrf TEXT,\n"
    "  created_at BIGINT NOT NULL,\n"
    "  expires_at BIGINT,\n"
    "  last_used_at BIGINT\n"
    ");\n"
    "CREATE INDEX tokens_user ON tokens(user_id);\n"
    "CREATE TABLE rate_limits (\n"
    "  key TEXT PRIMARY KEY,\n"
    "  window_start BIGINT NOT NULL,\n"
    "  count BIGINT NOT NULL\n"
    ");\n";

const td__db_migration td__hub_migrations[] = {
    {1, "accounts", m1_accounts},
};
const int td__hub_migration_count = sizeof(td__hub_migrations) / sizeof(td__hub_migrations[0]);
