package postgres

import (
	"context"
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrations[i] takes the schema from version i to i+1; the version is
// kept in schema_version. Steps only add (tables, columns with defaults,
// indexes): the meaning of existing columns never changes, so that nodes
// of the previous release keep working while a new one migrates.
//
// Times are Unix nanoseconds (0 = zero time), as in the SQLite backend, so
// that `youju migrate` copies them unchanged. UIDs and UIDVALIDITY are
// unsigned 32-bit: bigint. Every message query goes through
// mailboxes.account_id, so one account can never reach another's mail.
var migrations = []string{
	// 1: the index and the blobs.
	`CREATE TABLE meta (
	k text PRIMARY KEY,
	v bigint NOT NULL
);

CREATE TABLE domains (
	name    text PRIMARY KEY,
	created bigint NOT NULL
);

CREATE TABLE accounts (
	id            bigserial PRIMARY KEY,
	address       text NOT NULL UNIQUE,
	domain        text NOT NULL,
	password_hash text NOT NULL,
	scram         text NOT NULL DEFAULT '',
	disabled      boolean NOT NULL,
	allow_imap    boolean NOT NULL,
	allow_pop3    boolean NOT NULL,
	allow_smtp    boolean NOT NULL,
	quota_bytes   bigint NOT NULL,
	pop3_scope    text NOT NULL,
	pop3_days     integer NOT NULL,
	pop3_delete   text NOT NULL,
	created       bigint NOT NULL
);
CREATE INDEX accounts_domain ON accounts(domain);

CREATE TABLE aliases (
	address text PRIMARY KEY,
	targets text NOT NULL
);

CREATE TABLE app_passwords (
	id         bigserial PRIMARY KEY,
	account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name       text NOT NULL,
	hash       text NOT NULL,
	scram      text NOT NULL DEFAULT '',
	created    bigint NOT NULL,
	last_used  bigint NOT NULL DEFAULT 0,
	UNIQUE(account_id, name)
);

-- messages, unseen and size are kept by every write so that STATUS never
-- counts rows; an account's used bytes (quota) are the sum of size. The
-- row is also the lock that orders UID assignment between nodes.
CREATE TABLE mailboxes (
	id            bigserial PRIMARY KEY,
	account_id    bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name          text NOT NULL,
	uidvalidity   bigint NOT NULL,
	uidnext       bigint NOT NULL,
	highestmodseq bigint NOT NULL,
	special_use   text NOT NULL DEFAULT '',
	messages      bigint NOT NULL DEFAULT 0,
	unseen        bigint NOT NULL DEFAULT 0,
	size          bigint NOT NULL DEFAULT 0,
	UNIQUE(account_id, name)
);

CREATE TABLE subscriptions (
	account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name       text NOT NULL,
	PRIMARY KEY(account_id, name)
);

-- One row per stored message body, shared by every copy (refcount counts
-- messages and retained rows). info is message.Info.Marshal().
CREATE TABLE blobs (
	id       bigserial PRIMARY KEY,
	size     bigint NOT NULL,
	refcount integer NOT NULL,
	info     bytea NOT NULL
);
CREATE INDEX blobs_dead ON blobs(id) WHERE refcount <= 0;

-- The bytes, in chunks of chunkSize (the last one shorter), so that a
-- partial FETCH reads only the chunks it needs. lz4 where the server has
-- it: text parts of mail compress two to four times at little CPU, which
-- is less to write to the WAL and the disk; a slice of a compressed value
-- is decompressed only up to its end.
CREATE TABLE blob_chunks (
	blob_id bigint NOT NULL REFERENCES blobs(id) ON DELETE CASCADE,
	n       integer NOT NULL,
	data    bytea NOT NULL,
	PRIMARY KEY(blob_id, n)
);
DO $$ BEGIN
	ALTER TABLE blob_chunks ALTER COLUMN data SET COMPRESSION lz4;
EXCEPTION WHEN OTHERS THEN NULL; -- built without lz4: pglz
END $$;

CREATE TABLE messages (
	mailbox_id    bigint NOT NULL,
	uid           bigint NOT NULL,
	modseq        bigint NOT NULL,
	sysflags      smallint NOT NULL,
	keywords      text NOT NULL DEFAULT '',
	internal_date bigint NOT NULL,
	save_date     bigint NOT NULL,
	size          bigint NOT NULL,
	blob_id       bigint NOT NULL,
	PRIMARY KEY(mailbox_id, uid)
);
CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);
CREATE INDEX messages_unseen ON messages(mailbox_id, uid) WHERE sysflags & 1 = 0;
CREATE INDEX messages_keywords ON messages(mailbox_id, keywords) WHERE keywords <> '';

-- Expunged UIDs with the MODSEQ of their expunge (QRESYNC VANISHED,
-- RFC 7162 §3.2.10).
CREATE TABLE tombstones (
	mailbox_id bigint NOT NULL,
	uid        bigint NOT NULL,
	modseq     bigint NOT NULL,
	PRIMARY KEY(mailbox_id, uid)
);
CREATE INDEX tombstones_modseq ON tombstones(mailbox_id, modseq);

-- Messages expunged but still in some IMAP session's view (retain.go).
CREATE TABLE retained (
	mailbox_id    bigint NOT NULL,
	uid           bigint NOT NULL,
	modseq        bigint NOT NULL,
	sysflags      smallint NOT NULL,
	keywords      text NOT NULL DEFAULT '',
	internal_date bigint NOT NULL,
	save_date     bigint NOT NULL,
	size          bigint NOT NULL,
	blob_id       bigint NOT NULL,
	expunged      bigint NOT NULL,
	PRIMARY KEY(mailbox_id, uid)
);
CREATE INDEX retained_expunged ON retained(expunged);

CREATE TABLE known_addresses (
	account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	prefix     text NOT NULL,
	last_ok    bigint NOT NULL,
	PRIMARY KEY (account_id, prefix)
);
CREATE INDEX known_addresses_recent ON known_addresses(account_id, last_ok);

-- The nodes using the store, with a heartbeat: Open drops the retained
-- messages only when no other node is alive (no session survives a
-- restart of the whole cluster, but another node's sessions do survive
-- the restart of one).
CREATE TABLE nodes (
	id        text PRIMARY KEY,
	heartbeat bigint NOT NULL
);`,
	// The outbound queue of the nodes (internal/delivery/queue/pgqueue):
	// state is queue.State as JSON; next_attempt and held are its columns
	// (they override the JSON); a node delivering a message holds it by
	// claimed_by until lease_until (Unix ns by the database's clock).
	`CREATE TABLE IF NOT EXISTS outbound (
	id           text PRIMARY KEY,
	state        text NOT NULL,
	data         bytea NOT NULL,
	sender       text NOT NULL,
	account      text NOT NULL DEFAULT '',
	next_attempt bigint NOT NULL,
	held         boolean NOT NULL DEFAULT false,
	claimed_by   text NOT NULL DEFAULT '',
	lease_until  bigint NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbound_due ON outbound(next_attempt) WHERE NOT held;
CREATE INDEX IF NOT EXISTS outbound_sender ON outbound(sender);
DO $$ BEGIN
	ALTER TABLE outbound ALTER COLUMN data SET COMPRESSION lz4;
EXCEPTION WHEN OTHERS THEN NULL;
END $$;`,
	// Coordination between nodes (coord.go): leases (the POP3 maildrop
	// lock), \Recent floors, login-failure counters.
	coordSchema,
	// Blobs kept outside the database (store.Blobs: files, S3): ext is the
	// external id, and no blob_chunks rows exist for such a blob. When the
	// last reference goes and its row is deleted (by whatever path), the
	// trigger queues ext in blob_trash; the sweeper (extblobs.go) deletes
	// the object, in another transaction, once no row names it.
	`ALTER TABLE blobs ADD COLUMN IF NOT EXISTS ext text;
CREATE INDEX IF NOT EXISTS blobs_ext ON blobs(ext) WHERE ext IS NOT NULL;
CREATE TABLE IF NOT EXISTS blob_trash (
	ext   text PRIMARY KEY,
	added bigint NOT NULL
);
CREATE OR REPLACE FUNCTION blob_trash_ext() RETURNS trigger AS $$
BEGIN
	INSERT INTO blob_trash(ext, added) VALUES (OLD.ext, (extract(epoch FROM clock_timestamp())*1e9)::bigint)
		ON CONFLICT DO NOTHING;
	RETURN NULL;
END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS blobs_trash_ext ON blobs;
CREATE TRIGGER blobs_trash_ext AFTER DELETE ON blobs
	FOR EACH ROW WHEN (OLD.ext IS NOT NULL) EXECUTE FUNCTION blob_trash_ext();`,
	// A chunk row is compressed, then moved out of line when it is still
	// over toast_tuple_target (2 KB by default): a 10 KB text message
	// (lz4: 3-4 KB) cost two TOAST rows and their index entries besides
	// its own. Kept in the row up to 8160 bytes (the largest target),
	// most messages are one heap row and one primary-key entry.
	`ALTER TABLE blob_chunks SET (toast_tuple_target = 8160);`,
	// web sessions and the web sign-in's TOTP (websessions.go).
	webSessionsSchema,
	// External objects being stored (extblobs.go): a row is written
	// before the object's Put (after it, for a store.Blobs that cannot
	// name its objects in advance) and removed by the sweeper once a
	// blobs row names the object; a row an hour old whose object no blobs
	// row names is a crash between Put and the index commit, and its
	// object goes to blob_trash. added is Unix ns by the database's clock.
	`CREATE TABLE IF NOT EXISTS blob_pending (
	ext   text PRIMARY KEY,
	added bigint NOT NULL
);`,
	// The text index of SEARCH (textindex.go).
	textSchema,
	// the state store: Sieve scripts, greylisting, the learning
	// filter, send counters (state.go).
	stateSchema,
	// the admin flag of accounts and the admin API's tokens (apitokens.go).
	apiTokensSchema,
	// The text index's rows change form (bigrams as 16-bit codes, 512
	// buckets outside the body): it is derived data, indexed again from
	// UID 1 (SEARCH scans what is not indexed meanwhile).
	`DELETE FROM text_postings; DELETE FROM text_big; DELETE FROM text_marks;`,
	// blob_chunks is the table of a store.Blobs of its own
	// (internal/blob/pgblobs, blob.go), which may hold blobs no blobs row
	// names (a Put before its index commit): its rows no longer reference
	// blobs. The chunks of a blobs row without ext go with the row, in
	// its transaction, by this trigger, as the cascade did; one statement
	// for all the rows a DELETE removes.
	`ALTER TABLE blob_chunks DROP CONSTRAINT IF EXISTS blob_chunks_blob_id_fkey;
CREATE OR REPLACE FUNCTION blob_chunks_gone() RETURNS trigger AS $$
BEGIN
	DELETE FROM blob_chunks c USING gone g WHERE c.blob_id = g.id AND g.ext IS NULL;
	RETURN NULL;
END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS blobs_chunks_gone ON blobs;
CREATE TRIGGER blobs_chunks_gone AFTER DELETE ON blobs REFERENCING OLD TABLE AS gone
	FOR EACH STATEMENT EXECUTE FUNCTION blob_chunks_gone();`,
}

// lockKey is the advisory lock that serialises migrations of one schema
// between nodes starting at once.
func lockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("youju-migrate:" + schema))
	return int64(h.Sum64())
}

// migrate brings the schema up to date under an advisory lock, each step
// in its own transaction with the version it leads to, so that several
// nodes starting at once migrate once and a failed step is retried whole.
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: schema: %w", err)
	}
	defer conn.Release()
	key := lockKey(schema)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		return fmt.Errorf("postgres: schema lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key)
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (v integer NOT NULL)`); err != nil {
		return fmt.Errorf("postgres: schema: %w", err)
	}
	var v int
	err = conn.QueryRow(ctx, `SELECT v FROM schema_version`).Scan(&v)
	if err == pgx.ErrNoRows {
		if _, err := conn.Exec(ctx, `INSERT INTO schema_version(v) VALUES(0)`); err != nil {
			return fmt.Errorf("postgres: schema: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("postgres: schema: %w", err)
	}
	if v > len(migrations) {
		return fmt.Errorf("postgres: schema version %d is newer than this program (%d)", v, len(migrations))
	}
	for ; v < len(migrations); v++ {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `UPDATE schema_version SET v=$1`, v+1)
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres: schema step to %d: %w", v+1, err)
		}
	}
	return nil
}
